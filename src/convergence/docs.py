"""Generate the configuration reference of the documentation from the config schema.

The schema (``convergence/schemas/config.schema.yaml``) is the one home of every key's
type, default, allowed values and description; :func:`configuration_reference` turns it
into Markdown tables, one per top-level section and one per ``$defs`` entry (data set,
model), so the page in ``docs/reference/configuration.md`` cannot drift from it
(``tests/unit/test_docs.py`` compares the two). Regenerate with::

    python -m convergence.docs --output docs/reference/configuration.md
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.config import load_schema

#: The command that rewrites the committed page (named in the page and in the drift test).
REGENERATE = "python -m convergence.docs --output docs/reference/configuration.md"

#: Headings (and anchors) of the ``$defs`` entries that get their own table.
DEFS_TITLES: dict[str, str] = {
    "dataset": "Data set entry",
    "model": "Model entry",
}

_BOUNDS: tuple[tuple[str, str], ...] = (
    ("minimum", "≥"),
    ("exclusiveMinimum", ">"),
    ("maximum", "≤"),
    ("exclusiveMaximum", "<"),
)


def _anchor(title: str) -> str:
    return "-".join(title.lower().split())


def _cell(text: str) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: Any) -> str:
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def _ref_link(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1]
    title = DEFS_TITLES.get(name)
    return f"[{name}](#{_anchor(title)})" if title else f"`{name}`"


def _type(node: Mapping[str, Any]) -> str:
    """Readable JSON type of a schema node (``$ref`` as a link, enums by value type)."""
    if "$ref" in node:
        return _ref_link(node["$ref"])
    declared = node.get("type")
    if declared is None and "enum" in node:
        kinds = sorted({type(v).__name__ for v in node["enum"]})
        declared = ["string" if k == "str" else k for k in kinds]
    if declared is None:
        return ""
    names = [declared] if isinstance(declared, str) else list(declared)
    text = " or ".join(names)
    items = node.get("items")
    if "array" in names and isinstance(items, Mapping) and _type(items):
        text += f" of {_type(items)}"
    extra = node.get("additionalProperties")
    if "object" in names and isinstance(extra, Mapping) and "properties" not in node:
        inner = _type(extra)
        if inner:
            text += f" of {inner}"
    return text


def _allowed(node: Mapping[str, Any]) -> str:
    """Enum values, bounds, patterns and sizes of a schema node."""
    parts: list[str] = []
    if "enum" in node:
        parts.append(", ".join(_code(v) for v in node["enum"]))
    parts.extend(f"{sign} {node[key]}" for key, sign in _BOUNDS if key in node)
    items = node.get("items")
    if isinstance(items, Mapping):
        inner = _allowed(items)
        if inner:
            parts.append(f"each: {inner}")
    for key, label in (("minItems", "at least {} items"), ("minProperties", "at least {} keys")):
        if key in node:
            parts.append(label.format(node[key]))
    if node.get("uniqueItems"):
        parts.append("unique")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    names = node.get("propertyNames")
    if isinstance(names, Mapping) and "pattern" in names:
        parts.append(f"names match `{names['pattern']}`")
    return "; ".join(parts)


def _default(node: Mapping[str, Any]) -> str:
    return _code(node["default"]) if "default" in node else ""


def _rows(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(key path, schema node) for every key below ``node``, depth first, in schema order.

    Free-form maps (``additionalProperties`` with a schema of its own) appear as
    ``<name>``; array items with properties as ``[]``.
    """
    required = set(node.get("required", ()))
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        if key in required:
            sub = {**sub, "_required": True}
        yield path, sub
        yield from _rows(sub, path)
        items = sub.get("items")
        if isinstance(items, Mapping) and "properties" in items:
            yield from _rows(items, f"{path}[]")
        extra = sub.get("additionalProperties")
        if isinstance(extra, Mapping) and "properties" in extra:
            yield from _rows(extra, f"{path}.<name>")


def _table(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    lines = [
        "| Key | Type | Default | Allowed | Description |",
        "|---|---|---|---|---|",
    ]
    for path, node in rows:
        description = node.get("description", "")
        if node.get("_required"):
            description = f"**Required.** {description}"
        cells = (f"`{path}`", _type(node), _default(node), _allowed(node), description)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def configuration_reference(schema: Mapping[str, Any]) -> str:
    """Markdown reference of every key of the config ``schema``.

    One table of the top-level scalar keys, one per top-level section (an object with
    ``properties``: ``training``, ``selection``, ...) and one per ``$defs`` entry named in
    :data:`DEFS_TITLES`; each row gives the key path, type, default, allowed values
    (enum, bounds, patterns) and description. Keys without a schema default (the
    ``convergence_tests`` sub-sections) take theirs from the settings dataclasses and show
    an empty default.
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    sections = [k for k, v in properties.items() if "properties" in v]
    required = set(schema.get("required", ()))
    top = [
        (k, {**v, "_required": True} if k in required else v)
        for k, v in properties.items()
        if k not in sections
    ]
    out = [
        "# Configuration reference",
        "",
        f"<!-- Generated from src/convergence/schemas/config.schema.yaml by `{REGENERATE}`;"
        " do not edit by hand. -->",
        "",
        _cell(schema.get("description", "")),
        "",
        "A config file (`config.yaml`, or your own passed with `CONVERGENCE_CONFIG`) is"
        " validated against this schema before any job runs; missing optional keys take the"
        " default shown. Key paths are dotted; `<name>` stands for a name you choose and"
        " `[]` for each item of a list.",
        "",
        "## Top level",
        "",
        *_table(top),
    ]
    for name in sections:
        node = properties[name]
        out += ["", f"## `{name}`", "", _cell(node.get("description", "")), ""]
        out += _table([(name, node), *_rows(node, name)])
    defs: Mapping[str, Any] = schema.get("$defs", {})
    for name, title in DEFS_TITLES.items():
        if name not in defs:
            continue
        node = defs[name]
        where = "datasets.<name>" if name == "dataset" else "models.<name>"
        out += ["", f"## {title}", "", f"Each entry of `{where}` (`$defs/{name}`)."]
        if node.get("description"):
            out[-1] += " " + _cell(node["description"])
        out += [""] + _table(list(_rows(node, "")))
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Write the configuration reference (``--output``) or print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="Markdown file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = configuration_reference(load_schema())
    if args.output is None:
        print(text, end="")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
