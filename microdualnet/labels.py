"""MA-52 label table: action ids, names and the fixed action -> body-category map."""

from __future__ import annotations

BODY_CATEGORIES: tuple[str, ...] = (
    "body", "head", "upper limb", "lower limb", "body-hand", "head-hand", "leg-hand",
)

MA52_ACTIONS: tuple[str, ...] = (
    "shaking body", "sitting straightly", "shrugging", "turning around", "rising up",
    "bowing head", "head up", "tilting head", "turning head", "nodding", "shaking head",
    "scratching arms", "playing objects", "putting hands together", "rubbing hands",
    "pointing oneself", "clenching fist", "stretching arms", "retracting arms", "waving",
    "spreading hands", "hands touching fingers", "other finger movements",
    "illustrative gestures",
    "shaking legs", "curling legs", "spread legs", "closing legs", "crossing legs",
    "stretching feet", "retracting feet", "tiptoe",
    "scratching or touching neck", "scratching or touching chest",
    "scratching or touching back", "scratching or touching shoulder", "arms akimbo",
    "crossing arms",
    "playing or tidying hair", "scratching or touching hindbrain",
    "scratching or touching forehead", "scratching or touching face", "rubbing eyes",
    "touching nose", "touching ears", "covering face", "covering mouth", "pushing glasses",
    "patting legs", "touching legs", "scratching legs", "scratching feet",
)
MA52_ID: dict[str, int] = {name: i for i, name in enumerate(MA52_ACTIONS)}

# Body category of each action id, by the published id ranges.
_BODY_RANGES = ((0, 4, 0), (5, 10, 1), (11, 23, 2), (24, 31, 3), (32, 37, 4), (38, 47, 5),
                (48, 51, 6))


def body_of(action_id: int) -> int:
    """Body-category id (0-6) of an MA-52 action id (0-51)."""
    for lo, hi, body in _BODY_RANGES:
        if lo <= action_id <= hi:
            return body
    raise ValueError(f"MA-52 action id must be in 0-51, got {action_id}")


BODY_MAP: tuple[int, ...] = tuple(body_of(i) for i in range(len(MA52_ACTIONS)))
