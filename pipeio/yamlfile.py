"""YAML files a study edits by hand (the workflow and statistics configs, the training
config, the coding mapping), parsed so that a key given twice is an error naming both lines.

PyYAML keeps the last of two equal keys without a word: a `stats:` section appended below
the one above replaces it whole, and a `nodding: null` further down a mapping list undoes
`nodding: nodding`. Otherwise the safe loader's reading (types, anchors, merges) is unchanged.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeio.errors import InputError


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
