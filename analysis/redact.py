"""File names kept out of the results a team shares: a participant's video or coding file is
often named after the child or the visit date (`visits/Emma_Smith_2024-03-01.mp4`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A path or a file name: a separator, or a dot and a short extension (`.mp4`, `.eaf`).
NAMES_A_FILE = re.compile(r"[\\/]|\.[A-Za-z][A-Za-z0-9]{1,7}\b")
PLACEHOLDER = "<path>"
# A run of text that may be one path: brackets, quotes, commas and semicolons end it.
_TOKEN = re.compile(r"[^\s'\"()\[\]{},;]+")


def without_paths(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every path and file name replaced by `<path>`, the rest kept (what went
    wrong stays readable). `known` are paths the text may hold whole, spaces and all (a
    participant's video as the jobs were given it): they go first, longest first, since
    word by word a space-separated part without a separator or extension would be left."""
    for path in sorted({p for p in known if p}, key=len, reverse=True):
        text = text.replace(path, PLACEHOLDER)

    def token(match: re.Match[str]) -> str:
        word = match.group(0)
        core = word.rstrip(".:")  # a sentence's full stop or a colon after the name stays
        return PLACEHOLDER + word[len(core):] if NAMES_A_FILE.search(core) else word

    return _TOKEN.sub(token, text)
