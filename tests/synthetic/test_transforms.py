"""Frames and keypoints move together under every transform."""

import cv2
import numpy as np
import pytest

from microdualnet.body25 import INDEX, MIRROR
from microdualnet.data import transforms as tf


def _marked(h=60, w=80):
    """Frames with a white dot under each of two keypoints; joint 3 undetected."""
    frames = np.zeros((2, h, w, 3), np.uint8)
    kp = np.zeros((2, 25, 3), np.float32)
    kp[:, INDEX["RWrist"]] = (20, 30, 0.9)
    kp[:, INDEX["LWrist"]] = (60, 15, 0.8)
    for x, y in ((20, 30), (60, 15)):
        frames[:, y - 1:y + 2, x - 1:x + 2] = 255
    return frames, kp


def _dot_at(frame, xy):
    x, y = np.round(xy).astype(int)
    return frame[y, x].mean() > 100


@pytest.mark.parametrize("op", ["resize", "crop", "center", "flip"])
def test_keypoints_follow_pixels(op):
    frames, kp = _marked()
    if op == "resize":
        out, k = tf.resize_short_side(frames, kp, 120)
        assert out.shape[1:3] == (120, 160)
    elif op == "crop":
        out, k = tf.crop(frames, kp, 10, 5, 55)
    elif op == "center":
        out, k = tf.center_crop(frames, kp, 50)
    else:
        out, k = tf.hflip(frames, kp)
        # The mirrored right wrist is now reported as the left wrist.
        assert k[0, INDEX["LWrist"], 2] == pytest.approx(0.9)
    for j in (INDEX["RWrist"], INDEX["LWrist"]):
        if 0 <= k[0, j, 0] < out.shape[2] and 0 <= k[0, j, 1] < out.shape[1]:
            assert _dot_at(out[0], k[0, j, :2]), (op, j)
    assert (k[:, 3] == 0).all()  # undetected joint stays (0, 0, 0)


def test_crop_outside_frame_is_refused():
    frames, kp = _marked()
    with pytest.raises(ValueError, match="does not fit"):
        tf.crop(frames, kp, 50, 0, 40)


def test_eval_view_shape_and_normalisation():
    frames, kp = _marked(120, 160)
    x, k = tf.eval_view(frames, kp, 112)
    assert x.shape == (2, 3, 112, 112) and x.dtype == np.float32
    assert x[0, :, 0, 0] == pytest.approx(-tf.IMAGENET_MEAN / tf.IMAGENET_STD)


def _arithmetic(frames):
    """The normalisation written out, as the reference for the table look-up."""
    x = (frames.astype(np.float32) - tf.IMAGENET_MEAN) / tf.IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def test_normalise_by_table_equals_the_arithmetic_bit_for_bit():
    every_value = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None, None],
                                  (1, 256, 4, 3)).copy()
    frames = np.random.default_rng(0).integers(0, 256, (3, 30, 40, 3), dtype=np.uint8)
    cropped = frames[:, 5:25, 7:27]  # a strided view, as the centre crop hands over
    for x in (every_value, frames, cropped):
        got = tf.normalise(x)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, _arithmetic(x))


def test_normalise_of_no_frames_is_empty():
    assert tf.normalise(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 3, 8, 8)


def test_normalise_writes_into_a_given_buffer_and_refuses_a_wrong_one():
    frames = np.random.default_rng(2).integers(0, 256, (2, 6, 5, 3), dtype=np.uint8)
    out = np.full((2, 3, 6, 5), np.nan, np.float32)
    assert tf.normalise(frames, out=out) is out
    np.testing.assert_array_equal(out, _arithmetic(frames))
    for bad in (np.empty((2, 3, 5, 6), np.float32), np.empty((2, 3, 6, 5), np.float64),
                np.empty((2, 3, 6, 10), np.float32)[..., ::2]):
        with pytest.raises(ValueError, match="C-contiguous float32"):
            tf.normalise(frames, out=bad)


@pytest.mark.parametrize("shape", [(120, 160), (72, 96), (41, 30), (224, 224), (30, 200)])
@pytest.mark.parametrize("size", [112, 64])
def test_eval_frame_is_eval_views_geometry_of_one_frame(shape, size):
    frame = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected, _ = tf.center_crop(*tf.resize_short_side(frame[None], np.zeros((1, 25, 3)), size),
                                 size)
    got = tf.eval_frame(frame, size)
    assert got.shape == (size, size, 3)
    np.testing.assert_array_equal(got, expected[0])


def test_normalise_of_a_list_of_frame_views_equals_the_stacked_frames():
    frames = np.random.default_rng(4).integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    views = [f[1:9, 2:10] for f in frames]  # strided crops, as the loader keeps them
    np.testing.assert_array_equal(tf.normalise(views), tf.normalise(np.stack(views)))


def _single_pixels(h=60, w=80):
    """One lit pixel per detected joint, each in its own grey level, and the keypoints on
    them: RWrist (20, 30), LWrist (60, 15), Nose (0, 0), RAnkle at the last column and row."""
    frames = np.zeros((2, h, w, 3), np.uint8)
    kp = np.zeros((2, 25, 3), np.float32)
    points = {"RWrist": (20, 30, 0.9), "LWrist": (60, 15, 0.8), "Nose": (0, 0, 0.7),
              "RAnkle": (w - 1, h - 1, 0.6)}
    for level, (name, (x, y, c)) in enumerate(points.items(), start=1):
        kp[:, INDEX[name]] = (x, y, c)
        frames[:, y, x] = 50 * level
    return frames, kp


