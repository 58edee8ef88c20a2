"""Checks on numbers read from JSON a user may have edited (model.json, windows metadata).

JSON integers have no size limit and Python reads them exactly, so `math.isfinite` on one
past a float's range raises `OverflowError` instead of answering; these checks answer.
"""

from __future__ import annotations

import math


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is finite as a float: what arithmetic in seconds,
    frames or pixels can use."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the largest float
        return False
