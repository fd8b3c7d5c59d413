"""The config schema documents every key, and every shipped config validates against it."""

import jsonschema
import pytest
import yaml
from conftest import REPO

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
CONFIGS = ["config/config.yaml", "config/paper/s1-32b.yaml", "config/paper/s1.1-32b.yaml",
           "tests/configs/realdata.yaml"]


def resolve(node):
    """A node with its $ref (into the schema's definitions) merged in."""
    if "$ref" in node:
        target = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def walk(node, path="config"):
    node = resolve(node)
    yield path, node
    for key, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.<name>")
    for k, alt in enumerate(node.get("oneOf") or []):
        yield from walk(alt, f"{path}|{k}")


def test_every_key_has_description_and_default():
    for path, node in walk(SCHEMA):
        assert node.get("description"), f"{path} has no description"
        if path != "config" and not path.endswith(("[]", "|0", "|1")):
            assert "default" in node, f"{path} has no default"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} must reject unknown keys"


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_validate(name):
    jsonschema.validate(yaml.safe_load((REPO / name).read_text()), SCHEMA)


def test_defaults_validate_against_their_own_schema():
    for path, node in walk(SCHEMA):
        if "default" in node and path != "config":
            sub = {k: v for k, v in node.items() if k != "default"}
            jsonschema.validate(node["default"], {**sub, "definitions": SCHEMA["definitions"]}), path


def test_unknown_key_is_an_error():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["features"]["tokeniser"] = {}
    with pytest.raises(jsonschema.ValidationError, match="tokeniser"):
        jsonschema.validate(cfg, SCHEMA)
