"""The figure is drawn where its keypoints say, and every action moves the body as defined."""

import cv2
import numpy as np
import pytest

from microdualnet.body25 import EDGES, INDEX
from microdualnet.synthetic.actions import (
    ACTIONS,
    BACKGROUND,
    RETURN_S,
    Event,
    held_envelope,
    rhythm_envelope,
)
from microdualnet.synthetic.body import Proportions, two_link_ik
from microdualnet.synthetic.detector import DetectorModel, detect
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


# Pure rhythms end with their event; the others (held positions, hand actions) relax to rest
# within RETURN_S after it, which the cohort scheduler keeps free.
_ENDS_AT_EVENT_END = {"shaking body", "nodding", "shaking head", "shaking legs"}


@pytest.mark.parametrize("spec", ACTIONS, ids=lambda a: a.name)
def test_an_action_moves_the_body_from_its_start_frame_to_its_end_and_return(spec):
    """The truth tables' frames are the rendered ones: at 10 fps an event from frame 10 to
    frame 30 leaves frames 0-10 exactly as the idle recording (same seed) has them, moves
    frame 11, and is over at frame 30 (a rhythm) or 30 + RETURN_S * fps = 35 (the rest)."""
    fps, n = 10.0, 45
    ev = Event(spec.action_id, 10 / fps, 30 / fps)
    act = record([ev], n, fps, 160, 120, np.random.default_rng(3)).clean_uv
    idle = record([], n, fps, 160, 120, np.random.default_rng(3)).clean_uv
    moved = np.abs(act - idle).max(axis=(1, 2))
    assert RETURN_S * fps == 5
    assert (moved[:11] == 0).all(), np.flatnonzero(moved[:11])
    assert moved[11] > 0
    end = 30 if spec.name in _ENDS_AT_EVENT_END else 35
    assert moved[end - 1] > 0
    assert (moved[end:] == 0).all(), np.flatnonzero(moved[end:])


def test_envelopes_by_value():
    """held: 0 at the start, 1 after the transition (0.45 s at speed 1), still 1 at the end,
    0 from RETURN_S after it; rhythm: 0.2-s ramps inside the event, 0 outside it."""
    ev = Event(0, 1.0, 3.0)
    t = np.array([0.5, 1.0, 1.225, 1.45, 2.0, 3.0, 3.25, 3.5, 4.0])
    np.testing.assert_allclose(held_envelope(t, ev), [0, 0, 0.5, 1, 1, 1, 0.5, 0, 0], atol=1e-12)
    t = np.array([0.9, 1.0, 1.1, 1.2, 2.0, 2.8, 2.9, 3.0, 3.1])
    np.testing.assert_allclose(rhythm_envelope(t, ev), [0, 0, 0.5, 1, 1, 1, 0.5, 0, 0],
                               atol=1e-12)
    # Faster actions reach the held position sooner, within 0.25-0.6 s.
    fast, slow = Event(0, 0.0, 3.0, speed=2.0), Event(0, 0.0, 3.0, speed=0.5)
    np.testing.assert_allclose(held_envelope(np.array([0.125, 0.25]), fast), [0.5, 1.0])
    np.testing.assert_allclose(held_envelope(np.array([0.3, 0.6]), slow), [0.5, 1.0])


def test_every_event_of_a_timeline_is_performed():
    """Two events (10 fps): a nod over frames 5-15 and a head turn over frames 25-40, each
    moving the body inside its own interval only."""
    fps, n = 10.0, 50
    nod = next(a for a in ACTIONS if a.name == "nodding").action_id
    turn = next(a for a in ACTIONS if a.name == "turning head").action_id
    events = [Event(nod, 0.5, 1.5), Event(turn, 2.5, 4.0)]
    act = record(events, n, fps, 160, 120, np.random.default_rng(4)).clean_uv
    idle = record([], n, fps, 160, 120, np.random.default_rng(4)).clean_uv
    moved = np.abs(act - idle).max(axis=(1, 2))
    assert (moved[:6] == 0).all() and moved[6:15].min() > 0
    assert (moved[15:26] == 0).all() and moved[26:45].min() > 0 and (moved[45:] == 0).all()


@pytest.mark.parametrize("seed", range(3))
def test_the_figure_is_upright_and_faces_the_camera(seed):
    """Image y grows downwards: eyes above the nose above the neck above the hips above the
    ankles; the subject faces the camera, so their right side is on the image's left (as a
    pose detector labels a person facing it)."""
    uv = _recording(None, 20 + seed, seconds=1.0).clean_uv.mean(0)
    y = {name: uv[INDEX[name], 1] for name in ("REye", "Nose", "Neck", "MidHip", "RAnkle")}
    assert y["REye"] < y["Nose"] < y["Neck"] < y["MidHip"] < y["RAnkle"], y
    for part in ("Eye", "Ear", "Shoulder", "Elbow", "Hip", "Knee", "Ankle"):
        assert uv[INDEX["R" + part], 0] < uv[INDEX["L" + part], 0], part


def _shift(name: str, side: str, seed: int = 8) -> np.ndarray:
    """Per-frame joint displacement `[T, 25, 2]` an action causes (against the same idle)."""
    spec = next(a for a in ACTIONS if a.name == name)
    act = record([Event(spec.action_id, 0.2, 4.0, side=side)], 50, FPS, 160, 120,
                 np.random.default_rng(seed)).clean_uv
    idle = record([], 50, FPS, 160, 120, np.random.default_rng(seed)).clean_uv
    return act - idle


