"""The figure is drawn where its keypoints say, and every action moves the body as defined."""

import cv2
import numpy as np
import pytest

from microdualnet.body25 import EDGES, INDEX
from microdualnet.synthetic.actions import ACTIONS, BACKGROUND, Event
from microdualnet.synthetic.scene import record

FPS = 25.0


def _recording(action_id: int | None, seed: int, seconds: float = 3.0, w: int = 160, h: int = 120):
    n = int(seconds * FPS)
    events = [] if action_id is None else [Event(action_id, 0.2, seconds + 1.0)]
    return record(events, n, FPS, w, h, np.random.default_rng(seed))


@pytest.mark.parametrize("seed", range(6))
def test_keypoints_lie_on_the_drawn_body(seed):
    spec = ACTIONS[seed % len(ACTIONS)]
    rec = _recording(spec.action_id, seed)
    for i in (0, 30, 60):
        mask = rec.renderer.body_mask(rec.projected[i])
        uv = np.round(rec.clean_uv[i]).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < rec.width) & (uv[:, 1] >= 0) & (uv[:, 1] < rec.height)
        assert inside.all()
        on_body = mask[uv[:, 1], uv[:, 0]]
        assert on_body.all(), f"{spec.name} frame {i}: joints off the body {np.flatnonzero(~on_body)}"


@pytest.mark.parametrize("seed", range(4))
def test_drawn_body_lies_along_the_skeleton(seed):
    rec = _recording(ACTIONS[seed].action_id, 100 + seed)
    f = rec.projected[40]
    mask = rec.renderer.body_mask(f)
    bones = np.zeros_like(mask, np.uint8)
    radius = int(np.ceil(13 * f.scale))  # about a head radius: limbs, hands and head fit in it
    for a, b in EDGES:
        cv2.line(bones, tuple(np.round(f.uv[a]).astype(int)), tuple(np.round(f.uv[b]).astype(int)),
                 1, 2 * radius)
    near = bones.astype(bool)
    assert mask.sum() > 500
    assert (mask & near).sum() / mask.sum() > 0.97
    # The skeleton is covered by the body: most bone pixels are body pixels.
    thin = np.zeros_like(mask, np.uint8)
    for a, b in EDGES:
        cv2.line(thin, tuple(np.round(f.uv[a]).astype(int)), tuple(np.round(f.uv[b]).astype(int)), 1, 1)
    assert (mask & thin.astype(bool)).sum() / thin.sum() > 0.9


def _dominant_cycles(signal: np.ndarray) -> tuple[float, float]:
    """Number of cycles at the spectral peak and the share of power in it (detrended signal)."""
    x = signal - np.polyval(np.polyfit(np.arange(len(signal)), signal, 1), np.arange(len(signal)))
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    power[0] = 0
    k = int(np.argmax(power))
    return k, power[max(k - 1, 0):k + 2].sum() / power.sum()


def _most_moving(uv: np.ndarray) -> int:
    """Index of the joint coordinate (in the flattened `[25 * 2]` layout) that varies most."""
    return int(np.argmax(uv.reshape(len(uv), -1).std(0)))


@pytest.mark.parametrize("spec", [a for a in ACTIONS if a.kind == "motion"], ids=lambda a: a.name)
def test_motion_defined_actions_are_periodic(spec):
    rec = _recording(spec.action_id, 7, seconds=3.2)
    uv = rec.clean_uv[int(0.6 * FPS):]  # past the ramp-in
    k = _most_moving(uv)
    signal = uv.reshape(len(uv), -1)[:, k]
    cycles, share = _dominant_cycles(signal)
    assert cycles >= 3, f"{spec.name}: only {cycles} cycles"
    assert share > 0.4, f"{spec.name}: periodic share {share:.2f}"
    # Same person, camera and idle life (same seed), without the action: far less motion.
    idle = _recording(None, 7, seconds=3.2).clean_uv[int(0.6 * FPS):]
    assert signal.std() > 3 * idle.reshape(len(idle), -1)[:, k].std()


@pytest.mark.parametrize("spec", [a for a in ACTIONS if a.kind == "position"], ids=lambda a: a.name)
def test_position_defined_actions_hold_a_changed_configuration(spec):
    rec = _recording(spec.action_id, 11, seconds=2.5)
    uv = rec.clean_uv
    start, hold = uv[:4].mean(0), uv[int(1.2 * FPS):]
    shift = np.linalg.norm(hold.mean(0) - start, axis=-1)  # per joint, px
    cm = rec.camera.scale  # px per body centimetre
    assert shift.max() > 4 * cm, f"{spec.name}: largest change {shift.max() / cm:.1f} cm"
    moved = int(np.argmax(shift))
    wobble = np.linalg.norm(hold[:, moved] - hold[:, moved].mean(0), axis=-1).max()
    assert wobble < 0.35 * shift[moved], f"{spec.name}: not held ({wobble:.1f} vs {shift[moved]:.1f})"


def test_background_is_quiet_compared_with_actions():
    still = _recording(None, 3).clean_uv
    span = np.ptp(still, axis=0).max()
    assert span < 4.0
    assert BACKGROUND.kind == "background"


def test_head_actions_move_the_head_and_feet_actions_the_feet():
    head = [INDEX[j] for j in ("Nose", "Neck", "REye", "LEye", "REar", "LEar")]
    feet = [INDEX[j] for j in ("RAnkle", "LAnkle", "RBigToe", "LBigToe", "RSmallToe",
                               "LSmallToe", "RHeel", "LHeel")]
    for name, own, other in (("turning head", head, feet), ("head up", head, feet),
                             ("stretching feet", feet, head), ("retracting feet", feet, head)):
        spec = next(a for a in ACTIONS if a.name == name)
        uv = _recording(spec.action_id, 5).clean_uv
        moved = np.linalg.norm(uv[-1] - uv[0], axis=-1)
        assert int(np.argmax(moved)) in own, name  # the part the action is about moves most
        assert moved[other].max() < 0.5 * moved[own].max(), name  # the other part stays
