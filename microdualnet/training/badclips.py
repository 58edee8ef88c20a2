"""Counting unusable clips against the configured limit, each reported once with its file."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from pipeio.errors import InputError


class BadClips:
    """Distinct bad files seen in the run; more than `limit` stops it with a clear error."""

    def __init__(self, limit: int, stream=None, setting: str = "data.max_bad_clips"):
        """`setting` names the limit in the error as the user set it (evaluate: an option)."""
        self.limit, self.stream, self.setting = limit, stream, setting
        self.reasons: dict[str, str] = {}

    def add(self, key: str, reason: str) -> None:
        if key in self.reasons:
            return
        self.reasons[key] = reason
        print(f"skipping bad clip: {reason}", file=self.stream or sys.stderr)
        if len(self.reasons) > self.limit:
            raise InputError(
                f"{len(self.reasons)} unusable clips, more than {self.setting}="
                f"{self.limit}; first: {next(iter(self.reasons.values()))}")

    def add_all(self, items: Iterable[tuple[str, str]]) -> None:
        for key, reason in items:
            self.add(key, reason)

    @property
    def count(self) -> int:
        return len(self.reasons)