def test_one_sided_actions_follow_their_side_and_head_up_looks_up():
    """Side R is the subject's right, on the image's left; image y grows downwards."""
    nose, hold = INDEX["Nose"], slice(25, 50)
    # Turning head: the face turns towards the named side (x of the nose).
    assert _shift("turning head", "R")[hold, nose, 0].mean() < -1.0
    assert _shift("turning head", "L")[hold, nose, 0].mean() > 1.0
    # Tilting head: the named side's eye goes down relative to the other.
    for side, sign in (("R", 1), ("L", -1)):
        d = _shift("tilting head", side)[hold]
        drop = d[:, INDEX["REye"], 1] - d[:, INDEX["LEye"], 1]
        assert sign * drop.mean() > 0.5, side
    # Touching the face: only the named side's hand goes up to it.
    for side, other in (("R", "L"), ("L", "R")):
        d = np.linalg.norm(_shift("scratching or touching face", side)[hold], axis=-1).mean(0)
        assert d[INDEX[side + "Wrist"]] > 5 * max(d[INDEX[other + "Wrist"]], 0.2), side
    # Head up: the nose rises (y decreases).
    assert _shift("head up", "R")[hold, nose, 1].mean() < -1.0
    # Shaking legs: the two heels bounce alternately.
    d = _shift("shaking legs", "R")[hold]
    r, left = d[:, INDEX["RAnkle"], 1], d[:, INDEX["LAnkle"], 1]
    assert np.corrcoef(r, left)[0, 1] < -0.5


def test_head_rhythms_and_feet_positions_move_the_way_their_names_say():
    """Nodding moves the nose up and down, shaking the head from side to side; stretching
    the feet moves the ankles forward (body z, towards the camera) by about 20 cm times the
    amplitude (1 here), retracting them back by about 14 cm."""
    nose, hold = INDEX["Nose"], slice(25, 50)
    nod, shake = _shift("nodding", "R")[hold, nose], _shift("shaking head", "R")[hold, nose]
    assert nod[:, 1].std() > 2 * nod[:, 0].std()
    assert shake[:, 0].std() > 2 * shake[:, 1].std()
    for name, lo, hi in (("stretching feet", 15.0, 21.0), ("retracting feet", -15.0, -10.0)):
        spec = next(a for a in ACTIONS if a.name == name)
        act = record([Event(spec.action_id, 0.2, 4.0)], 50, FPS, 160, 120,
                     np.random.default_rng(8)).skeleton.joints
        idle = record([], 50, FPS, 160, 120, np.random.default_rng(8)).skeleton.joints
        for ankle in ("RAnkle", "LAnkle"):
            dz = (act - idle)[hold, INDEX[ankle], 2].mean()
            assert lo < dz < hi, (name, ankle, dz)


def test_detector_reports_joints_in_frame_and_misses_those_outside():
    """No noise, no dropout: positions are the exact joints to 1/64 px and confidences
    multiples of 1/1024; a joint beyond the frame (x < 0, x > W - 1, y < 0, y > H - 1) is
    reported as missed (0, 0, 0), one on the last pixel is not."""
    quiet = DetectorModel(jitter_cm=0.0, bias_cm=0.0, joint_dropout=0.0, frame_dropout=0.0)
    uv = np.full((2, 25, 2), 20.3)
    uv[0, 1] = (-0.5, 10.0)
    uv[0, 2] = (63.0, 47.0)  # the last pixel of a 64 x 48 frame
    uv[0, 3] = (63.5, 10.0)
    uv[1, 4] = (10.0, 47.5)
    depth, head = np.zeros((2, 25)), np.zeros(2)
    kp = detect(uv, depth, head, 2.0, 64, 48, np.random.default_rng(0), quiet)
    missed = np.zeros((2, 25), bool)
    missed[0, [1, 3]] = missed[1, 4] = True
    assert ((kp == 0).all(-1) == missed).all()
    np.testing.assert_array_equal(kp[~missed][:, :2], np.round(uv[~missed] * 64) / 64)
    conf = kp[~missed][:, 2] * 1024
    assert (conf == np.round(conf)).all() and (conf > 0).all()
    # A per-joint offset of bias_cm (here 2 px per cm) that persists through the recording.
    biased = detect(np.zeros((3, 25, 2)) + 20, np.zeros((3, 25)), np.zeros(3), 2.0, 64, 48,
                    np.random.default_rng(1), DetectorModel(jitter_cm=0.0, bias_cm=1.0,
                                                            joint_dropout=0.0,
                                                            frame_dropout=0.0))
    offset = biased[..., :2] - 20
    np.testing.assert_allclose(offset[0], offset[2], atol=1 / 64)
    assert 1.4 < offset[0].std() < 2.8


def test_two_link_limbs_keep_their_length():
    """An unreachable target is approached along its direction with the limb straight; the
    segments keep their lengths (3 and 4) whatever the target."""
    root = np.zeros((2, 3))
    target = np.array([[100.0, 0.0, 0.0], [0.0, 3.0, 3.0]])
    mid, end = two_link_ik(root, target, 3.0, 4.0, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(np.linalg.norm(mid - root, axis=-1), [3.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(end - mid, axis=-1), [4.0, 4.0], atol=1e-6)
    np.testing.assert_allclose(end[0], [7.0 - 1e-3, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(end[1], [0.0, 3.0, 3.0], atol=1e-9)


def test_identities_vary_within_8_percent_and_frames_carry_pixel_noise():
    base = Proportions()
    for seed in range(20):
        p = base.scaled(np.random.default_rng(seed))
        for k, v in vars(p).items():
            assert 0.92 * getattr(base, k) <= v <= 1.08 * getattr(base, k), k
    rec = _recording(None, 2, seconds=0.2)
    clean = rec.renderer.frame(rec.projected[0], noise=False).astype(float)
    noisy = rec.renderer.frame(rec.projected[0]).astype(float)
    sigma = rec.appearance.noise_sigma
    assert 0.5 * sigma < (noisy - clean).std() < 1.5 * sigma