def _assert_pixels_under_keypoints(out, k):
    """Every detected joint's (integer) keypoint lies exactly on its own lit pixel."""
    for j in np.flatnonzero(k[0, :, 2] > 0):
        x, y = k[0, j, :2]
        assert x == int(x) and y == int(y), (j, x, y)
        assert 0 <= x < out.shape[2] and 0 <= y < out.shape[1], (j, x, y)
        assert out[0, int(y), int(x), 0] > 0, (j, x, y)
    assert np.count_nonzero(out[0, ..., 0]) == np.count_nonzero(k[0, :, 2] > 0)


def test_flip_moves_keypoints_to_exactly_w_minus_1_minus_x():
    frames, kp = _single_pixels()
    w = frames.shape[2]
    out, k = tf.hflip(frames, kp)
    mirrored = kp[:, MIRROR]  # the joint each flipped name was before the flip
    seen = mirrored[..., 2] > 0
    np.testing.assert_array_equal(k[..., 0][seen], (w - 1) - mirrored[..., 0][seen])
    np.testing.assert_array_equal(k[..., 1][seen], mirrored[..., 1][seen])
    np.testing.assert_array_equal(k[..., 2], mirrored[..., 2])
    assert tuple(k[0, INDEX["LWrist"]]) == pytest.approx((w - 1 - 20, 30, 0.9))
    assert tuple(k[0, INDEX["Nose"], :2]) == (w - 1, 0)  # the first column becomes the last
    assert tuple(k[0, INDEX["LAnkle"], :2]) == (0, frames.shape[1] - 1)  # and the last the first
    assert (k[~seen] == 0).all()  # undetected joints stay (0, 0, 0)
    _assert_pixels_under_keypoints(out, k)
    # Flipping twice gives back the keypoints exactly.
    _, back = tf.hflip(out, k)
    np.testing.assert_array_equal(back, kp)


@pytest.mark.parametrize(("x0", "y0", "size"), [(10, 5, 55), (0, 0, 60), (20, 0, 60)])
def test_crop_moves_keypoints_by_exactly_its_corner(x0, y0, size):
    frames, kp = _single_pixels()
    out, k = tf.crop(frames, kp, x0, y0, size)
    assert out.shape[1:3] == (size, size)
    seen = kp[..., 2] > 0
    np.testing.assert_array_equal(k[..., 0][seen], kp[..., 0][seen] - x0)
    np.testing.assert_array_equal(k[..., 1][seen], kp[..., 1][seen] - y0)
    np.testing.assert_array_equal(k[..., 2], kp[..., 2])
    assert (k[~seen] == 0).all()
    inside = (k[0, :, 0] >= 0) & (k[0, :, 0] < size) & (k[0, :, 1] >= 0) & (k[0, :, 1] < size)
    for j in np.flatnonzero(seen[0] & inside):
        assert out[0, int(k[0, j, 1]), int(k[0, j, 0]), 0] == frames[
            0, int(kp[0, j, 1]), int(kp[0, j, 0]), 0], j


@pytest.mark.parametrize(("h", "w", "size"), [(60, 80, 50), (60, 80, 60), (61, 81, 40)])
def test_center_crop_moves_keypoints_by_exactly_its_centred_corner(h, w, size):
    frames, kp = _single_pixels(h, w)
    out, k = tf.center_crop(frames, kp, size)
    x0, y0 = (w - size) // 2, (h - size) // 2
    assert out.shape[1:3] == (size, size)
    np.testing.assert_array_equal(out, frames[:, y0:y0 + size, x0:x0 + size])
    seen = kp[..., 2] > 0
    np.testing.assert_array_equal(k[..., 0][seen], kp[..., 0][seen] - x0)
    np.testing.assert_array_equal(k[..., 1][seen], kp[..., 1][seen] - y0)
    assert (k[~seen] == 0).all()
    assert tuple(k[0, INDEX["RWrist"], :2]) == (20 - x0, 30 - y0)


def test_imagenet_statistics_are_the_backbones_rgb_ones():
    np.testing.assert_array_equal(tf.IMAGENET_MEAN, np.float32([123.675, 116.28, 103.53]))
    np.testing.assert_array_equal(tf.IMAGENET_STD, np.float32([58.395, 57.12, 57.375]))


@pytest.mark.parametrize(("h", "w", "short", "expected"), [
    (30, 200, 64, (427, 64, cv2.INTER_LINEAR)),  # 426.67 rounds up
    (41, 30, 112, (112, 153, cv2.INTER_LINEAR)),
    (120, 160, 60, (80, 60, cv2.INTER_AREA)),  # shrinking averages, no aliasing
])
def test_short_side_geometry_rounds_to_the_nearest_pixel(h, w, short, expected):
    assert tf.short_side_geometry(h, w, short) == expected


def test_resize_moves_x_and_y_by_their_own_factors():
    kp = np.zeros((1, 25, 3), np.float32)
    kp[0, 0] = (100, 20, 0.5)
    k = tf.resize_keypoints(kp, (30, 200), 64)
    assert k.dtype == np.float32
    assert tuple(k[0, 0]) == pytest.approx((100 * 427 / 200, 20 * 64 / 30, 0.5))
    same = tf.resize_short_side(np.zeros((1, 64, 80, 3), np.uint8), kp.astype(np.float64), 64)[1]
    assert same.dtype == np.float32  # the model's dtype, also when nothing moves


def test_eval_view_resizes_before_it_crops():
    frames, kp = _marked(120, 160)
    _, k = tf.eval_view(frames, kp, 112)  # 149 x 112, then the centre 112 from x = 18
    assert tuple(k[0, INDEX["RWrist"], :2]) == pytest.approx((20 * 149 / 160 - 18, 28))
