"""One-line messages for a config or sheet row that breaks its JSON schema.

Snakemake's own `validate` prints the schema it failed against (hundreds of lines for a
top-level typo). A user needs the key, where it sits and what was expected, so the workflow
checks with this first and lets `validate` fill the defaults afterwards.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeio.errors import InputError


def load_schema(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def check_schema(instance: Any, schema: Mapping[str, Any], where: str) -> None:
    """Raise `InputError` with one line about the first problem in document order: the
    order of the keys as the config (or row) lists them, a missing key after the keys
    present at its level."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: _position(e, instance))
    if errors:
        raise InputError(f"{where}: {describe(errors[0])}")


def _position(error: jsonschema.ValidationError, instance: Any) -> list[int]:
    """Where the error sits in the document: the index of each key (or list item) on its
    path, then, for an unknown key, that key's index, and for a missing one, the end."""
    place, node = [], instance
    for step in error.absolute_path:
        if isinstance(node, Mapping):
            place.append(list(node).index(step) if step in node else len(node))
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int):
            place.append(step)
            node = node[step] if step < len(node) else None
        else:
            place.append(0)
    if isinstance(node, Mapping):
        if error.validator == "additionalProperties":
            allowed = error.schema.get("properties", {})
            place.append(next((i for i, k in enumerate(node) if k not in allowed), len(node)))
        elif error.validator == "required":
            place.append(len(node))
    return place


def _yaml(value: Any) -> str:
    """A value as the YAML file spells it: null, true/false, quoted text, lists of them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def describe(error: jsonschema.ValidationError) -> str:
    """The key path, what is wrong and what would be right."""
    key = ".".join(str(p) for p in error.absolute_path)
    at = f"{key}: " if key else ""
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        name = next(k for k in error.instance if k not in allowed)  # the first in the file
        place = f"in {key}" if key else "at the top level"
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(allowed)}"
        return f"unknown key {name!r} {place}{hint}"
    if error.validator == "enum":
        return f"{at}{_yaml(error.instance)} is not one of {_yaml(error.validator_value)}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{at}{_yaml(error.instance)} is not of type {expected}"
    if error.validator == "pattern" and "description" in error.schema:
        # the schema's words for what is allowed, not its regular expression
        return f"{at}{_yaml(error.instance)} is not allowed: {error.schema['description']}"
    if error.validator == "minLength" and error.instance == "":
        return f"{at}is empty"
    return f"{at}{error.message}"  # required: "'<key>' is a required property"
