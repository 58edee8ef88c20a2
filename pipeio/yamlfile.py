"""YAML files a study edits by hand (the workflow and statistics configs, the training
config, the coding mapping), parsed so that a key given twice is an error naming both lines.

PyYAML keeps the last of two equal keys without a word: a `stats:` section appended below
the one above replaces it whole, and a `nodding: null` further down a mapping list undoes
`nodding: nodding`. Otherwise the safe loader's reading (types, anchors, merges) is unchanged.
`load_yaml_file` reads such a file and turns every way it can fail (not UTF-8, a syntax
error, nesting too deep for the parser) into one line naming the file, line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeio.errors import InputError
from pipeio.textfile import read_utf8


class _RepeatedKey(Exception):
    """A key given twice in one YAML mapping: the key and both lines (1-based)."""

    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges, on purpose
            continue
        key, line = loader.construct_object(key_node, deep=True), key_node.start_mark.line + 1
        try:
            if key in seen:
                raise _RepeatedKey(key, line, seen[key])
            seen[key] = line
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _unique_mapping)


def safe_load_unique(text: str, where: str) -> Any:
    """`yaml.safe_load(text)`, except that a key given twice in one mapping is an
    `InputError` naming `where` (the file) and both lines; syntax errors stay PyYAML's
    `YAMLError`, for the caller's own message."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _RepeatedKey as err:
        raise InputError(f"{where}, line {err.line}: {err.key!r} is given twice (also on line "
                         f"{err.first}); YAML would keep only the last, so give each key "
                         "once") from None


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML syntax error in one line, with the file's line and column (PyYAML's own text
    spans several lines and names "<unicode string>")."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def load_yaml_file(path: str | Path, what: str) -> Any:
    """The YAML file `path` (a `what`, e.g. "mapping file") as `safe_load_unique` reads it;
    a file that is not UTF-8, not YAML or nested deeper than the parser's recursion allows
    is one `InputError` naming the file (and the line and column where known)."""
    text = read_utf8(path, what, advice="save the file as UTF-8")
    try:
        return safe_load_unique(text, f"{what} {path}")
    except yaml.YAMLError as err:
        raise InputError(f"{what} {path} is not valid YAML ({yaml_problem(err)})") from None
    except RecursionError:  # PyYAML composes and constructs nested nodes recursively
        raise InputError(f"{what} {path}: lists or mappings nested too deeply to read (a "
                         "damaged file?); expected a config of a few levels") from None
