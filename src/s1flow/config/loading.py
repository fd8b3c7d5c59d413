"""Reading a workflow config: YAML in, every default from ``config/schema.yaml`` filled, every key checked.

The schema is the one source of truth for a key's type, range and default: the workflow
(``workflow/rules/common.smk``) and the command line both load configs through
:func:`validated`, which validates with the same JSON-schema machinery Snakemake's
``validate`` uses and fills defaults the same way (a key's default is set before its
section is checked, so nested defaults appear too).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import validators

from s1flow.errors import ConfigError, InputFileError

#: the schema every config is checked against (the repository's config/schema.yaml)
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "config" / "schema.yaml"
#: where each key is documented, for error messages
DOCS = "config/README.md and config/schema.yaml"


@cache
def schema() -> dict:
    """The config schema (read once)."""
    if not SCHEMA_FILE.is_file():
        raise ConfigError(f"{SCHEMA_FILE}: the config schema is missing; s1flow reads it from the repository "
                          "(install with `pip install -e .` from a clone)")
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


def schema_node(key: str) -> dict:
    """The schema's rule for a dotted key, e.g. ``selection.uniform_fraction`` (references resolved);
    ``[]`` after a name steps into a list's items, e.g. ``sources[].name``."""
    node: Mapping[str, Any] = schema()
    for part in key.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
        if "$ref" in node:
            node = {**schema()["definitions"][node["$ref"].rsplit("/", 1)[-1]], **node}
    return dict(node)


def schema_default(key: str) -> Any:
    """The schema's default of a dotted key, e.g. ``selection.uniform_fraction``."""
    return copy.deepcopy(schema_node(key)["default"])


#: integers a config holds fit in 64 bits (larger ones overflow every array and engine they reach)
INT_LIMIT = 2**63


def _check_numbers(value: Any, path: list) -> None:
    """Raise ConfigError for a non-finite float (NaN passes every range check) or an integer beyond 64 bits."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_numbers(v, [*path, k])
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_numbers(v, [*path, i])
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{_key(iter(path))}': expected a finite number, got {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT_LIMIT:
        raise ConfigError(f"config key '{_key(iter(path))}': expected an integer below 2**63, got {_short(value)}")


def check_value(key: str, value: Any, *, item: bool = False) -> Any:
    """`value` checked against the schema's rule for `key` (`item`: one item of that list); returns it.

    The command line checks its arguments with this, so a quantity has one valid range, the one
    the config schema states. Raises ConfigError: what was expected and what was found.
    """
    node = schema_node(key)
    if item:
        node = node["items"]
    node = {k: v for k, v in node.items() if k != "default"}
    try:
        _check_numbers(value, [])
    except ConfigError as exc:
        raise ConfigError(f"{str(exc).split(': ', 1)[1]} (the range of config key '{key}')") from None
    error = jsonschema.exceptions.best_match(validators.validator_for(node)(node).iter_errors(value))
    if error is not None:
        message = _message(error).split(": ", 1)[1]
        raise ConfigError(f"{message} (the range of config key '{key}')")
    return value


def _with_defaults(validator_class: type) -> type:
    """A validator class that sets each property's default before validating it (as Snakemake's ``validate``)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema) -> Iterator:
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _key(path: Iterator[Any]) -> str:
    """``['evaluation', 'caps', 0]`` -> ``evaluation.caps[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    """One readable line for a schema error: the key, what was expected, what was found."""
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties") or {})
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        where = "top level" if key == "(top level)" else f"'{key}'"
        return f"config key {where}: unknown key(s) {unknown}; allowed: {allowed} (documented in {DOCS})"
    if error.validator == "oneOf":
        return f"config key '{key}': {_short(error.instance)} matches none of the forms described in {DOCS}"
    expected = {
        "type": lambda: f"expected {error.validator_value}",
        "enum": lambda: f"expected one of {error.validator_value}",
        "minimum": lambda: f"expected >= {error.validator_value}",
        "exclusiveMinimum": lambda: f"expected > {error.validator_value}",
        "maximum": lambda: f"expected <= {error.validator_value}",
        "minItems": lambda: f"expected at least {error.validator_value} item(s)",
        "uniqueItems": lambda: "expected distinct items",
        "required": lambda: f"missing required key(s): {error.message}",
        "pattern": lambda: f"expected text matching {error.validator_value!r}",
    }.get(error.validator)
    if expected is None:
        return f"config key '{key}': {error.message}"
    return f"config key '{key}': {expected()}, got {_short(error.instance)}"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validated(config: Mapping[str, Any]) -> dict:
    """A copy of `config` checked against the schema, with every default filled.

    Raises ConfigError naming the key (the most specific error the schema finds)."""
    cls = validators.validator_for(schema())
    data = copy.deepcopy(dict(config))
    _check_numbers(data, [])
    validator = _with_defaults(cls)(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise ConfigError(_message(error))
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML mapping from a file (an empty file is an empty mapping); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: unreadable config file: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise InputFileError(f"{where}: not valid YAML: {what}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: the config must be a YAML mapping, got {type(data).__name__}")
    return data


def load_config(path: str | os.PathLike) -> dict:
    """A config file, validated, with every default filled; errors name the file and the key."""
    try:
        return validated(read_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
