"""Load and validate the pipeline configuration against its JSON schema.

The schema ships inside the package (``convergence/schemas/config.schema.yaml``, read
with :mod:`importlib.resources`, so an installed wheel finds it; the workflow's
``workflow/schemas/config.schema.yaml`` is a link to it). It is strict: every level has
``additionalProperties: false`` so a misspelt key fails at start-up with its path
instead of later as a missing file. Defaults from the schema are filled in, and
:func:`schema_default` gives code outside the validated config the same defaults.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from convergence.errors import ConfigError

#: The config schema, package data of ``convergence`` (a file in a wheel or a source tree).
SCHEMA_RESOURCE: Traversable = resources.files("convergence") / "schemas" / "config.schema.yaml"


def _key_path(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _fill_defaults(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    """Insert schema defaults for missing keys, recursively (objects only)."""
    if "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in ref:
            target = target[part]
        schema = target
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def load_schema(path: Path | Traversable = SCHEMA_RESOURCE) -> dict[str, Any]:
    """Read the YAML JSON-schema (the package's own unless ``path`` is given)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def _package_schema() -> dict[str, Any]:
    return load_schema()


def schema_default(pointer: str) -> Any:
    """Default of one key of the package's schema, by dotted path.

    ``"training.batch_size"`` is a top-level section's key; ``"$defs.model.dropout"`` a
    key of a shared definition. Raises :class:`KeyError` for a key without a default.
    The schema is read once per process; each call returns a fresh copy.
    """
    node: Any = _package_schema()
    parts = pointer.split(".")
    if parts[0] == "$defs":
        node, parts = node["$defs"][parts[1]], parts[2:]
    for part in parts:
        node = node["properties"][part]
    if "default" not in node:
        raise KeyError(f"config schema key {pointer!r} has no default")
    return copy.deepcopy(node["default"])


def _coerce_command_line_values(config: dict[str, Any]) -> dict[str, Any]:
    """Turn digit strings in ``seeds`` into integers.

    ``snakemake --config seeds=[0]`` passes the list's items as text (``['0']``), which
    the schema would reject as "'0' is not of type 'integer'". Only strings of digits are
    converted (``seeds=[0,3]`` works); anything else is left for the schema to report.
    A single seed given without brackets (``seeds=0``, an integer) becomes ``[0]``.
    """
    seeds = config.get("seeds")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        config["seeds"] = [seeds]
    elif isinstance(seeds, list):
        config["seeds"] = [
            int(seed) if isinstance(seed, str) and seed.strip().isdigit() else seed
            for seed in seeds
        ]
    return config


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict:
    """Validate ``config`` and return a copy with schema defaults filled in.

    Digit strings in ``seeds`` become integers first (see
    :func:`_coerce_command_line_values`: ``--config seeds=[0]`` works).

    Raises
    ------
    ConfigError
        Naming the dotted key path of the first problem found (the most specific one).
    """
    schema = load_schema() if schema is None else schema
    instance = _coerce_command_line_values(copy.deepcopy(dict(config)))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), e.message))
    if errors:
        # Report every problem (a misspelt key shows up twice: as unknown and as missing).
        best = jsonschema.exceptions.best_match(errors)
        others = [f"{_key_path(e.absolute_path)}: {e.message}" for e in errors[:6] if e is not best]
        detail = best.message + "".join(f"; also {o}" for o in others)
        raise ConfigError(_key_path(best.absolute_path), detail)
    _fill_defaults(instance, schema, schema)
    _check_cross_references(instance)
    return instance


def _check_cross_references(config: Mapping[str, Any]) -> None:
    """Checks a JSON schema cannot express."""
    for name, spec in config["datasets"].items():
        seen: dict[str, str] = {}
        for subsystem, indicators in spec["subsystems"].items():
            for indicator in indicators:
                if indicator in seen:
                    raise ConfigError(
                        f"datasets.{name}.subsystems.{subsystem}",
                        f"indicator {indicator!r} is already in subsystem {seen[indicator]!r}",
                    )
                seen[indicator] = subsystem
    for index, model in enumerate(config.get("train_models", [])):
        if model not in config.get("models", {}):
            raise ConfigError(
                f"train_models[{index}]",
                f"unknown model {model!r}; defined models: {sorted(config.get('models', {}))}",
            )
    train_models = list(config.get("train_models", []))
    evaluation = config.get("evaluation", {})
    reference = evaluation.get("reference")
    if train_models and reference not in train_models:
        raise ConfigError(
            "evaluation.reference",
            f"{reference!r} is not in train_models {train_models}; the baselines, the "
            "evaluation and the scenarios compare against it and would be left out of the run",
        )
    for dataset, items in (evaluation.get("scenarios") or {}).items():
        if dataset not in config["datasets"]:
            raise ConfigError(
                f"evaluation.scenarios.{dataset}",
                f"unknown data set {dataset!r}; data sets: {sorted(config['datasets'])}",
            )
        spec = config["datasets"][dataset]
        valid = [ind for members in spec["subsystems"].values() for ind in members]
        for index, item in enumerate(items):
            if item.get("indicator") not in valid:
                raise ConfigError(
                    f"evaluation.scenarios.{dataset}[{index}].indicator",
                    f"unknown indicator {item.get('indicator')!r}; a scenario scales a "
                    f"subsystem indicator of {dataset!r}: {valid}",
                )
    weights = config.get("measures", {}).get("subsystem_weights")
    if weights:
        for name, spec in config["datasets"].items():
            missing = set(spec["subsystems"]) - set(weights)
            if missing:
                raise ConfigError(
                    "measures.subsystem_weights",
                    f"no weight for subsystem(s) {sorted(missing)} of data set {name!r}",
                )


def training_config(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """Training settings of one data set: global ``training`` with its ``forecast`` overrides."""
    merged = dict(config["training"])
    merged.update(config["datasets"][dataset].get("forecast", {}))
    return merged


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "config file not found")
    with open(path, encoding="utf-8") as handle:
        return validate_config(yaml.safe_load(handle) or {})


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON form of a (sub-)config, for provenance tags."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_results_dir(config: Mapping[str, Any], root: Path, workdir: Path) -> None:
    """Refuse a ``results_dir`` that mixes generated files with the inputs: one inside the
    project's ``data/`` folder, or one that contains (or is the folder of) a data set's file.
    As the rules resolve them, data paths are relative to ``root`` (the workflow's folder)
    and ``results_dir`` to ``workdir`` (Snakemake's working directory). A results folder
    *beside* a data file (a project folder holding ``my.csv`` and ``results/``) is fine.

    Raises
    ------
    ConfigError
        Naming ``results_dir`` and the data folder or data set involved.
    """
    results = (workdir / str(config["results_dir"])).resolve()
    data_root = (root / "data").resolve()
    if results == data_root or data_root in results.parents:
        raise ConfigError(
            "results_dir",
            f"{results} lies in the project's data folder {data_root}: results would sit "
            "among the inputs; choose a folder outside it",
        )
    for name, spec in config.get("datasets", {}).items():
        if "path" not in spec:
            continue
        data_file = (root / str(spec["path"])).resolve()
        if results in data_file.parents:
            raise ConfigError(
                "results_dir",
                f"{results} contains the input data of datasets.{name} ({data_file}); "
                "choose a folder that holds no data file",
            )
