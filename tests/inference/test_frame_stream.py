"""Reading whole videos forward: the same pixels as decord (training's reader), bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from microdualnet.inference.video import FrameStream, frame_times, open_video
from pipeio.errors import InputError


def _write(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
           options: dict | None = None, colorspace: int | None = None,
           color_range: int | None = None, gop: int | None = None) -> Path:
    with av.open(str(path), "w", format="mp4", options=options or {}) as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        if gop is not None:
            stream.options = {"g": str(gop), "keyint_min": str(gop)}
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        if color_range is not None:
            stream.codec_context.color_range = color_range
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    """Moving noise: every frame differs, so a frame read out of order is caught."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 3 * i, axis=1) for i in range(30)])


@pytest.mark.parametrize("kind", ["default", "bt709", "full_range", "yuv444", "mpeg4"])
def test_same_pixels_as_decord_frame_for_frame(tmp_path, noise, kind):
    settings = {
        "default": {},  # libx264's defaults: B-frames, decoded out of order
        "bt709": {"colorspace": 1},
        "full_range": {"color_range": 2},
        "yuv444": {"pix_fmt": "yuv444p"},
        "mpeg4": {"codec": "mpeg4"},
    }[kind]
    video = _write(tmp_path / f"{kind}.mp4", noise, **settings)
    reader = open_video(video)
    wanted = np.array([0, 1, 2, 7, 8, 15, 29])
    expected = reader.get_batch(wanted.tolist()).asnumpy()
    with FrameStream(video) as stream:
        got = list(stream.frames(wanted))
    assert [i for i, _ in got] == wanted.tolist()
    np.testing.assert_array_equal(np.stack([f for _, f in got]), expected)


def test_b_frames_are_really_there(tmp_path, noise):
    """The default libx264 settings reorder frames, so the test above covers reordering."""
    video = _write(tmp_path / "b.mp4", noise)
    with av.open(str(video)) as container:
        types = {PictureType(frame.pict_type) for frame in container.decode(video=0)}
    assert PictureType.B in types


def test_reads_forward_only_and_in_several_calls(tmp_path, noise):
    video = _write(tmp_path / "v.mp4", noise)
    with FrameStream(video) as stream:
        first = [i for i, _ in stream.frames(np.array([3, 4]))]
        second = [i for i, _ in stream.frames(np.array([4 + 1, 20]))]
        assert first == [3, 4] and second == [5, 20]
        with pytest.raises(ValueError, match="reads forward"):
            list(stream.frames(np.array([10])))


@pytest.mark.parametrize("start", [0, 1, 9, 10, 17, 29])
def test_a_stream_started_late_gives_the_same_frames_and_decodes_less(tmp_path, noise, start):
    """Keyframes every 10 frames, with B-frames: decoding starts at the keyframe before."""
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    wanted = np.arange(start, 30)
    expected = open_video(video).get_batch(wanted.tolist()).asnumpy()
    with FrameStream(video, start=start) as stream:
        got = list(stream.frames(wanted))
        decoded = stream.decoded
    assert [i for i, _ in got] == wanted.tolist()
    np.testing.assert_array_equal(np.stack([f for _, f in got]), expected)
    assert decoded == 30 - start + start % 10


def test_times_that_do_not_match_the_file_fall_back_to_reading_from_the_start(tmp_path,
                                                                             noise):
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    wrong = frame_times(open_video(video)) + 100.0  # as if decord and PyAV disagreed
    expected = open_video(video).get_batch([17, 18]).asnumpy()
    with FrameStream(video, start=17, times=wrong) as stream:
        got = np.stack([f for _, f in stream.frames(np.array([17, 18]))])
        assert stream.decoded == 19
    np.testing.assert_array_equal(got, expected)


def test_frame_past_the_end_names_the_file(tmp_path, noise):
    video = _write(tmp_path / "v.mp4", noise)
    with FrameStream(video) as stream, pytest.raises(InputError, match="ends after 30"):
        list(stream.frames(np.array([29, 30])))


def test_truncated_video_is_an_input_error_naming_the_file(tmp_path, noise):
    """moov first (as cameras and `faststart` write it): the index survives, the data not."""
    video = _write(tmp_path / "v.mp4", noise, options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:len(video.read_bytes()) // 2])
    with FrameStream(cut) as stream, pytest.raises(InputError, match="cut.mp4"):
        list(stream.frames(np.arange(30)))


def test_not_a_video_is_an_input_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputError, match="notes.mp4.*not readable"):
        FrameStream(bad)
