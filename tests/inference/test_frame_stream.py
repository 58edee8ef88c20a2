"""Reading videos (`microdualnet.video`): probing, reading forward and from a keyframe, the
same pixels as a plain full decode, and bad files."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from microdualnet.video import (
    SEEK_BACK_S,
    SKIP_DEBLOCKING_FROM,
    FrameStream,
    _fit_size,
    probe,
    read_frames,
    skip_deblocking_for,
    write_mp4,
)
from pipeio.errors import InputError


def _reference(path: Path, wanted) -> np.ndarray:
    """Every frame decoded in order by PyAV's plain path, a new converter per frame."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack([frames[i] for i in wanted])


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
def test_same_pixels_as_a_plain_decode_frame_for_frame(tmp_path, noise, kind):
    settings = {
        "default": {},  # libx264's defaults: B-frames, decoded out of order
        "bt709": {"colorspace": 1},
        "full_range": {"color_range": 2},
        "yuv444": {"pix_fmt": "yuv444p"},
        "mpeg4": {"codec": "mpeg4"},
    }[kind]
    video = _write(tmp_path / f"{kind}.mp4", noise, **settings)
    wanted = np.array([0, 1, 2, 7, 8, 15, 29])
    expected = _reference(video, wanted)
    for threads in (1, 2):
        with FrameStream(video, threads=threads) as stream:
            got = list(stream.frames(wanted))
        assert [i for i, _ in got] == wanted.tolist()
        np.testing.assert_array_equal(np.stack([f for _, f in got]), expected)
    np.testing.assert_array_equal(read_frames(video, wanted[::-1]), expected[::-1])


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
        # one frame back is refused too (frame 20 is the last one read; 20 again is fine)
        assert [i for i, _ in stream.frames(np.array([20]))] == [20]
        with pytest.raises(ValueError, match=r"frame 19 asked for after frame 20"):
            list(stream.frames(np.array([19])))


