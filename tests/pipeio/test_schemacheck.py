"""One-line schema messages: each branch of `describe`, the first problem in document order,
and values spelled as YAML spells them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeio import InputError
from pipeio.schemacheck import check_schema, load_schema

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["results"],
    "properties": {
        "results": {"type": "string", "minLength": 1},
        "mode": {"enum": ["fast", "exact", None]},
        "seed": {"type": ["integer", "null"]},
        "inference": {
            "type": "object",
            "additionalProperties": False,
            "required": ["window_s"],
            "properties": {"window_s": {"type": "number"}, "hop_s": {"type": "number"}},
        },
        "limit": {"type": "integer", "minimum": 1},
    },
}


def message(instance) -> str:
    with pytest.raises(InputError) as err:
        check_schema(instance, SCHEMA, "config")
    return str(err.value)


def test_a_valid_config_passes():
    check_schema({"results": "r", "mode": None, "seed": None,
                  "inference": {"window_s": 2}}, SCHEMA, "config")


@pytest.mark.parametrize(("instance", "expected"), [
    ({"results": "r", "mode": "quick"}, "config: mode: 'quick' is not one of "
                                        "['fast', 'exact', null]"),
    ({"results": "r", "mode": True}, "config: mode: true is not one of ['fast', 'exact', null]"),
    ({"results": "r", "seed": "7"}, "config: seed: '7' is not of type integer or null"),
    ({"results": None}, "config: results: null is not of type string"),
    ({"results": "r", "inference": {"window_s": False}},
     "config: inference.window_s: false is not of type number"),
    ({"results": "r", "inference": [1, None]},
     "config: inference: [1, null] is not of type object"),
    ({"results": {"dir": None, "keep": True}},
     "config: results: {'dir': null, 'keep': true} is not of type string"),
    ({"mode": "fast"}, "config: 'results' is a required property"),
    ({"results": "r", "inference": {"hop_s": 1}},
     "config: inference: 'window_s' is a required property"),
    ({"results": ""}, "config: results: is empty"),
    ({"results": "r", "limit": 0}, "config: limit: 0 is less than the minimum of 1"),
])
def test_each_kind_of_problem_is_one_line(instance, expected):
    assert message(instance) == expected


def test_an_unknown_key_gets_the_closest_valid_one_or_the_list():
    assert message({"results": "r", "inferance": {}}) == \
        "config: unknown key 'inferance' at the top level; did you mean 'inference'?"
    assert message({"results": "r", "inference": {"window_s": 1, "hops": 1}}) == \
        "config: unknown key 'hops' in inference; did you mean 'hop_s'?"
    assert message({"results": "r", "zzz": 1}) == \
        "config: unknown key 'zzz' at the top level; valid keys: results, mode, seed, " \
        "inference, limit"


def test_the_first_problem_in_document_order_is_reported():
    # Sorted by key name, 'mode' would come before 'seed'; the file lists seed first.
    assert message({"results": "r", "seed": "x", "mode": "quick"}) == \
        "config: seed: 'x' is not of type integer or null"
    assert message({"results": "r", "mode": "quick", "seed": "x"}) == \
        "config: mode: 'quick' is not one of ['fast', 'exact', null]"
    # unknown keys: the first one in the file, wherever it sits among the others
    assert message({"zeta": 1, "results": "r", "alpha": 2}).startswith(
        "config: unknown key 'zeta' at the top level")
    assert message({"results": "r", "inference": {"window_s": "2"}, "extra": 1}) == \
        "config: inference.window_s: '2' is not of type number"
    assert message({"results": "r", "extra": 1, "inference": {"window_s": "2"}}).startswith(
        "config: unknown key 'extra'")
    # a missing key comes after the problems of the keys present at its level
    assert message({"mode": "quick"}) == \
        "config: mode: 'quick' is not one of ['fast', 'exact', null]"


def test_the_first_problem_in_a_list_is_the_first_in_document_order():
    # The schema checks later items first ("items" before "prefixItems"), and an item's keys
    # in its own order ("a" before "b"); the file's order decides.
    schema = {"type": "object", "properties": {"rows": {
        "type": "array", "items": {"type": "object", "properties": {
            "a": {"type": "integer"}, "b": {"type": "integer"}}},
        "prefixItems": [{"type": "object", "properties": {"a": {"type": "string"}}}]}}}

    def first(instance):
        with pytest.raises(InputError) as err:
            check_schema(instance, schema, "sheet")
        return str(err.value)

    assert first({"rows": [{"a": 1}, {"a": "x"}]}) == "sheet: rows.0.a: 1 is not of type string"
    assert first({"rows": [{"a": "ok"}, {"b": "y", "a": "x"}]}) == \
        "sheet: rows.1.b: 'y' is not of type integer"


def test_the_workflow_schema_names_a_nested_typo():
    schema = load_schema(Path(__file__).resolve().parents[2] / "workflow" / "schemas"
                         / "config.schema.yaml")
    with pytest.raises(InputError, match=r"^config: unknown key 'seeed' in demo; did you mean "
                       r"'seed'\?$"):
        check_schema({"demo": {"seeed": 1}}, schema, "config")


def test_a_pattern_is_explained_in_the_schemas_words():
    """A participant id with a space: the schema's description says what is allowed, where
    its regular expression would leave a researcher to decode ^[A-Za-z0-9_-]+$."""
    schema = load_schema(Path(__file__).resolve().parents[2] / "workflow" / "schemas"
                         / "participants.schema.yaml")
    with pytest.raises(InputError) as err:
        check_schema({"participant_id": "child A", "group": "ASD", "video": "a.mp4"}, schema,
                     "sheet.tsv: line 2")
    assert str(err.value) == ("sheet.tsv: line 2: participant_id: 'child A' is not allowed: "
                              "letters, digits, _ and - only (the id names the participant's "
                              "result files: no spaces or dots); unique in the sheet.")
