"""The synthetic micro-actions, named and numbered as in MA-52.

Motion-defined actions carry their class in a rhythm (an oscillation of a body part);
position-defined ones in a held configuration reached by a short transition. Every action
adds its contribution to a `PoseTrack` in place, inside its event interval; a
position-defined one returns to rest in the `RETURN_S` after its end, which the cohort
scheduler keeps free of other events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from microdualnet.labels import BODY_CATEGORIES, MA52_ID, body_of
from microdualnet.synthetic.body import SIDES, PoseTrack, rest_hand

RETURN_S = 0.5  # seconds a position-defined action takes to return to rest after its end
BACKGROUND_ID = 52  # not an MA-52 class: "no action" (breathing, small sway)
BACKGROUND_NAME = "no action"


@dataclass(frozen=True)
class Event:
    """One performed action: class, interval (s) and its per-instance style."""

    action_id: int
    start_s: float
    end_s: float
    amplitude: float = 1.0  # multiplies the action's typical excursion
    speed: float = 1.0  # multiplies its frequency / shortens its transition
    side: str = "R"  # which hand / direction for one-sided actions
    phase: float = 0.0  # radians, for motion-defined actions


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def held_envelope(t: np.ndarray, ev: Event) -> np.ndarray:
    """0 -> 1 over the transition, held to the end, back to 0 within RETURN_S after it."""
    t_in = float(np.clip(0.45 / ev.speed, 0.25, 0.6))
    return smoothstep((t - ev.start_s) / t_in) * (1 - smoothstep((t - ev.end_s) / RETURN_S))


def rhythm_envelope(t: np.ndarray, ev: Event, ramp: float = 0.2) -> np.ndarray:
    """Amplitude envelope of an oscillation: short ramps, zero outside the event."""
    return smoothstep((t - ev.start_s) / ramp) * (1 - smoothstep((t - (ev.end_s - ramp)) / ramp))


def oscillation(t: np.ndarray, ev: Event, hz: float) -> np.ndarray:
    return np.sin(2 * np.pi * hz * ev.speed * (t - ev.start_s) + ev.phase)


def _sign(ev: Event) -> float:
    return SIDES[ev.side]


def _move_hand(tr: PoseTrack, side: str, target: np.ndarray, w: np.ndarray) -> None:
    tr.hand[side] += w[:, None] * (target - rest_hand(side))


def _head_target(tr: PoseTrack, dx: float, dy: float, dz: float) -> np.ndarray:
    """A point near the face, in body space (follows the torso's sideways sway)."""
    p = tr.p
    pt = np.tile([dx, p.torso + p.neck + dy, dz], (tr.n, 1))
    pt[:, 0] += tr.torso_dx
    return pt


# ---- motion-defined -------------------------------------------------------------------
def shaking_body(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    tr.torso_roll += 0.09 * ev.amplitude * rhythm_envelope(t, ev) * oscillation(t, ev, 2.2)


def nodding(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    osc = 0.5 - 0.5 * np.cos(2 * np.pi * 1.8 * ev.speed * (t - ev.start_s))
    tr.head_pitch += 0.45 * ev.amplitude * rhythm_envelope(t, ev) * osc


def shaking_head(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    tr.head_yaw += 0.5 * ev.amplitude * rhythm_envelope(t, ev) * oscillation(t, ev, 2.0)


def rubbing_hands(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    w = held_envelope(t, ev)
    rub = 3.0 * ev.amplitude * rhythm_envelope(t, ev) * oscillation(t, ev, 2.6)
    for side, sx in SIDES.items():
        target = np.tile([sx * 2.5, 14.0, 20.0], (tr.n, 1))
        target[:, 1] += sx * rub
        target[:, 2] -= sx * rub * 0.5
        _move_hand(tr, side, target, w)


def shaking_legs(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    """Heels bounce at about 3 Hz, the two legs alternating; the knees follow by IK."""
    env = 4.5 * ev.amplitude * rhythm_envelope(t, ev)
    for side in SIDES:
        lag = 0.0 if side == ev.side else np.pi
        bounce = 0.5 - 0.5 * np.cos(2 * np.pi * 2.8 * ev.speed * (t - ev.start_s) + lag)
        tr.ankle[side][:, 1] += env * bounce


def touching_face(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    sx = _sign(ev)
    w = held_envelope(t, ev)
    target = _head_target(tr, sx * 8.0, -4.0, 7.0)
    target[:, 1] += 1.8 * ev.amplitude * rhythm_envelope(t, ev) * oscillation(t, ev, 3.0)
    _move_hand(tr, ev.side, target, w)


# ---- position-defined -----------------------------------------------------------------
def head_up(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    # 0.75 rad like a head turn: with 0.6, the smallest lifts were no larger than what the
    # viewpoint (camera pitch 0.12-0.35 rad) and neck length change in the resting head.
    tr.head_pitch -= 0.75 * ev.amplitude * held_envelope(t, ev)


def tilting_head(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    tr.head_roll += _sign(ev) * 0.5 * ev.amplitude * held_envelope(t, ev)


def turning_head(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    tr.head_yaw += _sign(ev) * 0.75 * ev.amplitude * held_envelope(t, ev)


def stretching_feet(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    w = held_envelope(t, ev)
    for side, sx in SIDES.items():
        tr.ankle[side] += w[:, None] * np.array([sx * 4.0, 6.0, 20.0 * ev.amplitude])


def retracting_feet(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    shift = np.array([0.0, 5.0, -14.0 * ev.amplitude])
    w = held_envelope(t, ev)
    for side in SIDES:
        tr.ankle[side] += w[:, None] * shift


def covering_face(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    w = held_envelope(t, ev)
    for side, sx in SIDES.items():
        _move_hand(tr, side, _head_target(tr, sx * 3.5, -2.0, 10.0), w)


def crossing_arms(tr: PoseTrack, t: np.ndarray, ev: Event) -> None:
    w = held_envelope(t, ev)
    p = tr.p
    for side, sx in SIDES.items():
        # Each hand reaches the opposite upper arm; the forearms cross over the chest.
        target = np.tile([-sx * (p.shoulder_half - 3.0), p.torso - 14.0 + sx, 11.0], (tr.n, 1))
        _move_hand(tr, side, target, w)


@dataclass(frozen=True)
class ActionSpec:
    """A synthetic class: MA-52 id and name, whether rhythm or position defines it, its motion."""

    action_id: int
    name: str
    kind: str  # "motion" or "position"
    apply: Callable[[PoseTrack, np.ndarray, Event], None]

    @property
    def body_id(self) -> int:
        return body_of(self.action_id) if self.action_id < len(MA52_ID) else -1

    @property
    def body_name(self) -> str:
        return BODY_CATEGORIES[self.body_id] if self.body_id >= 0 else "none"


def _spec(name: str, kind: str, fn: Callable[[PoseTrack, np.ndarray, Event], None]) -> ActionSpec:
    return ActionSpec(MA52_ID[name], name, kind, fn)


ACTIONS: tuple[ActionSpec, ...] = tuple(sorted((
    _spec("shaking body", "motion", shaking_body),
    _spec("nodding", "motion", nodding),
    _spec("shaking head", "motion", shaking_head),
    _spec("rubbing hands", "motion", rubbing_hands),
    _spec("shaking legs", "motion", shaking_legs),
    _spec("scratching or touching face", "motion", touching_face),
    _spec("head up", "position", head_up),
    _spec("tilting head", "position", tilting_head),
    _spec("turning head", "position", turning_head),
    _spec("stretching feet", "position", stretching_feet),
    _spec("retracting feet", "position", retracting_feet),
    _spec("covering face", "position", covering_face),
    _spec("crossing arms", "position", crossing_arms),
), key=lambda a: a.action_id))

BACKGROUND = ActionSpec(BACKGROUND_ID, BACKGROUND_NAME, "background", lambda tr, t, ev: None)
BY_ID: dict[int, ActionSpec] = {a.action_id: a for a in (*ACTIONS, BACKGROUND)}
BY_NAME: dict[str, ActionSpec] = {a.name: a for a in (*ACTIONS, BACKGROUND)}


def resolve(names: list[str] | None, include_background: bool = False) -> list[ActionSpec]:
    """Action specs for the given class names (all synthetic classes when None)."""
    if names is None:
        chosen = list(ACTIONS)
    else:
        unknown = [n for n in names if n not in BY_NAME or n == BACKGROUND_NAME]
        if unknown:
            known = ", ".join(a.name for a in ACTIONS)
            raise KeyError(f"unknown class name(s) {unknown}; synthetic classes are: {known}")
        chosen = [BY_NAME[n] for n in names]
    return [*chosen, BACKGROUND] if include_background else chosen


def idle_motion(tr: PoseTrack, t: np.ndarray, rng: np.random.Generator) -> None:
    """Background life present in every frame: breathing, slow sway, small head and hand drift."""
    def wave(amp: float, lo: float, hi: float) -> np.ndarray:
        return amp * np.sin(2 * np.pi * rng.uniform(lo, hi) * t + rng.uniform(0, 2 * np.pi))

    tr.shrug += wave(0.7, 0.2, 0.35)
    tr.torso_roll += wave(0.015, 0.05, 0.15)
    tr.torso_pitch += wave(0.02, 0.05, 0.12)
    tr.torso_dx += wave(1.0, 0.04, 0.12)
    tr.head_yaw += wave(0.05, 0.05, 0.2)
    tr.head_pitch += wave(0.04, 0.05, 0.2)
    tr.head_roll += wave(0.02, 0.05, 0.2)
    for side in SIDES:
        tr.hand[side] += np.stack([wave(0.8, 0.05, 0.2) for _ in range(3)], -1)
        tr.ankle[side][:, 0] += wave(0.6, 0.03, 0.1)


def apply_events(tr: PoseTrack, t: np.ndarray, events: list[Event]) -> None:
    """Add every event's motion to the track."""
    for ev in events:
        BY_ID[ev.action_id].apply(tr, t, ev)


