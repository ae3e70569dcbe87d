"""One truth for defaults: ``config.yaml`` departs from the schema only where it says so.

Every value in ``config.yaml`` that has a schema default (top-level keys, nested sections,
and each ``datasets.<name>`` and ``models.<name>`` entry against ``$defs``) must either equal
that default or carry ``# override: <why>`` on one of its lines. A user who writes their
own config from the schema then knows which choices of the default run they did not copy.

Keys whose default is an empty placeholder (``""``, ``[]``, ``{}``: description, source,
licence, reader options, the model list, the scenario table) hold content, not a changed
default, and need no mark. A value inherited through a YAML merge key (``<<: *cnn_lstm``)
is checked on the line where it is written, so the anchor's mark covers every copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from convergence.config import load_schema

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config.yaml"
MARK = "# override:"
EMPTY: tuple[Any, ...] = ("", [], {})

Path_ = tuple[str, ...]


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return node
    return schema


def differing_values(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: Path_ = ()
) -> Iterator[tuple[Path_, Any, Any]]:
    """``(path, value, default)`` of every value that differs from its schema default."""
    schema = _resolve(schema, root)
    if not isinstance(value, dict):
        return
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            sub = _resolve(properties[key], root)
        elif isinstance(extra, dict):
            sub = _resolve(extra, root)
        else:
            continue  # the schema test reports unknown keys
        described = "properties" in sub or isinstance(sub.get("additionalProperties"), dict)
        if isinstance(item, dict) and described:
            yield from differing_values(item, sub, root, (*path, str(key)))
        elif "default" in sub and sub["default"] not in EMPTY and item != sub["default"]:
            yield (*path, str(key)), item, sub["default"]


def _pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """Key and value nodes of a mapping, merge keys first (explicit keys win)."""
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    own: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                merged.extend(_pairs(source))
        else:
            own.append((key, value))
    yield from merged
    yield from own


def value_lines(node: yaml.Node, path: Path_ = ()) -> dict[Path_, range]:
    """Lines (0-based) from each key to the end of its value, by key path."""
    lines: dict[Path_, range] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in _pairs(node):
            end = value.end_mark.line - (1 if value.end_mark.column == 0 else 0)
            sub_path = (*path, str(key.value))
            lines[sub_path] = range(key.start_mark.line, max(end, key.start_mark.line) + 1)
            lines.update(value_lines(value, sub_path))
    return lines


def unmarked_overrides(text: str, schema: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """Dotted keys that differ from the schema without a mark, and 1-based lines whose
    mark covers no differing value (stale marks)."""
    config = yaml.safe_load(text)
    source = text.splitlines()
    lines = value_lines(yaml.compose(text))
    marked = {i for i, line in enumerate(source) if MARK in line}
    used: set[int] = set()
    missing = []
    for path, value, default in differing_values(config, schema, schema):
        span = set(lines[path])
        if span & marked:
            used |= span & marked
        else:
            missing.append(f"{'.'.join(path)} = {value!r} (schema default {default!r})")
    return missing, sorted(i + 1 for i in marked - used)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema()


def test_config_overrides_are_marked(schema: dict[str, Any]) -> None:
    missing, stale = unmarked_overrides(CONFIG.read_text(encoding="utf-8"), schema)
    assert not missing, (
        f"config.yaml differs from the schema default without '{MARK} <why>' on its line: "
        + "; ".join(missing)
    )
    assert not stale, f"config.yaml lines {stale} mark an override of a value equal to its default"


def test_known_overrides_are_found(schema: dict[str, Any]) -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    found = {".".join(path) for path, _, _ in differing_values(config, schema, schema)}
    assert {
        "training.batch_size",
        "training.learning_rate",
        "training.target_headroom",
        "selection.enabled",
        "seeds",
        "models.cnn_lstm.penalty",
        "models.lstm.skip",
        "datasets.ggdc.entities_min_periods",
    } <= found


def test_unmarked_override_fails_naming_the_key(schema: dict[str, Any]) -> None:
    text = (
        "datasets:\n"
        "  toy: {reader: synthetic, frequency: annual, subsystems: {a: {x: benefit}, b: {y: cost}}}\n"
        "training:\n"
        "  batch_size: 128\n"
        "  window: 8\n"
        "base: &base\n"
        "  architecture: mlp\n"
        "  dropout: 0.3   # override: inherited below\n"
    )
    text = text.replace("base: &base", "models:\n  m1: &base").replace(
        "  architecture: mlp\n  dropout", "    architecture: mlp\n    dropout"
    )
    text += "  m2: {<<: *base, norm: none}\n"
    missing, stale = unmarked_overrides(text, schema)
    assert [m.split(" ")[0] for m in missing] == ["training.batch_size", "models.m2.norm"]
    assert stale == []
    marked = text.replace("batch_size: 128", "batch_size: 128  # override: test").replace(
        "window: 8", "window: 8  # override: not one"
    )
    missing, stale = unmarked_overrides(marked, schema)
    assert [m.split(" ")[0] for m in missing] == ["models.m2.norm"]
    assert stale == [5]
