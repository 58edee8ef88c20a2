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
    """Raise `InputError` with one line about the first problem (in document order)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    if errors:
        raise InputError(f"{where}: {describe(errors[0])}")


def describe(error: jsonschema.ValidationError) -> str:
    """The key path, what is wrong and what would be right."""
    key = ".".join(str(p) for p in error.absolute_path)
    at = f"{key}: " if key else ""
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        name = unknown[0]
        place = f"in {key}" if key else "at the top level"
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(allowed)}"
        return f"unknown key {name!r} {place}{hint}"
    if error.validator == "required":
        return f"{at}{error.message}"
    if error.validator == "enum":
        return f"{at}{error.instance!r} is not one of {error.validator_value}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{at}{error.instance!r} is not of type {expected}"
    if error.validator == "minLength" and error.instance == "":
        return f"{at}is empty"
    return f"{at}{error.message}"