# Run in a subprocess, which frees a closed reader in a forked child and kills the child if
# it has not ended within 10 s: a regression fails instead of hanging the suite.
_FREED_IN_A_FORKED_CHILD = """
import gc, os, signal, sys, time
from microdualnet.video import FrameStream

def threads():
    return len(os.listdir("/proc/self/task"))

before = threads()
stream = FrameStream(sys.argv[1], threads=2)
list(stream.frames(range(3)))
opened = threads()
stream.close()
closed = threads()
kept = [stream]
del stream
child = os.fork()
if child == 0:
    kept.clear()
    gc.collect()
    os._exit(0)
deadline = time.monotonic() + 10
while os.waitpid(child, os.WNOHANG) == (0, 0):
    if time.monotonic() > deadline:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        sys.exit("the forked child freeing the closed reader hung")
    time.sleep(0.02)
print(before, opened, closed)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc/self/task")
def test_a_closed_reader_runs_no_threads_a_forked_process_would_wait_for(tmp_path, noise):
    """FFmpeg's decoder and RGB converter run threads until they are freed (a reader of
    `threads` > 1). A closed reader the garbage collector frees
    later, in a forked loader process (a reference cycle keeps it), waited there forever for
    threads fork does not copy (the suite hung so). close() frees them at once."""
    video = _write(tmp_path / "v.mp4", noise)
    script = tmp_path / "fork.py"
    script.write_text(_FREED_IN_A_FORKED_CHILD)
    done = subprocess.run([sys.executable, str(script), str(video)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, opened, closed = map(int, done.stdout.split())
    assert opened > before and closed == before


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc/self/task")
def test_a_one_thread_reader_converts_in_its_own_thread_with_the_same_pixels(tmp_path):
    """FFmpeg's converter would otherwise start a thread per CPU for every reader (16 on a
    GPU node running many readers at once). Its slices give the same pixels as one thread."""
    rng = np.random.default_rng(1)
    video = _write(tmp_path / "v.mp4", rng.integers(0, 256, (3, 240, 320, 3), np.uint8))

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    before = threads()
    with FrameStream(video) as stream:
        got = [f for _, f in stream.frames([0], size=(128, 96))]
        got += [f for _, f in stream.frames([1])]
        assert threads() == before
    with av.open(str(video)) as container:
        decoded = list(container.decode(video=0))
    sliced = VideoReformatter()  # four threads, each converting a slice of the frame
    expected = [sliced.reformat(decoded[0], format="rgb24", width=128, height=96,
                                interpolation="AREA", threads=4),
                sliced.reformat(decoded[1], format="rgb24", threads=4)]
    for frame, reference in zip(got, expected, strict=True):
        np.testing.assert_array_equal(frame, reference.to_ndarray())


@pytest.mark.parametrize("start", [0, 1, 9, 10, 17, 29])
def test_a_stream_started_late_gives_the_same_frames_and_decodes_less(tmp_path, noise, start):
    """Keyframes every 10 frames, with B-frames: decoding starts at the keyframe before."""
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    wanted = np.arange(start, 30)
    expected = _reference(video, wanted)
    with FrameStream(video, start=start) as stream:
        got = list(stream.frames(wanted))
        decoded = stream.decoded
    assert [i for i, _ in got] == wanted.tolist()
    np.testing.assert_array_equal(np.stack([f for _, f in got]), expected)
    assert decoded == 30 - start + start % 10


@pytest.mark.parametrize("start", [45, 80, 89])
def test_a_transport_stream_started_late_seeks_instead_of_decoding_from_the_start(
        tmp_path, noise, start):
    """MPEG-TS (a camcorder's AVCHD .MTS) has no keyframe index: FFmpeg's seek lands on a
    packet past the keyframe before the frame asked for, so the first frame decoded was after
    it and the reader fell back to decoding from the first frame. Every loader of a stretch
    then decoded the video from its beginning (the last one all of it). Keyframes every 10
    frames with B-frames, 90 frames at 25 fps: the same pixels, and at most the second the
    seek aims back by (SEEK_BACK_S) decoded before `start`, not every frame before it."""
    frames = np.concatenate([noise, noise[:, ::-1], noise[:, :, ::-1]])
    video = tmp_path / "camcorder.mts"
    video.write_bytes(_segment(frames, options={"g": "10", "keyint_min": "10", "bf": "2"}))
    info = probe(video)
    assert info.frames == 90
    wanted = np.arange(start, 90)
    expected = _reference(video, wanted)
    with FrameStream(video, start=start, info=info) as stream:
        got = list(stream.frames(wanted))
        decoded = stream.decoded
    assert [i for i, _ in got] == wanted.tolist()
    np.testing.assert_array_equal(np.stack([f for _, f in got]), expected)
    assert decoded - len(wanted) <= SEEK_BACK_S * 25 < start


def test_a_transport_stream_with_keyframes_seconds_apart_seeks_back_far_enough(tmp_path,
                                                                             noise):
    """A keyframe every 4 s (a broadcast or screen recording's long GOP): the seek aims
    back 1, 2, 4 ... s until it reaches the keyframe before the stretch (the one at 8 s for
    frame 250), rather than decoding all 250 frames before it."""
    frames = np.concatenate([noise, noise[:, ::-1]] * 5)
    video = tmp_path / "broadcast.ts"
    video.write_bytes(_segment(frames, options={"g": "100", "keyint_min": "100", "bf": "0",
                                                "sc_threshold": "0"}))
    info = probe(video)
    wanted = np.arange(250, 300)
    with FrameStream(video, start=250, info=info) as stream:
        got = np.stack([f for _, f in stream.frames(wanted)])
        decoded = stream.decoded
    np.testing.assert_array_equal(got, _reference(video, wanted))
    assert decoded == 100  # from the keyframe at frame 200


def test_a_start_past_the_last_frame_is_named(tmp_path, noise):
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    with pytest.raises(ValueError, match=r"gop.mp4: start frame 30 is past the video's 30 "
                       "frames"):
        FrameStream(video, start=30)


def test_a_seek_that_finds_no_frame_falls_back_to_reading_from_the_start(tmp_path, noise,
                                                                        monkeypatch):
    """A seek that fails (as on a file with odd timestamps) reads from the first frame."""
    import microdualnet.video as video_module

    class NoSeek:
        def __init__(self, container):
            self._container = container

        def seek(self, *args, **kwargs):
            raise av.FFmpegError(-1, "seek failed")

        def __getattr__(self, name):
            return getattr(self._container, name)

    def open_without_seeking(path):
        container, stream = opened(path)
        return NoSeek(container), stream

    opened = video_module._open
    monkeypatch.setattr(video_module, "_open", open_without_seeking)
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    expected = _reference(video, [17, 18])
    with FrameStream(video, start=17, info=probe(video)) as stream:
        got = np.stack([f for _, f in stream.frames(np.array([17, 18]))])
        assert stream.decoded == 19
    np.testing.assert_array_equal(got, expected)


def test_frame_times_that_do_not_match_the_probes_are_refused(tmp_path, noise):
    """Decoded frames are checked against the probe's times, so a frame read is the one the
    window plan and the pose file time."""
    video = _write(tmp_path / "gop.mp4", noise, gop=10)
    info = probe(video)
    wrong = type(info)(info.frames, info.fps, info.width, info.height, info.times + 100.0)
    with pytest.raises(InputError, match=r"^video \S*gop.mp4: decoded frame 0 is timed 0.000 s, "
                       r"its packets time frame 0 at 100.000 s \(timestamps out of order"):
        dict(FrameStream(video, info=wrong).frames([3]))


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


def test_a_fragmented_mp4_cut_short_mid_frame_is_read_to_its_last_whole_frame(tmp_path,
                                                                             noise):
    """A crashed recorder's fragmented MP4 (OBS's crash-safe format) ends inside a frame:
    the demuxer hands its part on flagged corrupt, which the decoder refused, so every
    reader failed there (`decoding frame 38 failed`) and the recording was excluded, where
    a player shows it to the cut. Read to its last whole frame, from the start and after a
    seek, as the frames of the whole file."""
    frames = np.concatenate([noise, noise[::-1]])
    video = _write(tmp_path / "obs.mp4", frames, gop=10,
                   options={"movflags": "frag_keyframe+empty_moov"})
    with av.open(str(video)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        keyframe = packets[40]  # closed GOPs: the 40 packets before it are frames 0-39
        assert keyframe.is_keyframe and container.streams.video[0].frames == 0
        cut_at = keyframe.pos + keyframe.size // 2
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:cut_at])
    info = probe(cut)
    assert info.frames == 40 and info.fps == 25.0
    with FrameStream(cut, info=info) as stream:
        whole = np.stack([rgb for _, rgb in stream.frames(range(40))])
    np.testing.assert_array_equal(whole, _reference(video, range(40)))
    with FrameStream(cut, start=35, info=info) as stream:
        assert [i for i, _ in stream.frames(range(35, 40))] == list(range(35, 40))
        assert stream.decoded <= 10


def test_not_a_video_is_an_input_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputError, match="notes.mp4.*not readable"):
        FrameStream(bad)


def _write_timed(path: Path, frames: np.ndarray, pts: list[int], time_base: Fraction,
                 rate: Fraction = Fraction(30), fmt: str = "mp4") -> Path:
    """A video whose frames carry the given timestamps (a phone's variable frame rate) and
    nominal rate, muxed as given (the stream's time base too, so no timestamp is rounded on
    the way into the file)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = stream.time_base = time_base
        stream.options = {"bf": "0"}
        for frame, t in zip(frames, pts, strict=True):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = t, time_base
            out.mux(stream.encode(vf))
        out.mux(stream.encode())
    return path


def test_probe_counts_frames_and_times_them_without_decoding(tmp_path, noise):
    video = _write(tmp_path / "v.mp4", noise)
    info = probe(video)
    assert (info.frames, info.fps, info.width, info.height) == (30, 25.0, 64, 48)
    np.testing.assert_allclose(np.diff(info.times), 0.04, atol=1e-6)
    assert info.duration_s == pytest.approx(1.2)


def test_variable_frame_rate_is_refused_with_the_way_out(tmp_path, noise):
    """Half the video at 30 fps, half at 15 fps (a phone in low light)."""
    steps = [1] * 15 + [2] * 15
    video = _write_timed(tmp_path / "vfr.mp4", noise, list(np.cumsum([0] + steps[:-1])),
                         Fraction(1, 30))
    with pytest.raises(InputError, match=r"vfr.mp4 has a variable frame rate.*ffmpeg"):
        probe(video)


def test_constant_rate_with_one_dropped_frame_is_accepted(tmp_path, noise):
    frames = np.concatenate([noise] * 4)  # 120 frames
    pts = [i for i in range(121) if i != 12]  # frame 12 missing: one interval of 2
    info = probe(_write_timed(tmp_path / "drop.mp4", frames, pts, Fraction(1, 30)))
    assert info.frames == 120 and info.fps == pytest.approx(30.0, rel=0.01)


def test_a_pause_in_the_timestamps_is_refused(tmp_path, noise):
    """Frames 0-59 then, after a 5-s pause, frames 60-119: counting frames would put every
    window after the pause 5 s early."""
    frames = np.concatenate([noise] * 4)
    pts = [i if i < 60 else i + 150 for i in range(120)]
    with pytest.raises(InputError, match=r"pause.mp4: frame \d+ is shown at .* longest pause "
                       r"in its timestamps is 5\.03 s, after 1\.97 s\); re-encode .*fps=30"):
        probe(_write_timed(tmp_path / "pause.mp4", frames, pts, Fraction(1, 30)))


def test_millisecond_timestamps_keep_the_ntsc_rate(tmp_path, noise):
    """Matroska stores times in ms: 29.97 fps intervals alternate 33 and 34 ms, whose median
    (30.3 fps) would drift 1% (2 s over 3 min)."""
    video = tmp_path / "v.mkv"
    with av.open(str(video), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in np.concatenate([noise] * 10):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    info = probe(video)
    assert info.fps == 30000 / 1001  # the container's rate itself, not one near it
    assert info.duration_s == pytest.approx(300 * 1001 / 30000, abs=1e-3)


def test_a_start_trimmed_by_an_edit_list_is_numbered_alike_forward_and_after_a_seek(tmp_path,
                                                                                  noise):
    """`ffmpeg -ss 0.2 -c copy` keeps the 5 frames before the cut as discard packets: they are
    not frames of the video, whether it is read from the start or from a seek."""
    video = _write(tmp_path / "v.mp4", np.concatenate([noise] * 2), gop=10)
    data = bytearray(video.read_bytes())
    elst = data.find(b"elst")
    mdhd = data.find(b"mdhd")  # type, version/flags, creation and modification times
    timescale = int.from_bytes(data[mdhd + 16:mdhd + 20], "big")
    assert elst > 0 and data[elst + 4] == 0  # version 0: 32-bit entries
    media_time = elst + 16  # after version/flags, entry count, segment duration
    start = int.from_bytes(data[media_time:media_time + 4], "big")  # x264's B-frame delay
    data[media_time:media_time + 4] = (start + 5 * timescale // 25).to_bytes(4, "big")
    trimmed = tmp_path / "trimmed.mp4"
    trimmed.write_bytes(bytes(data))
    info = probe(trimmed)
    assert info.frames == 55
    with FrameStream(trimmed) as stream:
        forward = dict(stream.frames(range(55)))  # all of them: none missing at the end
    with FrameStream(trimmed, start=30, info=info) as stream:
        after_seek = dict(stream.frames([30, 40]))
    np.testing.assert_array_equal(after_seek[30], forward[30])
    np.testing.assert_array_equal(after_seek[40], forward[40])
    assert np.abs(forward[0].astype(int) - _reference(video, [5])[0]).mean() < 2


def _elst(data: bytearray) -> tuple[int, int]:
    """Where an mp4's (version 0) edit list entry starts, and its track's media timescale."""
    elst, mdhd = data.find(b"elst"), data.find(b"mdhd")
    assert elst > 0 and data[elst + 4] == 0  # version 0: 32-bit entries
    return elst + 12, int.from_bytes(data[mdhd + 16:mdhd + 20], "big")


def test_an_end_cut_by_an_edit_list_is_not_taken_for_a_truncated_file(tmp_path, noise):
    """A trim without re-encoding (a phone's, QuickTime's) shortens the edit list: the index
    still lists all 60 frames, the demuxer drops those past the cut, and the 40 shown are a
    whole video, not a file cut short."""
    video = _write(tmp_path / "v.mp4", np.concatenate([noise] * 2), gop=10)
    data = bytearray(video.read_bytes())
    entry, _ = _elst(data)
    mvhd = data.find(b"mvhd")
    movie_scale = int.from_bytes(data[mvhd + 16:mvhd + 20], "big")
    duration = int.from_bytes(data[entry:entry + 4], "big")  # in the movie's timescale
    data[entry:entry + 4] = (duration - 20 * movie_scale // 25).to_bytes(4, "big")
    trimmed = tmp_path / "trimmed.mp4"
    trimmed.write_bytes(bytes(data))
    info = probe(trimmed)
    assert (info.frames, info.duration_s) == (40, 1.6)
    with FrameStream(trimmed, info=info) as stream:
        got = np.stack([f for _, f in stream.frames(range(40))])
    np.testing.assert_array_equal(got, _reference(video, range(40)))


def _drop_leading_packets(video: Path, out: Path, count: int, fmt: str) -> Path:
    """`video`'s packets less the first `count`, copied: a recording (or a stream copy)
    that starts between keyframes."""
    with av.open(str(video)) as src, av.open(str(out), "w", format=fmt) as dst:
        stream = src.streams.video[0]
        copy = dst.add_stream_from_template(stream)
        for k, packet in enumerate(p for p in src.demux(stream) if p.size):
            if k >= count:
                packet.stream = copy
                dst.mux(packet)
    return out


@pytest.mark.parametrize("fmt", ["mp4", "mpegts"])
def test_a_recording_that_starts_between_keyframes_is_refused_not_shifted(tmp_path, noise,
                                                                          fmt):
    """Frames 4-9 of a 10-frame GOP without their keyframe: the packets hold 26 frames, the
    decoder gives 20 from the next keyframe on. Counted as frames 0-19 they would each be
    6 frames (0.24 s) later than the index times them, and the video 0.24 s shorter."""
    video = tmp_path / "v.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "10", "keyint_min": "10", "bf": "0"}
        for frame in noise:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    cut = _drop_leading_packets(video, tmp_path / f"cut.{fmt}", 4, fmt)
    info = probe(cut)
    assert info.frames == 26
    with pytest.raises(InputError, match=rf"^video {cut}: 6 frame\(s\) from frame 0 on cannot "
                       r"be decoded \(the decoder's next frame is the one timed \d+\.\d+ s, "
                       r"frame 6\): a recording that starts without a keyframe, or damaged data; "
                       r"re-encode it, e\.g\. ffmpeg -i IN -c:v libx264 OUT\.mp4$"):
        read_frames(cut, np.array([0, 3]), info)


def test_frames_stamped_in_decode_order_are_read_in_display_order(tmp_path, noise):
    """AVI stamps packets in decode order, so B-frames come out of the decoder with other
    frames' stamps: their order, not their stamps, numbers them (as in a plain decode)."""
    video = tmp_path / "v.avi"
    with av.open(str(video), "w", format="avi") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in noise:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    info = probe(video)
    assert not info.frames_carry_times
    with FrameStream(video, info=info) as stream:
        got = np.stack([f for _, f in stream.frames(range(30))])
    np.testing.assert_array_equal(got, _reference(video, range(30)))


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.unlink(), "does not exist"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("not a video"), "not readable"),
])
def test_probe_of_a_bad_file_names_it(tmp_path, noise, damage, needle):
    video = _write(tmp_path / "bad.mp4", noise)
    damage(video)
    with pytest.raises(InputError, match=f"bad.mp4.*{needle}"):
        probe(video)


def test_truncated_file_whose_index_promises_more_frames_is_refused(tmp_path, noise):
    video = _write(tmp_path / "v.mp4", noise, options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:len(video.read_bytes()) // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        probe(cut)


def test_frames_scaled_while_converting_match_an_area_resize(tmp_path):
    """Pose reads HD frames brought down by FFmpeg; close to OpenCV's area resize."""
    import cv2

    y, x = np.mgrid[0:96, 0:128]
    smooth = np.stack([np.stack([(x + 3 * t) % 256, (y * 2) % 256, (x + y) % 256], -1)
                       for t in range(8)]).astype(np.uint8)  # what cameras see: no pixel noise
    video = _write(tmp_path / "v.mp4", smooth)
    with FrameStream(video) as stream:
        small = [f for _, f in stream.frames([3, 4], size=(32, 24))]
    full = _reference(video, [3, 4])
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for f in small)
    expected = np.stack([cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA) for f in full])
    assert np.abs(np.stack(small).astype(int) - expected).mean() < 3
    # Fine stripes (2 px): averaged to grey by an area resize, kept black or white by
    # picking pixels, so this tells the two apart where the gradients above cannot.
    stripes = np.repeat(((x % 2) * 255)[None, ..., None], 3, -1).repeat(4, 0).astype(np.uint8)
    with FrameStream(_write(tmp_path / "s.mp4", stripes)) as stream:
        grey = np.stack([f for _, f in stream.frames([1, 2], size=(32, 24))]).astype(int)
    assert np.abs(grey - 128).mean() < 20


def test_skipping_deblocking_changes_pixels_only_slightly_once_scaled_down(tmp_path):
    """`skip_deblocking` reaches the decoder (full-size pixels differ) and the difference
    shrinks when frames are scaled down a third. On sharp, wrapping stripes at crf 23 it is
    about 1.5 grey levels; on camera-like 1080p it is 0.6 (docs/benchmarks.md)."""
    y, x = np.mgrid[0:144, 0:192]
    moving = np.stack([np.stack([(x * 2 + 5 * t) % 256, (y * 3 + 2 * t) % 256,
                                 (x + y + t) % 256], -1) for t in range(24)]).astype(np.uint8)
    video = tmp_path / "deblocked.mp4"
    with av.open(str(video), "w", format="mp4") as out:  # libx264's in-loop filter on
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 192, 144, "yuv420p"
        stream.options = {"crf": "23"}
        for frame in moving:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    wanted = list(range(24))
    read = {}
    for skip in (False, True):
        for size in (None, (64, 48)):
            with FrameStream(video, skip_deblocking=skip) as frames:
                read[skip, size] = np.stack([f for _, f in frames.frames(wanted, size)]
                                            ).astype(int)
    np.testing.assert_array_equal(read[False, None], _reference(video, wanted))
    full = np.abs(read[True, None] - read[False, None]).mean()
    scaled = np.abs(read[True, (64, 48)] - read[False, (64, 48)]).mean()
    assert full > 0.2 and scaled < min(full, 2.0)


def test_a_file_without_a_video_stream_is_named(tmp_path):
    with wave.open(str(tmp_path / "voice.wav"), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 800)
    with pytest.raises(InputError, match=r"video .*voice.wav has no video stream"):
        probe(tmp_path / "voice.wav")


def test_a_codec_ffmpeg_cannot_decode_is_named_with_the_way_out(tmp_path, noise):
    """A WebM whose codec this FFmpeg has no decoder for (its Matroska codec id made one no
    decoder knows, as a codec left out of a build would be): an AttributeError on the
    stream's width before."""
    webm = tmp_path / "call.webm"
    with av.open(str(webm), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in noise[:5]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    data = webm.read_bytes()
    assert data.count(b"V_VP8") == 1
    webm.write_bytes(data.replace(b"V_VP8", b"V_QQ8"))
    message = (rf"^video {webm} is in a video codec this FFmpeg build \(PyAV .*\) cannot decode"
               r" \(ffprobe IN names it\); re-encode it, e\.g\. ffmpeg -i IN -c:v libx264 "
               r"OUT\.mp4$")
    with pytest.raises(InputError, match=message):
        probe(webm)
    with pytest.raises(InputError, match=message):
        FrameStream(webm)


@pytest.mark.parametrize("aspect, refused", [(Fraction(4, 3), True), (Fraction(16, 15), True),
                                             (Fraction(1), False)])
def test_non_square_pixels_are_refused_with_the_way_out(tmp_path, noise, aspect, refused):
    """HDV (4:3) or PAL DV (16:15) stores pixels narrower than shown: read as stored, every
    person would be squeezed, so the file is refused rather than read distorted."""
    video = tmp_path / "anamorphic.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.sample_aspect_ratio = aspect
        for frame in noise[:4]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    if not refused:
        assert (probe(video).width, probe(video).height) == (64, 48)
        return
    assert probe(video, square_pixels=False).width == 64  # training clips: read as stored
    with pytest.raises(InputError, match=(
            rf"anamorphic.mp4 has non-square pixels \(sample aspect ratio "
            rf"{aspect.numerator}:{aspect.denominator}: stored 64x48, shown "
            rf"{round(64 * aspect)}x48\); .* re-encode it, e\.g\. ffmpeg -i IN -vf "
            r"\"scale=trunc\(iw\*sar/2\)\*2:ih,setsar=1\" -c:v libx264 OUT\.mp4$")):
        probe(video)  # progressive: no deinterlacing in the way out


def _segment(frames: np.ndarray, first_pts: int = 0, options: dict | None = None,
             m2ts: bool = False) -> bytes:
    """An H.264 MPEG-TS segment whose timestamps start at `first_pts` (frames at 25 fps;
    by default without B-frames, for which the muxer would shift a first segment's times);
    `m2ts`: in AVCHD's 192-byte packets (a camcorder's .MTS)."""
    import io

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts",
                 options={"mpegts_m2ts_mode": "1"} if m2ts else {}) as out:
        stream = out.add_stream("libx264", rate=Fraction(25), options=options or {"bf": "0"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = first_pts + i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buffer.getvalue()


def test_a_frame_size_changing_mid_stream_is_refused_naming_the_frame(tmp_path, noise):
    """Two recordings of different sizes joined into one stream (`cat a.ts b.ts`, a camera
    that switched resolution) carry the first one's size in their header: the later frames
    were scaled to it by pose and infer (squeezed where the shape differs) or failed in a
    stack of frames with a bare ValueError. Refused at the first frame of the new size, by
    a reader from the start and by one that seeks past the change, with a command that
    fits every frame into the larger size (a video call's recording starts small)."""
    rng = np.random.default_rng(3)
    large = rng.integers(0, 256, (30, 96, 96, 3), np.uint8)
    video = tmp_path / "joined.ts"
    video.write_bytes(_segment(noise, 0) + _segment(large, len(noise)))
    info = probe(video)
    assert (info.frames, info.width, info.height) == (len(noise) + 30, 64, 48)
    message = (r"joined.ts: frame 30 is 96x96, the video's frames are 64x48 \(recordings of "
               r"two sizes joined into one file, or a call whose sender changed resolution\?\);"
               r" its frames: 30 at 64x48, 30 at 96x96;"
               r' re-encode it to one size, e.g. ffmpeg -i IN -vf "scale=96:96:'
               r'force_original_aspect_ratio=decrease,pad=96:96:\(ow-iw\)/2:\(oh-ih\)/2,setsar=1"')
    with pytest.raises(InputError, match=message):
        read_frames(video, np.arange(0, info.frames, 4), info)
    with pytest.raises(InputError, match=message), \
            FrameStream(video, start=40, info=info) as stream:
        list(stream.frames(range(40, 50)))
    with FrameStream(video) as stream:  # without the probe: the first frame's size
        assert [i for i, _ in stream.frames(range(30))] == list(range(30))
        with pytest.raises(InputError, match=message):
            list(stream.frames([31]))


@pytest.mark.parametrize("width, height", [(64, 64), (48, 96)])
def test_a_size_change_is_refused_whichever_side_changes_fitting_into_the_commoner(
        tmp_path, noise, width, height):
    """Frames as wide as the first but taller are another size too; the way out fits every
    frame into the size of the shape most frames have, here the later one (50 frames against
    30): 64x64, or 48x96 though it is narrower than 64x48."""
    later = np.random.default_rng(4).integers(0, 256, (50, height, width, 3), np.uint8)
    video = tmp_path / "joined.ts"
    video.write_bytes(_segment(noise, 0) + _segment(later, len(noise)))
    with pytest.raises(InputError, match=rf"joined.ts: frame 30 is {width}x{height}, the "
                                         rf"video's frames are 64x48 .* -vf \"scale={width}:"
                                         rf"{height}:force_original_aspect_ratio=decrease,"
                                         rf"pad={width}:{height}:"):
        read_frames(video, np.arange(40))


def _filtered(frame: av.VideoFrame, chain: str) -> np.ndarray:
    """`frame` through an ffmpeg -vf chain (FFmpeg's filters, run by PyAV), as RGB."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=frame.width, height=frame.height,
                              format=frame.format.name, time_base=Fraction(1, 25))]
    nodes += [graph.add(*step.split("=", 1)) for step in chain.split(",")]
    nodes.append(graph.add("buffersink"))
    for a, b in zip(nodes, nodes[1:], strict=False):
        a.link_to(b)
    graph.configure()
    graph.push(frame)
    return graph.pull().to_ndarray(format="rgb24")


def test_the_way_out_for_a_size_change_keeps_the_pictures_shape(tmp_path, noise):
    """A call recorded landscape whose sender turned their phone upright (WebRTC sends the
    new shape; a browser's recorder keeps it in one stream): the suggested re-encode fits
    the portrait frames into the first size with their shape kept. Scaled plainly to
    64x48, a square in a 48x64 frame came out 22x12 pixels (about 3-fold flatter)."""
    portrait = np.zeros((30, 64, 48, 3), np.uint8)
    portrait[:, 24:40, 16:32] = 255  # a 16x16 white square
    video = tmp_path / "call.ts"
    video.write_bytes(_segment(noise, 0) + _segment(portrait, len(noise)))
    with pytest.raises(InputError, match=r"frame 30 is 48x64") as refused:
        read_frames(video, np.arange(40, 41))
    chain = re.search(r'-vf "([^"]+)" -c:v libx264 OUT\.mp4$', str(refused.value)).group(1)
    with av.open(str(video)) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 40)
    fixed = _filtered(frame, chain)
    assert fixed.shape == (48, 64, 3)
    rows, cols = np.nonzero(fixed.mean(axis=2) > 128)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert abs(width - height) <= 1 and 11 <= height <= 13  # 16 * 48 / 64, still square


def _marked(width: int, height: int, count: int, turns: int = 0) -> np.ndarray:
    """`count` grey frames shown `width`x`height` with a white top-left corner, stored turned
    back by `turns` counter-clockwise quarter turns (a display rotation turns them upright)."""
    upright = np.full((height, width, 3), 60, np.uint8)
    upright[:height // 4, :width // 4] = 255
    return np.stack([np.rot90(upright, -turns)] * count)


def _sizes_stepping_up(turns: int = 0) -> bytes:
    """A call that steps its resolution up twice, 64x36 -> 96x54 -> 128x72 stored, 10 frames
    each, joined in one MPEG-TS stream whose clock runs on; stored turned back by `turns`."""
    shown = [(36, 64), (54, 96), (72, 128)] if turns % 2 else [(64, 36), (96, 54), (128, 72)]
    return b"".join(_segment(_marked(w, h, 10, turns), 10 * k)
                    for k, (w, h) in enumerate(shown))


def _chain(message: str) -> str:
    return re.search(r'-vf "([^"]+)" -c:v libx264 OUT\.mp4$', message).group(1)


def test_a_call_stepping_its_resolution_up_twice_is_fitted_into_the_largest(tmp_path):
    """The refusal came at the first step and fitted every frame into the larger of the two
    sizes it knew (96x54), shrinking the last, largest stretch; it now names every size
    with its frames (the file's, not only those read) and fits them into the largest."""
    video = tmp_path / "call.ts"
    video.write_bytes(_sizes_stepping_up())
    info = probe(video)
    sizes = r"its frames: 10 at 64x36, 10 at 96x54, 10 at 128x72; re-encode it to one size"
    with pytest.raises(InputError, match=rf"frame 10 is 96x54, .*{sizes}") as refused:
        read_frames(video, np.arange(info.frames), info)
    chain = _chain(str(refused.value))
    assert chain.startswith("scale=128:72:")
    with av.open(str(video)) as container:
        frames = list(container.decode(video=0))
    for i in (0, 15, 25):
        assert _filtered(frames[i], chain).shape == (72, 128, 3)


# ffmpeg's command line turns a frame upright (its autorotate) before the -vf chain: for a
# display rotation counter-clockwise by 90 or 270 degrees, with these filters.
_AUTOROTATE = {90: "transpose=cclock", 270: "transpose=clock"}


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_phone_recording_whose_size_changes_is_fitted_at_its_displayed_size(tmp_path,
                                                                              rotation):
    """A phone's call recording (stored landscape, shown portrait) whose size changes was
    named, and fitted, in its stored sizes: ffmpeg turns frames upright before the chain,
    so the portrait pictures came out pillarboxed into 96x54 landscape frames, at half
    their height. Named as shown and fitted into 72x128, each comes out upright and whole."""
    stepped = tmp_path / "stepped.ts"
    stepped.write_bytes(_sizes_stepping_up(rotation // 90))
    video = tmp_path / "phone.mp4"
    with av.open(str(stepped)) as src, av.open(str(video), "w", format="mp4") as dst:
        copy = dst.add_stream_from_template(src.streams.video[0])
        copy.set_display_rotation(rotation)
        for packet in src.demux(video=0):
            if packet.size:
                packet.stream = copy
                dst.mux(packet)
    info = probe(video)
    assert (info.width, info.height, info.rotation) == (36, 64, rotation)
    with pytest.raises(InputError, match=r"frame 10 is 54x96, the video's frames are 36x64 .*"
                       r"its frames: 10 at 36x64, 10 at 54x96, 10 at 72x128;") as refused:
        read_frames(video, np.arange(info.frames), info)
    chain = f"{_AUTOROTATE[rotation]},{_chain(str(refused.value))}"
    with av.open(str(video)) as container:
        frames = list(container.decode(video=0))
    for i in (0, 15, 25):
        fixed = _filtered(frames[i], chain).mean(axis=2)
        assert fixed.shape == (128, 72)
        rows, cols = np.nonzero(fixed > 200)  # the white corner: top left, upright
        assert rows.max() < 128 / 4 + 2 and cols.max() < 72 / 4 + 2
        assert fixed[-10:, -10:].mean() < 100  # the picture fills its frame: no padding


@pytest.mark.parametrize(("sizes", "fit"), [
    # one shape: the largest, however few of its frames (the rest are only enlarged)
    ({(640, 360): 10, (960, 540): 10, (1280, 720): 10}, (1280, 720)),
    ({(640, 360): 1000, (1280, 720): 5}, (1280, 720)),
    ({(1280, 720): 5, (640, 360): 1000}, (1280, 720)),
    # shapes apart: the shape most frames have, larger frames of another shape fitted in
    ({(720, 1280): 100, (1280, 720): 900}, (1280, 720)),
    ({(1280, 720): 900, (1080, 1920): 50}, (1280, 720)),
    ({(854, 480): 10, (1280, 720): 10, (720, 1280): 15}, (1280, 720)),  # 854x480 is 16:9
    ({(64, 48): 30, (48, 64): 30}, (64, 48)),  # as common and as large: the first
    ({(1920, 1080): 10, (1280, 800): 15}, (1280, 800)),  # 16:10 is not 16:9 (10% apart)
    # odd sizes (a resized call window): H.264 needs even ones, the frames padded a line
    ({(639, 359): 10, (1279, 719): 10}, (1280, 720)),
])
def test_the_size_a_recording_of_several_sizes_is_fitted_into(sizes, fit):
    assert _fit_size(sizes) == fit


@pytest.mark.parametrize("m2ts", [False, True])
def test_joined_recordings_are_read_as_one_where_the_clock_continues_else_refused(
        tmp_path, noise, m2ts):
    """A camcorder splits a long recording into 00000.MTS, 00001.MTS ... whose clock runs on:
    joined (`cat`), they are one recording, read as one, also after a seek past the join.
    Two recordings joined whose clocks restart were sorted into one timeline: the same start
    gave "frames with equal timestamps; re-encode it", a start 0.4 s in "a variable frame
    rate" with an fps=25 re-encode (which made 300 or 252 frames of two 4-s recordings'
    200, restarting at 0 or 2 s), one an hour on a pause of an hour at 0.016 fps, one
    restarted at the last frame's time read at 25.43 fps with two frames shown at once;
    refused naming the join and the concat demuxer's command, which continues the clock."""
    second = noise[:, ::-1]
    files = [tmp_path / "00000.MTS", tmp_path / "00001.MTS"]
    files[0].write_bytes(_segment(noise, 0, m2ts=m2ts))
    files[1].write_bytes(_segment(second, 30, m2ts=m2ts))
    joined = tmp_path / "joined.mts"
    joined.write_bytes(files[0].read_bytes() + files[1].read_bytes())
    info = probe(joined)
    assert info.frames == 60 and info.fps == 25.0
    np.testing.assert_allclose(np.diff(info.times), 0.04, atol=1e-9)
    expected = np.concatenate([_reference(f, range(30)) for f in files])
    np.testing.assert_array_equal(read_frames(joined, np.arange(60), info), expected)
    np.testing.assert_array_equal(read_frames(joined, np.arange(33, 60), info), expected[33:])
    # Restarted at the same time, 0.4 s in, at the last frame's time, 30 s on, an hour on,
    # and an hour before a clock that was at 10 h (over a minute back: FFmpeg takes it for
    # the clock's wrap, 26.5 h on).
    for starts, to in (((0, 0), "0.00"), ((0, 10), "0.40"), ((0, 29), r"1\.16"),
                       ((0, 780), r"31\.20"), ((0, 90000), "3600.00"),
                       ((900000, 0), r"59443\.72")):
        video = tmp_path / f"restart{starts[1]}.mts"
        video.write_bytes(_segment(noise, starts[0], m2ts=m2ts)
                          + _segment(second, starts[1], m2ts=m2ts))
        with pytest.raises(InputError, match=(
                rf"^video {video}: its timestamps jump from 1\.16 s to {to} s at frame "
                r"30 in file order \(recordings whose clocks restart joined into one file, "
                r"e\.g\. cat 00000\.MTS 00001\.MTS\); .* ffmpeg -f concat -safe 0 -i "
                r"LIST\.txt -c copy OUT\.MTS \(LIST\.txt: a line file 'NAME\.MTS' per file, "
                r"in order\)$")):
            probe(video)


def test_a_transport_stream_pausing_under_ten_seconds_is_named_as_a_pause(tmp_path, noise):
    """A leap of the clock within CLOCK_JUMP_S (here 5 s: a recorder paused) is a pause in
    one recording, not recordings joined: refused with the pause's fps= re-encode, which
    reads it at the player's times, not the concat demuxer's command."""
    video = tmp_path / "paused.mts"
    video.write_bytes(_segment(noise, 0) + _segment(noise[:, ::-1], 30 + 125))
    with pytest.raises(InputError, match=r"paused.mts: frame 30 is shown at 6\.20 s, .* \(the "
                                         r"longest pause in its timestamps is 5\.04 s, after "
                                         r"1\.16 s\); re-encode it at a constant rate, e\.g\. "
                                         r".*fps=25 "):
        probe(video)


@pytest.mark.parametrize("seconds_before_wrap", [0.6, 61.0])
def test_a_transport_stream_clock_wrapping_inside_the_recording_is_read_on(
        tmp_path, noise, seconds_before_wrap):
    """The MPEG-TS clock wraps after 2^33 ticks of 90 kHz (26.5 h), anywhere in a camcorder's
    recording: FFmpeg carries the times on past the wrap (within 60 s of it by taking 2^33
    off the earlier ones, else by adding it to the later ones), so the frames keep their
    order and rate, and seeking past the wrap finds the frames decoded from the start."""
    frames = np.concatenate([noise, noise[:, ::-1]])
    first = round((2**33 / 90000 - seconds_before_wrap) * 25)
    video = tmp_path / "wrap.mts"
    video.write_bytes(_segment(frames, first, options={"g": "10", "bf": "2"}, m2ts=True))
    info = probe(video)
    assert info.frames == 60 and info.fps == 25.0 and info.first_frame_s == 0.0
    np.testing.assert_allclose(np.diff(info.times), 0.04, atol=1e-9)
    expected = _reference(video, range(60))
    for start in (0, 20, 45):
        np.testing.assert_array_equal(read_frames(video, np.arange(start, 60), info),
                                      expected[start:])


def test_a_long_pause_is_named_at_the_frames_own_rate(tmp_path, noise):
    """Frames 0-59 then, after a minute's pause, frames 60-119 at 30 fps: the rate the message
    counted frames at was the one measured over the whole file (1.860 fps), skewed by the
    pause; it is the frames' own, 30 fps."""
    frames = np.concatenate([noise] * 4)
    pts = [i if i < 60 else i + 1800 for i in range(120)]
    with pytest.raises(InputError, match=(
            r"pause.mp4: frame \d+ is shown at 6\d\.\d\d s, but counting frames at 30\.000 fps "
            r"puts it at [23]\.\d\d s \(the longest pause in its timestamps is 60\.03 s, after "
            r"1\.97 s\); .*fps=30 ")):
        probe(_write_timed(tmp_path / "pause.mp4", frames, pts, Fraction(1, 30)))


def test_a_second_video_stream_is_refused_and_cover_art_is_not_one(tmp_path, noise):
    """A camera's small preview stored first would be read as the recording (2 frames at 1 fps
    here): two video streams are refused; an attached cover picture is no recording."""
    video = tmp_path / "two.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        preview = out.add_stream("libx264", rate=Fraction(1))
        camera = out.add_stream("libx264", rate=Fraction(25))
        preview.width, preview.height, preview.pix_fmt = 32, 24, "yuv420p"
        camera.width, camera.height, camera.pix_fmt = 64, 48, "yuv420p"
        out.mux(preview.encode(av.VideoFrame.from_ndarray(noise[0, :24, :32], format="rgb24")))
        for frame in noise:
            out.mux(camera.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(preview.encode())
        out.mux(camera.encode())
    with pytest.raises(InputError, match=r"two.mp4 has 2 video streams \(32x24, 64x48\); keep "
                                         r"only the camera's, e.g. ffmpeg -i IN -map 0:v:1"):
        probe(video)
    with pytest.raises(InputError, match=r"two.mp4 has 2 video streams"):
        FrameStream(video)
    covered = tmp_path / "covered.mp4"
    with av.open(str(covered), "w", format="mp4") as out:
        cover = out.add_stream("mjpeg", rate=Fraction(1))
        cover.width, cover.height, cover.pix_fmt = 32, 24, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        camera = out.add_stream("libx264", rate=Fraction(25))
        camera.width, camera.height, camera.pix_fmt = 64, 48, "yuv420p"
        out.mux(cover.encode(av.VideoFrame.from_ndarray(noise[0, :24, :32], format="rgb24")))
        out.mux(cover.encode())
        for frame in noise:
            out.mux(camera.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(camera.encode())
    with av.open(str(covered)) as container:
        assert len(container.streams.video) == 2
    info = probe(covered)
    assert (info.frames, info.fps, info.width, info.height) == (30, 25.0, 64, 48)
    with FrameStream(covered) as stream:
        np.testing.assert_array_equal(dict(stream.frames([29]))[29],
                                      _reference(covered, [29])[0])


@pytest.mark.parametrize("rotation", [90, -90])
def test_a_phone_video_turned_a_quarter_is_read_with_its_probe_from_any_frame(tmp_path,
                                                                              noise, rotation):
    """The size every frame is checked against is the stored one: a phone's portrait video
    (stored 64x48, shown 48x64) read with its probe, from the start and after a seek, gives
    its frames turned upright, not a size change refused at the first frame."""
    video = tmp_path / "phone.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25), options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(rotation)
        for frame in noise:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    info = probe(video)
    assert (info.width, info.height) == (48, 64)
    turned = np.rot90(_reference(video, range(30)), rotation // 90, axes=(1, 2))
    for start in (0, 15):
        with FrameStream(video, start=start, info=info) as stream:
            got = np.stack([f for _, f in stream.frames(range(start, 30))])
        np.testing.assert_array_equal(got, turned[start:])


def test_a_rotation_that_is_not_a_quarter_turn_is_refused(tmp_path, noise):
    video = tmp_path / "tilted.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(45)
        for frame in noise[:4]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    with pytest.raises(InputError, match=r"tilted.mp4 asks to be shown rotated by 45 degrees; "
                                         r"only multiples of 90"):
        probe(video)


# Luma weights (Kr, Kb) of the colour matrices a file can tag: FFmpeg's AVColorSpace ids.
_MATRICES = {1: (0.2126, 0.0722), 6: (0.299, 0.114)}  # BT.709, BT.601 (SMPTE 170M)


@pytest.mark.parametrize("colorspace", [1, 6])
@pytest.mark.parametrize("color_range", [1, 2])  # limited (MPEG), full (JPEG)
def test_frames_are_converted_with_the_matrix_and_range_the_file_tags(tmp_path, colorspace,
                                                                      color_range):
    """Saturated colours stored as YUV by the tagged matrix and range come back as the RGB
    they were (read with the other matrix they move by up to 28 grey levels, with the other
    range by up to 19): the same scene gives the model the same input however it was coded."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200), (230, 200, 150)]):
        rgb[:, 16 * i:16 * (i + 1)] = colour
    kr, kb = _MATRICES[colorspace]
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 - 2 * kb), (r - y) / (2 - 2 * kr)
    luma, chroma = (219 / 255, 224 / 255) if color_range == 1 else (1.0, 1.0)
    yuv = np.stack([16 * (color_range == 1) + luma * y, 128 + chroma * cb, 128 + chroma * cr])
    planes = np.clip(np.round(yuv), 0, 255).astype(np.uint8)
    video = tmp_path / "tagged.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.options = {"qp": "0"}  # lossless: the stored YUV is the YUV made here
        stream.codec_context.colorspace = colorspace
        stream.codec_context.color_range = color_range
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv444p")))
        out.mux(stream.encode())
    with FrameStream(video) as frames:
        got = dict(frames.frames([2]))[2]
    assert np.abs(got.astype(int) - rgb).max() <= 2


@pytest.mark.parametrize(("transfer", "name"), [(18, "HLG"), (16, "PQ \\(HDR10\\)")])
@pytest.mark.parametrize(("codec", "container"), [("libx264", "mp4"), ("mpeg4", "matroska")])
def test_an_hdr_recording_is_refused_with_a_tone_mapping_command(tmp_path, noise, transfer,
                                                                 name, codec, container):
    """A phone's HDR video (HLG) or HDR10 (PQ), tagged in the H.264 stream or only in the
    container (MPEG-4 Part 2 in Matroska), read as SDR is far darker and paler than a player
    shows it (43 grey levels on average, half the saturation, in a synthetic HLG scene)."""
    video = tmp_path / f"hdr.{container[:3]}"
    with av.open(str(video), "w", format=container) as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.color_trc = transfer
        stream.codec_context.color_primaries = stream.codec_context.colorspace = 9  # BT.2020
        for frame in noise[:4]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    with pytest.raises(InputError, match=(
            rf"^video \S+hdr.{container[:3]} is HDR video \({name} transfer\): read as SDR its "
            r"colours would be darker and paler than a player shows them; tone-map it to SDR, "
            r'e\.g\. ffmpeg -i IN -vf "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,'
            r'tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p" -c:v libx264 '
            r"OUT\.mp4$")):
        probe(video)


def test_an_sdr_recording_tagged_bt709_throughout_is_read(tmp_path, noise):
    """BT.709's own transfer (and primaries) are SDR: such a file is no HDR recording."""
    tagged = tmp_path / "bt709.mp4"
    with av.open(str(tagged), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.color_trc = stream.codec_context.color_primaries = 1
        stream.codec_context.colorspace = 1
        for frame in noise[:4]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    assert probe(tagged).frames == 4


def test_a_one_frame_video_has_the_containers_rate(tmp_path, noise):
    info = probe(_write(tmp_path / "one.mp4", noise[:1]))
    assert (info.frames, info.fps, info.times.tolist()) == (1, 25.0, [0.0])


def test_a_file_missing_only_its_last_frame_is_refused(tmp_path, noise):
    """Cut where the last frame's data starts: one frame fewer than the index lists."""
    video = _write(tmp_path / "v.mp4", noise, options={"movflags": "faststart"})
    with av.open(str(video)) as container:
        last = max(p.pos for p in container.demux(video=0) if p.size)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:last])
    with pytest.raises(InputError, match=r"cut.mp4 is truncated: its index lists 30 frames, "
                                         r"the file holds 29"):
        probe(cut)


def test_a_recording_whose_first_frame_is_not_at_zero_is_counted_from_it(tmp_path, noise):
    """A camera's clock (or a cut without an edit list) can start the times at 2 s: frame i
    is still shown i / fps after the first, and seeking finds the same frames."""
    frames = np.concatenate([noise] * 4)
    video = _write_timed(tmp_path / "late.mp4", frames, [60 + i for i in range(120)],
                         Fraction(1, 30))
    info = probe(video)
    assert (info.frames, info.fps) == (120, 30.0) and info.times[0] == 2.0
    # An mp4's timeline starts at 0: players show 2 s of lead-in, the first frame at 2 s.
    assert (info.first_frame_s, info.end_s) == (2.0, 6.0)
    with FrameStream(video) as stream:
        forward = dict(stream.frames([45, 100]))
    with FrameStream(video, start=45, info=info) as stream:
        after_seek = dict(stream.frames([45, 100]))
    for i in (45, 100):
        np.testing.assert_array_equal(after_seek[i], forward[i])


@pytest.mark.parametrize("pause_frames, refused", [(12, False), (24, True)])
def test_a_pause_is_refused_once_it_misplaces_frames_by_more_than_the_drift_allowed(
        tmp_path, noise, pause_frames, refused):
    """A pause spreads into about half its length of misplacement each side of it: 0.4 s
    (0.2 s each way) is within MAX_DRIFT_S = 0.25 s, 0.8 s is not."""
    frames = np.concatenate([noise] * 4)
    pts = [i if i < 60 else i + pause_frames for i in range(120)]
    video = _write_timed(tmp_path / "pause.mp4", frames, pts, Fraction(1, 30))
    if refused:
        with pytest.raises(InputError, match=r"pause.mp4: frame \d+ is shown at"):
            probe(video)
    else:
        assert probe(video).frames == 120


def test_read_frames_past_the_end_names_the_file_and_the_count(tmp_path, noise):
    video = _write(tmp_path / "v.mp4", noise)
    with pytest.raises(InputError, match=r"v.mp4: frames 0-30 asked for, it has 30"):
        read_frames(video, np.array([0, 30]))
    with pytest.raises(InputError, match=r"v.mp4: frames -1-2 asked for, it has 30"):
        read_frames(video, np.array([2, -1]))
    with pytest.raises(ValueError, match="read_frames: no frame indices given"):
        read_frames(video, np.array([], np.int64))


def test_write_mp4_gives_a_video_probe_reads_back(tmp_path):
    """8-px blocks of one colour each, so chroma subsampling keeps them."""
    blocks = np.random.default_rng(1).integers(0, 256, (7, 6, 8, 3), dtype=np.uint8)
    frames = blocks.repeat(8, 1).repeat(8, 2)
    video = tmp_path / "out.mp4"
    assert write_mp4(video, list(frames), fps=12.5, width=64, height=48, crf=0) == 7
    info = probe(video)
    assert (info.frames, info.fps, info.width, info.height) == (7, 12.5, 64, 48)
    got = read_frames(video, np.arange(7), info)
    assert np.abs(got.astype(int) - frames).mean() < 8  # colour conversion only


def test_write_mp4_refuses_odd_sizes_and_wrong_frames_without_leaving_a_file(tmp_path, noise):
    with pytest.raises(InputError, match=r"video .*odd.mp4: size must be even for H.264 "
                                         r"\(got 63x48\)"):
        write_mp4(tmp_path / "odd.mp4", [noise[0][:, :63]], fps=25, width=63, height=48)
    with pytest.raises(InputError, match=r"size must be even for H.264 \(got 64x47\)"):
        write_mp4(tmp_path / "odd.mp4", [noise[0][:47]], fps=25, width=64, height=47)
    with pytest.raises(ValueError, match=r"frame 1 has shape \(48, 32, 3\), expected "
                                         r"\(48, 64, 3\)"):
        write_mp4(tmp_path / "mixed.mp4", [noise[0], noise[1][:, :32]], fps=25, width=64,
                  height=48)
    assert not list(tmp_path.iterdir())


def test_deblocking_is_skipped_from_the_stated_reduction_on():
    assert skip_deblocking_for(SKIP_DEBLOCKING_FROM) and not skip_deblocking_for(2.49)


def test_a_raw_h264_stream_without_timestamps_is_refused_with_the_way_out(tmp_path):
    """A bare .h264 stream has no packet times: refused naming it, not timed as NaN."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")))
        out.mux(stream.encode())
    with pytest.raises(InputError, match=rf"^video {path} has frames without timestamps; "
                       r"re-encode it \(e\.g\. ffmpeg -i IN -c:v libx264 OUT\.mp4\)$"):
        probe(path)


def _write_muxed(path: Path, pts: list[int], time_base: Fraction, rate: Fraction,
                 fmt: str = "mp4") -> Path:
    """A 32x32 noise video with the given frame timestamps and nominal rate."""
    frames = np.random.default_rng(2).integers(0, 256, (len(pts), 32, 32, 3), dtype=np.uint8)
    return _write_timed(path, frames, pts, time_base, rate, fmt)


def test_frames_sharing_timestamps_are_refused_naming_the_file(tmp_path):
    """Every time twice (a muxer that duplicated frames): the median interval is 0, which
    would give an infinite rate (Matroska accepts equal timestamps; mp4 does not)."""
    video = _write_muxed(tmp_path / "twice.mkv", [i // 2 * 40 for i in range(30)],
                         Fraction(1, 1000), Fraction(25), fmt="matroska")
    with av.open(str(video)) as container:  # the file really holds the equal times
        assert [p.pts for p in container.demux(video=0) if p.size][:4] == [0, 0, 40, 40]
    with pytest.raises(InputError, match=rf"^video {video} has frames with equal timestamps; "
                                         r"re-encode it$"):
        probe(video)


@pytest.mark.parametrize("beyond", [2, 3])
def test_variable_rate_share_and_tolerance_are_counted_as_stated(tmp_path, beyond):
    """100 intervals of 8/256 s (32 fps), exact in binary: 20 of them 25% off (10 and 6
    ticks) are within VFR_TOLERANCE and not counted; `beyond` are 37.5% off (11 and 5
    ticks): 2 of 100 is VFR_MAX_SHARE itself and accepted, 3 are refused."""
    steps = [8] * 100
    steps[5:15], steps[60:70] = [10] * 10, [6] * 10
    for k, step in zip(range(beyond), [11, 5, 11], strict=False):
        steps[20 + 20 * k] = step
    video = _write_muxed(tmp_path / "cfr.mp4", np.cumsum([0] + steps).tolist(),
                         Fraction(1, 256), Fraction(32))
    if beyond == 2:
        info = probe(video)
        assert (info.frames, info.fps) == (101, 32.0)
    else:
        with pytest.raises(InputError, match=rf"^video {video} has a variable frame rate "
                           r"\(3% of frame intervals are not 31\.2 ms; from 19\.5 to 43\.0 "
                           r"ms\); re-encode it at a constant rate, e\.g\. ffmpeg -i IN "
                           r"-vf fps=32 -c:v libx264 OUT\.mp4$"):
            probe(video)


@pytest.mark.parametrize("nominal, last_ms, fps", [
    (24, 40, 25.0),  # the container says 24 fps, the frames come every 40 ms: 4% off
    (25, 43, 25.0),  # 100 intervals over 4.003 s: 24.981 fps, within NOMINAL_RTOL of 25
    (25, 45, 100 / 4.005),  # over 4.005 s: 24.969 fps, 0.125% off 25, so measured
])
def test_the_nominal_rate_is_used_only_where_the_frame_times_agree_with_it(
        tmp_path, nominal, last_ms, fps):
    """Matroska's nominal rate (its default frame duration) against the measured one."""
    pts = [40 * i for i in range(100)] + [40 * 99 + last_ms]
    video = _write_muxed(tmp_path / "v.mkv", pts, Fraction(1, 1000), Fraction(nominal),
                         fmt="matroska")
    with av.open(str(video)) as container:
        assert container.streams.video[0].average_rate == nominal
    info = probe(video)
    assert info.frames == 101 and info.fps == pytest.approx(fps, rel=1e-12)


def test_a_long_recording_a_little_off_its_nominal_rate_is_timed_at_the_measured_one(
        tmp_path):
    """Frames every 499.55 ms (2.0018 fps) in a file that says 2 fps: 0.09% off, within
    NOMINAL_RTOL, but counting 600 frames (5 min) at 2 fps misplaces the last by 0.27 s,
    more than MAX_DRIFT_S (an hour at 25 fps, 0.08% off, by 2.9 s). The measured rate
    places every frame; the nominal one refused the recording."""
    pts = [49955 * i for i in range(600)]
    video = _write_muxed(tmp_path / "v.mkv", pts, Fraction(1, 100000), Fraction(2),
                         fmt="matroska")
    with av.open(str(video)) as container:
        assert container.streams.video[0].average_rate == 2
    info = probe(video)  # Matroska keeps milliseconds: the times over the whole recording
    assert info.frames == 600 and info.fps == pytest.approx(599 / info.times[-1], rel=1e-12)
    assert info.fps == pytest.approx(2.0018, abs=1e-4)


def test_a_stream_without_a_time_base_is_refused_naming_the_file(tmp_path, noise,
                                                                  monkeypatch):
    """FFmpeg's demuxers always set a time base, so the stream PyAV hands over is made to
    report none (PyAV gives None for a 0/0 time base); packets are still read for real."""
    import microdualnet.video as video_module

    class NoTimeBase:
        def __init__(self, stream):
            self._stream = stream

        time_base = None

        def __getattr__(self, name):
            return getattr(self._stream, name)

    class Container:
        def __init__(self, container):
            self._container = container

        def demux(self, stream):
            return self._container.demux(stream._stream)

        def __getattr__(self, name):
            return getattr(self._container, name)

    real_open = video_module._open

    def open_without_time_base(path):
        container, stream = real_open(path)
        return Container(container), NoTimeBase(stream)

    monkeypatch.setattr(video_module, "_open", open_without_time_base)
    video = _write(tmp_path / "untimed.mp4", noise[:5])
    with pytest.raises(InputError, match=rf"^video {video} has no time base for its "
                                         r"timestamps; re-encode it$"):
        probe(video)


def _write_behind_audio(path: Path, frames: np.ndarray, fmt: str, delay: int,
                        audio: bool = True) -> Path:
    """25-fps frames whose first is stamped `delay` frames in, after 16-kHz AAC audio that
    starts at 0 where `audio` (a camera's or phone's video track starting after its sound;
    `ffmpeg -itsoffset`)."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=Fraction(25))
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.codec_context.time_base = Fraction(1, 25)
        if audio:
            sound = out.add_stream("aac", rate=16000)
            sound.layout = "mono"
            for start in range(0, 16000 * (len(frames) + delay) // 25, 1024):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32),
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = i + delay, Fraction(1, 25)
            out.mux(video.encode(vf))
        out.mux(video.encode())
    return path


# Where mpv (BORIS's player; `mpv --pause`, property time-pos) shows each file's first frame,
# checked on these files: an mp4, mov or Matroska timeline shows the lead-in before a late
# video track (13 frames, 0.52 s), with or without sound; an MPEG-TS clock starts anywhere
# and is counted from the file's first timestamp: its audio's, 64 ms earlier than the sound
# given (AAC's 1024 priming samples, which mp4 hides with an edit list), or the video's own.
@pytest.mark.parametrize(("fmt", "audio", "shown"), [
    ("mp4", True, 0.52), ("mp4", False, 0.52), ("mov", True, 0.52), ("matroska", True, 0.52),
    ("mpegts", True, 0.52 + 1024 / 16000), ("mpegts", False, 0.0)])
def test_the_first_frame_is_timed_where_players_show_it(tmp_path, noise, fmt, audio, shown):
    video = _write_behind_audio(tmp_path / "v", noise, fmt, 13, audio)
    info = probe(video)
    assert info.frames == 30 and info.fps == 25.0
    assert info.first_frame_s == pytest.approx(shown, abs=1e-6)
    assert info.end_s == pytest.approx(shown + 1.2, abs=1e-6)
    with FrameStream(video) as stream:  # frames are still numbered from the first shown
        np.testing.assert_array_equal(dict(stream.frames([0]))[0], _reference(video, [0])[0])


def _instant(t: float, width: int = 96, height: int = 64) -> np.ndarray:
    """What a camera sees at time t: a bright bar sweeping right at 25 px per 40-ms frame
    (a shaking leg), fast enough that fields 20 ms apart show it 12 px apart."""
    image = np.full((height, width, 3), 40, np.uint8)
    x = int(round(8 + 625 * t)) % (width - 16)
    image[8:-8, x:x + 16] = 220
    return image


def _write_interlaced(path: Path, first: str | None, codec: str = "libx264",
                      fmt: str = "mp4", aspect: Fraction | None = None,
                      pts: list[int] | None = None, n: int = 16,
                      transfer: int | None = None) -> Path:
    """An interlaced recording as a camcorder makes one: each frame woven from two fields
    taken half a frame apart, `first` ("top" or "bottom") the earlier, coded interlaced and
    flagged so. `first=None`: the same woven frames, coded and flagged progressive (an
    interlaced source re-encoded without deinterlacing). `transfer`: the transfer tag."""
    time_base = Fraction(1, 25)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        if aspect is not None:
            stream.codec_context.sample_aspect_ratio = aspect
        if transfer is not None:
            stream.codec_context.color_trc = transfer
        if first is not None:
            stream.codec_context.flags |= (av.codec.context.Flags.interlaced_dct
                                           | av.codec.context.Flags.interlaced_me)
        # The encoders take the field order from the frames, flagged by FFmpeg's setfield.
        graph = av.filter.Graph()
        nodes = [graph.add_buffer(width=96, height=64, format="yuv420p", time_base=time_base),
                 graph.add("setfield", {"top": "tff", "bottom": "bff", None: "prog"}[first]),
                 graph.add("buffersink")]
        nodes[0].link_to(nodes[1])
        nodes[1].link_to(nodes[2])
        graph.configure()
        for i, t in enumerate(pts or range(n)):
            woven = _instant(t / 25)
            later = _instant((t + 0.5) / 25)
            rows = slice(1, None, 2) if first in ("top", None) else slice(0, None, 2)
            woven[rows] = later[rows]
            frame = av.VideoFrame.from_ndarray(woven, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i if pts is None else t, time_base
            graph.push(frame)
            out.mux(stream.encode(graph.pull()))
        out.mux(stream.encode())
    return path


def _error(frames: np.ndarray, t: np.ndarray, size: tuple[int, int] | None = None) -> float:
    """Mean grey-level difference of `frames` from what the camera saw at times `t`."""
    seen = np.stack([_instant(x) for x in t])
    if size is not None:
        seen = np.stack([av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
            width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
            for f in seen])
    return float(np.abs(frames.astype(np.int16) - seen).mean())


@pytest.mark.parametrize("codec, fmt, first", [
    ("libx264", "mp4", "top"), ("libx264", "mp4", "bottom"),  # AVCHD / 1080i H.264
    ("mpeg2video", "mpeg", "top"), ("mpeg2video", "mpegts", "bottom")])  # HDV, XDCAM, DVB
def test_an_interlaced_recording_is_read_from_its_first_field(tmp_path, codec, fmt, first):
    """Decoded as stored, a frame of an interlaced recording combs its two instants into one
    picture wherever something moves fast. Each is read from its first field: the instant
    of the frame's own time, at full size (lines doubled) and scaled, one picture per frame,
    timed and numbered as before, the same after a seek."""
    video = _write_interlaced(tmp_path / f"camcorder.{fmt}", first, codec, fmt)
    info = probe(video)
    assert info.interlaced and (info.frames, info.fps, info.width, info.height) == (
        16, 25.0, 96, 64)
    t = info.times - info.times[0]
    plain = _reference(video, range(16))
    assert _error(plain, t) > 8  # really combed as decoded: 13 grey levels from the instant
    with FrameStream(video, info=info) as stream:
        frames = np.stack([f for _, f in stream.frames(range(16))])
    assert frames.shape == plain.shape
    assert _error(frames, t) < 3  # the instant at the frame's time, not 20 ms after
    assert _error(frames, t + 0.02) > 8
    with FrameStream(video, info=info) as stream:
        small = np.stack([f for _, f in stream.frames(range(16), (48, 32))])
    assert _error(small, t, (48, 32)) < 3
    np.testing.assert_array_equal(read_frames(video, np.arange(9, 14), info), frames[9:14])


def test_a_progressive_recording_is_read_as_stored_even_when_combed(tmp_path, noise):
    """Only frames the decoder flags interlaced are read from a field: progressive frames
    come as stored (the same pixels as a plain decode, also elsewhere in this file), also
    where an interlaced source was re-encoded without deinterlacing, whose combing the
    frames do not tell."""
    video = _write_interlaced(tmp_path / "woven.mp4", None)
    info = probe(video)
    assert not info.interlaced and not probe(_write(tmp_path / "p.mp4", noise)).interlaced
    with FrameStream(video, info=info) as stream:
        frames = np.stack([f for _, f in stream.frames(range(16))])
    np.testing.assert_array_equal(frames, _reference(video, range(16)))


def test_the_way_out_for_an_interlaced_recording_deinterlaces_first(tmp_path):
    """The fixes the messages give re-encode the recording: one that did not deinterlace
    first would bake the combing into frames flagged progressive, past any check (HDV and
    DV, whose pixels are not square, are interlaced, as broadcast HDR in HLG often is)."""
    hdv = _write_interlaced(tmp_path / "hdv.mpg", "top", "mpeg2video", "mpeg", Fraction(4, 3))
    with pytest.raises(InputError, match=(
            r"hdv.mpg has non-square pixels .* e\.g\. ffmpeg -i IN -vf \"bwdif=mode=send_frame:"
            r"deint=interlaced,scale=trunc\(iw\*sar/2\)\*2:ih,setsar=1\" -c:v libx264 OUT\.mp4$")):
        probe(hdv)
    pause = _write_interlaced(tmp_path / "gap.mkv", "top", fmt="matroska",
                              pts=[*range(10), *range(140, 150)])
    with pytest.raises(InputError, match=r"gap.mkv has a variable frame rate .* e\.g\. ffmpeg "
                       r"-i IN -vf \"bwdif=mode=send_frame:deint=interlaced,fps=25\" -c:v"):
        probe(pause)
    broadcast = _write_interlaced(tmp_path / "hlg.mp4", "top", transfer=18)  # 1080i50 HLG
    with pytest.raises(InputError, match=r"hlg.mp4 is HDR video \(HLG transfer\): .* e\.g\. "
                       r"ffmpeg -i IN -vf \"bwdif=mode=send_frame:deint=interlaced,zscale="):
        probe(broadcast)
    deinterlace = r"ffmpeg -i IN -vf bwdif=mode=send_frame:deint=interlaced -c:v libx264 OUT\.mp4"
    raw = _write_interlaced(tmp_path / "raw.h264", "top", fmt="h264")
    with pytest.raises(InputError, match=rf"raw.h264 has frames without timestamps; re-encode "
                       rf"it \(e\.g\. {deinterlace}\)$"):
        probe(raw)
    camcorder = _write_interlaced(tmp_path / "camcorder.mp4", "top")
    info = probe(camcorder)
    wrong = dataclasses.replace(info, times=info.times + 100.0, frames_carry_times=True)
    with pytest.raises(InputError, match=rf"camcorder.mp4: decoded frame 0 is timed .* "
                       rf"re-encode it, e\.g\. {deinterlace}$"):
        dict(FrameStream(camcorder, info=wrong).frames([3]))
    # Frames of another size than the probe's (as after a join of two sizes).
    smaller = dataclasses.replace(info, width=64, height=48)
    with pytest.raises(InputError, match=r"camcorder.mp4: frame 0 is 96x64, .* e\.g\. ffmpeg -i "
                       r"IN -vf \"bwdif=mode=send_frame:deint=interlaced,scale=96:64:"):
        dict(FrameStream(camcorder, info=smaller).frames([3]))


def test_the_decoders_flag_not_the_streams_header_says_a_recording_is_interlaced(
        tmp_path, monkeypatch):
    """The first frame's interlaced flag decides, also where the stream's header gives no
    field order (taken here as a header FFmpeg reads as progressive or unknown)."""
    import microdualnet.video as video_module

    video = _write_interlaced(tmp_path / "camcorder.mp4", "bottom")
    monkeypatch.setattr(video_module, "INTERLACED_FIELD_ORDERS", frozenset())
    assert probe(video).interlaced


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc/self/task")
def test_an_interlaced_recording_is_read_on_the_readers_own_thread(tmp_path):
    """The filter graph taking a frame's first field would otherwise start a thread per CPU
    for every reader of an interlaced recording (16 per loader on a GPU node), threads a
    reader freed later in a forked loader process would wait for."""
    video = _write_interlaced(tmp_path / "camcorder.mp4", "top")

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    before = threads()
    with FrameStream(video) as stream:
        assert len([f for _, f in stream.frames(range(2))]) == 2
        assert len([f for _, f in stream.frames([3], size=(48, 32))]) == 1
        assert threads() == before


def _moving_square(count: int, width: int = 64, height: int = 48) -> np.ndarray:
    """Frame i: grey level 4 i with a square moved 5 i pixels: every frame differs, and most
    compress to a few hundred bytes, as a static clinic scene's B-frames do."""
    frames = np.zeros((count, height, width, 3), np.uint8)
    for i in range(count):
        frames[i] = 4 * i % 256
        frames[i, 8:24, 5 * i % (width - 16):5 * i % (width - 16) + 16] = (255, 0, 0)
    return frames


def _write_as(path: Path, fmt: str, codec: str, frames: np.ndarray, pix_fmt: str = "yuv420p",
              options: dict | None = None, pts: list[int] | None = None) -> Path:
    """`frames` at 25 fps in container `fmt` and `codec` (frame i at `pts[i]` / 25 s)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = options or {}
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if pts is not None:
                vf.pts, vf.time_base = pts[i], Fraction(1, 25)
            out.mux(stream.encode(vf))
        out.mux(stream.encode())
    return path


def _assert_sampled_reads_match_a_plain_decode(video: Path, info) -> None:
    """Sorted random frames, from readers started at several frames and by read_frames, are
    the frames a plain decode from the start gives."""
    expected = _reference(video, range(info.frames))
    assert info.frames == len(expected)
    rng = np.random.default_rng(0)
    for start in (0, 1, 17, 31, info.frames - 5, info.frames - 1):
        wanted = np.unique(np.r_[start, rng.integers(start, info.frames, 6)])
        with FrameStream(video, start=start, info=info) as stream:
            got = dict(stream.frames(wanted))
        for index in wanted:
            np.testing.assert_array_equal(got[index], expected[index], err_msg=f"frame {index}")
    some = rng.integers(0, info.frames, 10)
    np.testing.assert_array_equal(read_frames(video, some, info), expected[some])


@pytest.mark.parametrize(("fmt", "codec", "name"), [
    ("mpeg", "mpeg2video", "dvd_recorder.mpg"), ("mpeg", "mpeg1video", "vcd.mpg"),
    ("vob", "mpeg2video", "VTS_01_1.VOB")])
def test_a_program_stream_stamping_few_frames_is_timed_by_counting_and_read_from_its_start(
        tmp_path, fmt, codec, name):
    """An MPEG program stream stamps a frame only where a PES packet starts with it: here few
    of the 60 small frames (keyframes every 12, B-frames). FFmpeg guessed the others' times,
    differently after a seek: readers started late were refused mid-read (frames 'cannot be
    decoded'), a guess at the end timed two frames alike (25.43 fps measured), and MPEG-1's
    guessed clock went back (refused as joined recordings). Frames are timed at the codec's
    rate from the first stamp and read from the first frame on, as a plain decode gives."""
    video = _write_as(tmp_path / name, fmt, codec, _moving_square(60),
                      options={"g": "12", "bf": "2"})
    with av.open(str(video), options={"fflags": "nofillin"}) as container:
        stamped = [p.pts is not None for p in container.demux(video=0) if p.size]
    assert len(stamped) == 60 and 0 < sum(stamped) < 20  # the file's own stamps: few
    info = probe(video)
    assert (info.frames, info.fps, info.first_frame_s) == (60, 25.0, 0.0)
    np.testing.assert_allclose(np.diff(info.times), 0.04, atol=1e-9)
    assert not info.seekable
    _assert_sampled_reads_match_a_plain_decode(video, info)
    with FrameStream(video, start=40, info=info) as stream:
        dict(stream.frames([40]))
        assert stream.decoded == 41  # from the first frame: no seek to guess where it landed


def test_a_program_stream_stamp_within_its_reorder_of_counting_is_accepted(tmp_path):
    """Seven B-frames between references: an anchor frame is stored (and stamped) 0.28 s of
    frames before it is shown, beyond MAX_DRIFT_S alone, within it less the reorder
    allowance (MAX_REORDER_FRAMES)."""
    video = _write_as(tmp_path / "b7.mpg", "mpeg", "mpeg2video", _moving_square(60),
                      options={"g": "24", "bf": "7"})
    info = probe(video)
    assert (info.frames, info.fps, info.seekable) == (60, 25.0, False)
    np.testing.assert_allclose(np.diff(info.times), 0.04, atol=1e-9)


def test_a_program_stream_with_large_frames_stamps_each_and_is_seeked(tmp_path, noise):
    """Frames larger than a PES packet each carry a stamp: read as any other container."""
    frames = np.stack([np.kron(f, np.ones((5, 5, 1), np.uint8)) for f in noise])  # 320x240
    video = _write_as(tmp_path / "dvd.mpg", "mpeg", "mpeg2video", np.concatenate([frames] * 2),
                      options={"g": "12", "bf": "2", "b": "8000000"})
    info = probe(video)
    assert (info.frames, info.fps, info.seekable) == (60, 25.0, True)
    _assert_sampled_reads_match_a_plain_decode(video, info)


def test_a_program_stream_whose_stamps_outrun_its_frames_is_refused_at_probe(tmp_path):
    """A second's pause after frame 30: the frame stamped after it is a second later than
    counting puts it, as every window after the pause would be misplaced."""
    pts = [i if i < 30 else i + 25 for i in range(60)]
    video = _write_as(tmp_path / "paused.mpg", "mpeg", "mpeg2video", _moving_square(60),
                      options={"g": "12", "bf": "0"}, pts=pts)
    with pytest.raises(InputError, match=(
            rf"^video {video}: frame 40 in file order is stamped 2\.60 s in, but counting frames "
            r"at 25\.000 fps puts it at 1\.60 s \(a pause, lost frames, or a rate other than "
            r"the stream's\); "
            r"re-encode it at a constant rate, e\.g\. ffmpeg -i IN -vf fps=25 -c:v libx264 "
            r"OUT\.mp4$")):
        probe(video)


@pytest.mark.parametrize(("fmt", "codec", "name", "pix_fmt", "options"), [
    ("avi", "mjpeg", "webcam.avi", "yuvj420p", {}),
    ("avi", "mpeg4", "xvid.avi", "yuv420p", {"g": "12", "bf": "2"}),
    ("flv", "flv", "stream.flv", "yuv420p", {"g": "12"}),
    ("flv", "libx264", "obs.flv", "yuv420p", {"g": "12"}),
    ("webm", "libvpx", "browser_vp8.webm", "yuv420p", {"g": "12"}),
    ("webm", "libvpx-vp9", "browser_vp9.webm", "yuv420p", {"g": "12"}),
    ("matroska", "libvpx-vp9", "vp9.mkv", "yuv420p", {"g": "12"}),
    ("3gp", "libx264", "phone.3gp", "yuv420p", {"g": "12"}),
    ("mp4", "libx265", "hevc.mp4", "yuv420p",
     {"x265-params": "keyint=12:min-keyint=12:bframes=2:log-level=error"}),
    ("mov", "mjpeg", "camera.mov", "yuvj420p", {}),
    ("asf", "wmv2", "old.wmv", "yuv420p", {"g": "12"}),
    ("mpegts", "mpeg2video", "broadcast.ts", "yuv420p", {"g": "12", "bf": "2"}),
])
def test_other_containers_read_the_frames_a_plain_decode_gives(tmp_path, fmt, codec, name,
                                                               pix_fmt, options):
    video = _write_as(tmp_path / name, fmt, codec, _moving_square(48), pix_fmt, options)
    info = probe(video)
    assert (info.frames, info.fps) == (48, 25.0)
    _assert_sampled_reads_match_a_plain_decode(video, info)


@pytest.mark.parametrize(("fmt", "name"), [("dv", "tape.dv"), ("avi", "tape.avi")])
def test_dv_is_refused_for_its_pixels_with_a_way_out_that_deinterlaces(tmp_path, fmt, name):
    """PAL DV: 16:15 pixels, interlaced frames, and no field order in the stream's header:
    the way out re-encoded it without deinterlacing (combing baked into the frames)."""
    frames = np.kron(_moving_square(3, 48, 36), np.ones((16, 15, 1), np.uint8))  # 720x576
    video = _write_as(tmp_path / name, fmt, "dvvideo", frames)
    with pytest.raises(InputError, match=(
            rf"^video {video} has non-square pixels \(sample aspect ratio 16:15: stored 720x576,"
            r" shown 768x576\); .* ffmpeg -i IN -vf \"bwdif=mode=send_frame:deint=interlaced,"
            r"scale=trunc\(iw\*sar/2\)\*2:ih,setsar=1\" -c:v libx264 OUT\.mp4$")):
        probe(video)


def test_h263_3gp_is_refused_for_its_pixels(tmp_path):
    """QCIF H.263 (an old phone's 3GP) stores 12:11 pixels: refused at probe, progressive."""
    video = _write_as(tmp_path / "old_phone.3gp", "3gp", "h263", _moving_square(4, 176, 144))
    with pytest.raises(InputError, match=r"has non-square pixels \(sample aspect ratio 12:11: "
                       r"stored 176x144, shown 192x144\); .* -vf \"scale="):
        probe(video)


@pytest.mark.parametrize("pause_frames", [90, 240])
def test_a_transport_stream_leaping_ahead_by_under_ten_seconds_is_refused_as_a_pause(
        tmp_path, noise, pause_frames):
    """A 3-s or 8-s leap in an MPEG-TS clock is no restarted clock (CLOCK_JUMP_S): a player
    shows the frames after it that much later, where counting frames would put every window
    (and so every coding's match) early; refused at probe, with the command that fills the
    pause with repeated frames."""
    frames = np.concatenate([noise] * 4)
    pts = [i if i < 60 else i + pause_frames for i in range(120)]
    video = _write_timed(tmp_path / "leap.ts", frames, pts, Fraction(1, 30), fmt="mpegts")
    with pytest.raises(InputError, match=(
            rf"^video {video}: frame \d+ is shown at .* \(the longest pause in its timestamps is "
            rf"{pause_frames / 30 + 1 / 30:.2f} s, after 1\.97 s\); re-encode it at a constant "
            r"rate, e\.g\. ffmpeg -i IN -vf fps=30 -c:v libx264 OUT\.mp4$")):
        probe(video)
