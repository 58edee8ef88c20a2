"""Video files in and out (PyAV): probe, read forward, read a clip's frames, write mp4.

Torch-free, so the pose stage, inference and training all read video through this module.

A frame is numbered by its place in presentation order, from 0: frame i is the i-th frame
the decoder outputs, shown i / fps after the first. `probe` finds the count and each frame's
time by reading the packets (decoding only the first frame, for its display rotation), which
is also where a recording the pipeline cannot time is refused: no frame rate, no timestamps,
a variable frame rate, frame times that stray from i / fps, an MPEG-TS clock that goes back
or leaps ahead (recordings joined whose clocks restart), or an index that promises more frames than the
file holds. An MPEG program stream (a DVD recorder's .mpg, .vob) that stamps only
some of its frames has them timed by counting at its video's rate, and is read from its
first frame on (`COUNTED_DEMUXERS`). Every failure is an `InputError` naming the file.

Times the pipeline writes (windows, review files) are the times a coder's player shows, so
that they meet human codings: frame i is shown at `first_frame_s + i / fps`. `first_frame_s`
is where players put the first frame: the container's presentation time for mp4/mov, whose
timeline starts at 0 (an edit list delaying the video behind its audio, or ffmpeg's
`-itsoffset`/`-output_ts_offset`, is shown as that much lead-in), and the time since the
container's first timestamp for the others (an MPEG-TS clock starts anywhere, e.g. 1.4 s).
That is what mpv (BORIS's player) shows, checked on ffmpeg-made files (docs/inference.md).

Frames come out as the recording is meant to be seen: a file's display rotation (a phone held
upright or sideways stores landscape pixels plus a rotation) is applied to every frame, and
`VideoInfo` gives the displayed width and height, so pose, crops and the model all work in
one upright picture. Colours are converted to RGB with the matrix and range the file tags
(BT.601 or BT.709, limited or full; untagged is BT.601 limited, as FFmpeg reads it). An HDR
recording (PQ or HLG transfer: a phone's HDR mode) is refused: converted as SDR, its
colours would be far darker and paler than any player, which tone-maps, shows them.

An interlaced recording (a camcorder's 1080i, broadcast video) stores two fields per frame,
the odd and even lines, taken half a frame apart: decoded as they are, fast movements (a
shaking leg, rubbing hands) show both instants combed into one picture, which neither pose
nor the model, both trained on progressive video, ever saw. A frame the decoder flags
interlaced is read from its first field alone (the one the decoder says is shown first),
scaled to the size asked for or, at full size, each line doubled: the picture of the
instant the frame's time names. This keeps one picture per frame, the frame's time, and
seeking exact (no other frame is used), and costs nothing (it is cheaper than converting
the whole frame when scaling down); it halves the vertical detail, which the 2.5-fold or
larger reductions of pose and the model's views of 1080i do not keep anyway, also where a
progressive recording is flagged interlaced (x264's fake-interlaced; some cameras' 25p
modes stored as 50i). Progressive frames are read unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorTrc, VideoReformatter

from pipeio.atomic import atomic_path
from pipeio.errors import InputError

log = logging.getLogger(__name__)

# A recording is constant-rate when at most this share of its frame intervals differ from the
# median interval by more than VFR_TOLERANCE of it (a dropped frame now and then is fine; a
# phone switching between 30 and 15 fps is not).
VFR_TOLERANCE = 0.25
VFR_MAX_SHARE = 0.02
# Frame i is taken to be shown at i / fps: no frame's own time may differ from that by more
# than this (a pause in the timestamps, or dropped frames piling up, would misplace every
# window after it).
MAX_DRIFT_S = 0.25
# A variable-rate recording's re-encode command asks for at least this rate
# (`_reencode_rate`).
REENCODE_MIN_FPS = 25
# The container's nominal rate is used where the frame times agree with it this closely.
NOMINAL_RTOL = 1e-3
_ERRORS = (av.FFmpegError, RuntimeError, OSError)
# A seek that lands past the frame it aims at (MPEG-TS: no keyframe index) aims this much
# earlier, doubling each time up to MAX_SEEK_BACK_S, before reading from the first frame.
SEEK_BACK_S = 1.0
MAX_SEEK_BACK_S = 64.0
# A container clock (MPEG-TS) leaping ahead by more than this between two frames has been
# restarted, as by joining two recordings (FFmpeg's command line takes it for a
# discontinuity, not a pause, from this size on: its dts_delta_threshold).
CLOCK_JUMP_S = 10.0
# Demuxers of containers with a movie timeline from 0 (ISO base media: mp4, mov, 3gp), whose
# times players show as they are; players count other containers' times from their start.
MOVIE_TIMELINE_DEMUXERS = frozenset({"mov", "mp4"})
# Demuxers of MPEG program streams (a DVD recorder's .mpg, .vob), which stamp a frame only
# where a PES packet starts with it (seldom so for a static scene's small frames) and guess
# the others' times, differently read from the start and after a seek (and a frame's time
# twice at a file's end). Opened with FFmpeg's `nofillin`, their frames carry only the
# file's own stamps, and unstamped frames are timed by counting at the stream's rate.
COUNTED_DEMUXERS = frozenset({"mpeg"})
# How far a frame's place in display order can be from its place in the file, in frames
# (MPEG-1/2 store a frame ahead of the B-frames shown before it: two on a DVD, IBBP).
MAX_REORDER_FRAMES = 4
# Pixels stored narrower or wider than shown (DV's 16:15, HDV's 4:3) would squeeze every
# person the model sees; a ratio this close to 1 changes nothing visible.
MAX_PIXEL_ASPECT_DEVIATION = 0.01
# Frames scaled down by at least this factor (per side) may be decoded without deblocking.
SKIP_DEBLOCKING_FROM = 2.5
# FFmpeg's interlaced field orders (AVFieldOrder TT, BB, TB, BT), as a stream's header says.
INTERLACED_FIELD_ORDERS = frozenset({2, 3, 4, 5})
# Re-encoding an interlaced recording without deinterlacing bakes its combing into frames
# flagged progressive, which no reader can tell apart: every re-encode the messages suggest
# deinterlaces first (frames flagged interlaced only, keeping one frame per frame).
DEINTERLACE = "bwdif=mode=send_frame:deint=interlaced"
# HDR transfer functions (a phone's HDR video is HLG, HDR10 is PQ): FFmpeg converts their
# values to RGB as if they were SDR's BT.709 gamma, darker and paler than a player (which
# tone-maps) shows them, so such a recording is refused with a command that tone-maps it.
HDR_TRANSFERS = {ColorTrc.SMPTE2084: "PQ (HDR10)", ColorTrc.ARIB_STD_B67: "HLG"}
TONE_MAP_TO_SDR = ("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
                   "tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p")
# Every frame fitted into one size with its shape kept (padded with black), square pixels:
# the way out for a recording whose frame size changes mid-stream. ffmpeg's command line
# turns frames upright (its autorotate) before a -vf chain, so {w}:{h} is the displayed size.
FIT_TO_SIZE = ("scale={w}:{h}:force_original_aspect_ratio=decrease,"
               "pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1")
# Frame sizes whose width:height ratios differ by at most this share are one shape (854x480
# and 1280x720 are both 16:9): fitted into one another they are padded by 1% at most.
SAME_SHAPE_TOLERANCE = 0.01


def reencode_hint(interlaced: bool, filters: str = "") -> str:
    """The ffmpeg command that re-encodes a refused recording with `filters` (a -vf chain),
    deinterlacing first where the recording is interlaced."""
    chain = ",".join(f for f in (DEINTERLACE if interlaced else "", filters) if f)
    quote = '"' if any(c in chain for c in ",(*") else ""
    vf = f" -vf {quote}{chain}{quote}" if chain else ""
    return f"ffmpeg -i IN{vf} -c:v libx264 OUT.mp4"


def skip_deblocking_for(reduction: float) -> bool:
    """Whether frames brought down `reduction`-fold (per side) may be decoded without the
    deblocking filter (`FrameStream(skip_deblocking=...)`): the one rule pose and infer use."""
    return reduction >= SKIP_DEBLOCKING_FROM


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know of a video before decoding it."""

    frames: int
    fps: float
    width: int  # as displayed, after `rotation`
    height: int
    times: np.ndarray  # [frames] each frame's presentation time in seconds (the file's)
    rotation: int = 0  # degrees counter-clockwise the stored frames are turned for display
    # Whether decoded frame i carries times[i]: not where the container stamps packets in
    # decode order (AVI) and the codec reorders frames, which then carry others' stamps.
    frames_carry_times: bool = True
    # When a media player (BORIS's mpv, ELAN's) shows frame 0: the origin of every time the
    # pipeline writes (module docstring); 0 for most recordings.
    first_frame_s: float = 0.0
    # Whether the first frame is flagged interlaced: `FrameStream` reads such frames from
    # their first field (module docstring).
    interlaced: bool = False
    # Whether a seek can tell which frame it lands on: not where frames are timed by counting
    # (`COUNTED_DEMUXERS`), whose few stamps can be a frame off; such a video is read from
    # its first frame on, numbered as decoded.
    seekable: bool = True

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def end_s(self) -> float:
        """The video's end on the player's clock."""
        return self.first_frame_s + self.duration_s


def _first_line(err: BaseException) -> str:
    """FFmpeg's reason without the file name it repeats; else the message's first line."""
    reason = getattr(err, "strerror", None)
    if reason:
        return str(reason)
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _open(path: Path):
    try:
        container = av.open(str(path))
        if container.format.name in COUNTED_DEMUXERS:  # its own stamps only
            container.close()
            container = av.open(str(path), options={"fflags": "nofillin"})
    except _ERRORS as err:
        raise InputError(f"video {path} is not readable (truncated or not a video?): "
                         f"{_first_line(err)}") from err
    # Cover art (an attached picture) is a one-image "video" stream, never the recording.
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        container.close()
        raise InputError(f"video {path} has no video stream")
    if any(s.codec_context is None for s in streams):  # FFmpeg has no decoder for it
        container.close()
        raise InputError(f"video {path} is in a video codec this FFmpeg build (PyAV "
                         f"{av.__version__}) cannot decode (ffprobe IN names it); re-encode "
                         f"it, e.g. {reencode_hint(False)}")
    if len(streams) > 1:  # a camera's preview beside its recording: which one is not known
        container.close()
        sizes = ", ".join(f"{s.width}x{s.height}" for s in streams)
        raise InputError(f"video {path} has {len(streams)} video streams ({sizes}); keep only "
                         "the camera's, e.g. ffmpeg -i IN -map 0:v:1 -c copy OUT.mp4 for the "
                         "second")
    return container, streams[0]


def probe(path: str | Path, square_pixels: bool = True) -> VideoInfo:
    """Frame count, constant frame rate, displayed size and frame times, from the packets
    (and the first frame, for its display rotation). `square_pixels`: refuse non-square
    pixels, as a participant's video must not be (pose and the model would see everyone
    squeezed); training clips are read as stored, as published data sets are used."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"video {path} is empty (0 bytes)")
    container, stream = _open(path)
    try:  # the stream's fields, read before the container is closed
        base, nominal = stream.time_base, stream.average_rate or stream.guessed_rate
        width, height, listed = int(stream.width), int(stream.height), int(stream.frames or 0)
        reorders = bool(stream.codec_context.has_b_frames)
        # Where the stream ends (in `base`); an edit list that cuts the end shortens it.
        ends = (stream.start_time or 0) + stream.duration if stream.duration else None
        aspect = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        origin = _player_origin_s(container, path)
        # Unstamped frames are timed at the rate the codec's header gives (the stream's is
        # guessed from the stamps, which `nofillin` leaves few of).
        counted = stream.codec_context.framerate if (
            container.format.name in COUNTED_DEMUXERS) else None
        fields = stream.codec_context.field_order in INTERLACED_FIELD_ORDERS
        transfer = stream.codec_context.color_trc
        pts, first, stored = [], None, 0
        # Decode timestamps in file order, where the container's clock may jump (MPEG-TS).
        clock = [] if container.format.flags & av.format.Flags.ts_discont.value else None
        for packet in _whole_packets(container, stream):
            # An edit list that trims the start (ffmpeg -ss ... -c copy) keeps the frames
            # before the cut as discard packets: decoded for reference, never shown.
            stored += bool(packet.size)
            if packet.size and not packet.is_discard:
                pts.append(packet.pts)
                if clock is not None and packet.dts is not None:
                    clock.append(packet.dts)
            if first is None:  # decoded only until the first frame: its display rotation
                first = next(iter(stream.decode(packet)), None)
    except _ERRORS as err:
        raise InputError(f"video {path} is not readable (truncated?): {_first_line(err)}"
                         ) from err
    finally:
        container.close()
    if not pts:
        raise InputError(f"video {path} has no frames")
    interlaced = fields if first is None else bool(first.interlaced_frame)
    if first is not None:  # the stream's tag, else the container's (FFmpeg fills it in)
        transfer = first.color_trc
    # After the first frame: DV's header gives no field order, its frames are interlaced.
    if square_pixels and aspect and abs(float(aspect) - 1) > MAX_PIXEL_ASPECT_DEVIATION:
        raise InputError(
            f"video {path} has non-square pixels (sample aspect ratio {aspect.numerator}:"
            f"{aspect.denominator}: stored {width}x{height}, shown "
            f"{round(width * aspect)}x{height}); pose and the model need square pixels, "
            "re-encode it, e.g. "
            + reencode_hint(interlaced, "scale=trunc(iw*sar/2)*2:ih,setsar=1"))
    if transfer in HDR_TRANSFERS:
        raise InputError(
            f"video {path} is HDR video ({HDR_TRANSFERS[transfer]} transfer): read as SDR its "
            "colours would be darker and paler than a player shows them; tone-map it to SDR, "
            "e.g. " + reencode_hint(interlaced, TONE_MAP_TO_SDR))
    times = fps = None
    if counted and base and None in pts and any(p is not None for p in pts):
        times, fps = _counted_times(path, pts, base, counted, interlaced)
        pts = [p for p in pts if p is not None]
    if None in pts:
        raise InputError(f"video {path} has frames without timestamps; re-encode it (e.g. "
                         f"{reencode_hint(interlaced)})")
    if clock is not None:
        _refuse_a_restarted_clock(path, clock, base, origin)
    if listed and stored < listed and not _cut_by_edit_list(pts, ends):
        raise InputError(f"video {path} is truncated: its index lists {listed} frames, the "
                         f"file holds {stored}")
    if not base:
        raise InputError(f"video {path} has no time base for its timestamps; re-encode it")
    # Frames timed by counting are numbered as decoded: their few stamps, which can be a frame
    # off, are not checked against those times.
    counting, decode_order = times is not None, False
    if not counting:
        stamps = np.asarray(pts, np.float64)
        decode_order = reorders and bool(np.all(np.diff(stamps) > 0))
        times = np.sort(stamps) * float(base)
        fps = _constant_rate(path, times, nominal, interlaced)
    rotation = 0 if first is None else 90 * _quarter_turns(path, first.rotation)
    if rotation % 180:
        width, height = height, width
    return VideoInfo(len(times), fps, width, height, times, rotation,
                     not (counting or decode_order), round(float(times[0]) - origin, 6),
                     interlaced, seekable=not counting)


def _counted_times(path: Path, pts: list[int | None], base: Fraction, rate: Fraction,
                   interlaced: bool) -> tuple[np.ndarray, float]:
    """Frame times and rate of a program stream that stamps only some frames (`pts`, in file
    order): frame i at the first stamp plus i / the stream's rate (MPEG-1/2 video is coded
    at one rate). A stamp more than MAX_DRIFT_S from where counting puts its frame, known to
    within MAX_REORDER_FRAMES (a pause, lost frames, film coded at a lower rate than the
    stream says), would misplace the windows after it, and is refused."""
    fps = float(rate)
    first = min(p for p in pts if p is not None) * float(base)
    place = np.array([i for i, p in enumerate(pts) if p is not None])
    stamped = np.array([p for p in pts if p is not None], np.float64) * float(base) - first
    drift = np.abs(stamped - place / fps) - MAX_REORDER_FRAMES / fps
    worst = int(np.argmax(drift))
    if drift[worst] > MAX_DRIFT_S:
        raise InputError(
            f"video {path}: frame {place[worst]} in file order is stamped "
            f"{stamped[worst]:.2f} s in, but counting frames at {fps:.3f} fps puts it at "
            f"{place[worst] / fps:.2f} s (a pause, lost frames, or a rate other than the "
            "stream's); re-encode it at a constant rate, e.g. "
            + reencode_hint(interlaced, f"fps={round(fps)}"))
    return first + np.arange(len(pts)) / fps, fps


def _whole_packets(container: av.container.InputContainer, stream: av.VideoStream
                   ) -> Iterator[av.Packet]:
    """The stream's packets but a last one the file ends inside: a recording cut short
    mid-frame (a crashed recorder's fragmented MP4, as OBS writes to survive a crash), whose
    demuxer hands on the part it has flagged corrupt, which the decoder refuses, so that the
    recording is read to its last whole frame, as players show it (Matroska's demuxer drops
    such a frame itself). Each packet is held back until the next one shows it is not the
    last."""
    held = None
    for packet in container.demux(stream):
        if held is not None and (packet.size or not held.is_corrupt):
            yield held
        held = packet if packet.size else None
        if not packet.size:  # the end of the stream (PyAV's last packet), which flushes
            yield packet


def _player_origin_s(container: av.container.InputContainer, path: Path) -> float:
    """The file time a player shows as 0 s: 0 for a movie timeline (mp4, mov), else the
    container's first timestamp over all its streams (mpv's `--rebase-start-time`)."""
    if MOVIE_TIMELINE_DEMUXERS & set(container.format.name.split(",")):
        return 0.0
    start = container.start_time
    if container.format.name in COUNTED_DEMUXERS:  # left unset by `nofillin`
        with av.open(str(path)) as plain:
            start = plain.start_time
    return 0.0 if start is None else start / av.time_base


def _refuse_a_restarted_clock(path: Path, clock: list[int], base: Fraction | None,
                              origin: float) -> None:
    """Decode timestamps must rise, each frame's after the last's (as MPEG requires), and not
    leap ahead by CLOCK_JUMP_S: where they do not, recordings whose clocks restart were
    joined into one file (`cat 00000.MTS 00001.MTS`, two clips of a camcorder). Sorted
    together, the two recordings' frame times would mix their frames (or call the file
    variable-rate, or refuse it as frames with equal times, or, restarted at the last
    frame's time, show two frames at once and count the file at a rate it does not have);
    a clock set back by over a minute reads as a leap of hours, FFmpeg taking it for the
    33-bit clock's wrap. A camcorder's files of one recording continue one clock, and FFmpeg
    carries a real wrap on."""
    steps = np.diff(np.asarray(clock, np.int64))
    if not base:
        return
    jumps = (steps <= 0) | (steps * float(base) > CLOCK_JUMP_S)
    if not np.any(jumps):
        return
    at = int(np.argmax(jumps)) + 1
    before, after = (float(clock[i] * base) - origin for i in (at - 1, at))
    raise InputError(
        f"video {path}: its timestamps jump from {before:.2f} s to {after:.2f} s at frame "
        f"{at} in file order (recordings whose clocks restart joined into one file, e.g. cat "
        "00000.MTS 00001.MTS); read each recording as a video of its own, or join the "
        "camera's files with FFmpeg's concat demuxer, which continues the clock: ffmpeg -f "
        "concat -safe 0 -i LIST.txt -c copy OUT.MTS (LIST.txt: a line file 'NAME.MTS' per "
        "file, in order)")


def _cut_by_edit_list(pts: list[int], ends: int | None) -> bool:
    """Whether the frames shown reach the stream's end: the index's frames missing from the
    file then lie past an edit list that cuts the end (a phone's or QuickTime's trim without
    re-encoding, which the demuxer drops), not past the end of a file cut short."""
    if ends is None or len(pts) < 2:
        return False
    step = float(np.median(np.diff(np.sort(pts))))
    return max(pts) + step >= ends - step / 2


def _quarter_turns(path: Path, degrees: float) -> int:
    """A display rotation as counter-clockwise quarter turns (0-3); others are refused."""
    turns = degrees / 90
    if abs(turns - round(turns)) > 1e-3:
        raise InputError(f"video {path} asks to be shown rotated by {degrees:g} degrees; only "
                         "multiples of 90 are supported (re-encode it upright)")
    return int(round(turns)) % 4


def _constant_rate(path: Path, times: np.ndarray, nominal: Fraction | None,
                   interlaced: bool) -> float:
    """The frame rate of a constant-rate recording: the container's, where the frame times
    agree with it within NOMINAL_RTOL and counting frames at it keeps each within
    MAX_DRIFT_S, else the one they show over the whole recording (robust to timestamps
    rounded to milliseconds, as Matroska's are). A long recording can need the latter while
    agreeing with the container: 0.08% off over an hour is 2.9 s. Variable rates, and times
    that stray from frame counting by more than MAX_DRIFT_S, are refused."""
    if len(times) < 2:
        if not nominal or nominal <= 0:
            raise InputError(f"video {path} has one frame and no frame rate")
        return float(nominal)
    step = np.diff(times)
    median = float(np.median(step))
    if median <= 0:
        raise InputError(f"video {path} has frames with equal timestamps; re-encode it")
    off = np.abs(step - median) > VFR_TOLERANCE * median
    if off.mean() > VFR_MAX_SHARE:
        raise InputError(
            f"video {path} has a variable frame rate ({100 * off.mean():.0f}% of frame "
            f"intervals are not {1000 * median:.1f} ms; from {1000 * step.min():.1f} to "
            f"{1000 * step.max():.1f} ms); re-encode it at a constant rate, e.g. "
            + reencode_hint(interlaced, f"fps={_reencode_rate(median)}"))
    measured = (len(times) - 1) / float(times[-1] - times[0])
    rates = [measured]
    if nominal and nominal > 0 and abs(float(nominal) - measured) <= NOMINAL_RTOL * measured:
        rates.insert(0, float(nominal))
    for rate in rates:
        drift = times - times[0] - np.arange(len(times)) / rate
        worst = int(np.argmax(np.abs(drift)))
        if abs(drift[worst]) <= MAX_DRIFT_S:
            return rate
    # Named at the rate of its frame intervals: the one measured over the whole recording is
    # skewed by the pause (an hour's jump in a 4-s recording measured 0.055 fps). Its
    # re-encode keeps that rate: a faster one would only repeat its frames, hiding a rate
    # slower than the model samples from infer's check (windowplan.low_rate_note).
    rate = 1 / median
    drift = times - times[0] - np.arange(len(times)) / rate
    worst = int(np.argmax(np.abs(drift)))
    jump = int(np.argmax(step))
    raise InputError(
        f"video {path}: frame {worst} is shown at {times[worst] - times[0]:.2f} s, but "
        f"counting frames at {rate:.3f} fps puts it at {worst / rate:.2f} s (the longest "
        f"pause in its timestamps is {step[jump]:.2f} s, after {times[jump] - times[0]:.2f}"
        " s); re-encode it at a constant rate, e.g. "
        + reencode_hint(interlaced, f"fps={round(1 / median)}"))


def _frame_sizes(path: Path) -> dict[tuple[int, int], int]:
    """How many frames the video holds of each stored size (width, height), in the order
    the sizes appear, for a size change's refusal: from its keyframes alone, as a frame
    size changes only at a keyframe in H.264, HEVC and VP8 (VP9 and AV1 can also change it
    at another frame, which then counts as its keyframe's size), so that the scan of an
    hour's call takes seconds. Frames are counted by their packets' times, each of the size
    of the last keyframe shown before it. A scan that fails keeps what it found."""
    container, stream = _open(path)
    stream.codec_context.skip_frame = "NONKEY"
    keys, shown = [], []
    try:
        for packet in _whole_packets(container, stream):
            if packet.size and not packet.is_discard and packet.pts is not None:
                shown.append(packet.pts)
            keys += [(f.pts, (f.width, f.height)) for f in packet.decode() if f.pts is not None]
    except _ERRORS as err:
        log.debug("%s: scanning its frame sizes stopped: %s", path, _first_line(err))
    finally:
        container.close()
    if not keys:
        return {}
    keys.sort(key=lambda key: key[0])
    at = np.searchsorted([pts for pts, _ in keys], shown, side="right") - 1
    counts = dict.fromkeys((size for _, size in keys), 0)
    for k in np.maximum(at, 0):  # pictures shown before the first keyframe: its size
        counts[keys[k][1]] += 1
    return counts


def _fit_size(sizes: dict[tuple[int, int], int]) -> tuple[int, int]:
    """The one size (even, for H.264) a recording of several frame `sizes` (with their frame
    counts) is best re-encoded to: the largest of the shape most frames have. Within one
    shape the largest loses nothing (a call steps its resolution up as the bandwidth allows,
    and the smaller stretches are only enlarged, whichever has the most frames); across
    shapes most of the recording is kept unpadded, at its own scale (a landscape call whose
    sender briefly turned their phone upright, however large its portrait frames)."""
    def shape_frames(size: tuple[int, int]) -> int:
        ratio = size[0] / size[1]
        return sum(n for (w, h), n in sizes.items()
                   if abs(w / h - ratio) <= SAME_SHAPE_TOLERANCE * ratio)
    # max keeps the first of equals: of two shapes as common and as large, the first seen.
    width, height = max(sizes, key=lambda size: (shape_frames(size), size[0] * size[1]))
    return width + width % 2, height + height % 2


def _reencode_rate(median_s: float) -> int:
    """The constant rate to re-encode a variable-rate recording at: that of its median frame
    interval, at least REENCODE_MIN_FPS. A variable rate mostly comes from an encoder that
    sends frames only when the picture changes (a screen recording of a video call: ~2
    frames a second while it is still, a median interval of 500 ms): re-encoded at its
    median rate such a recording would lose the frames of its moving stretches and be slower
    than the models sample (3.75-8.3 frames a second for the presets; docs/inference.md, low
    frame rates), while frames repeated in a still stretch show what a player shows there.
    25 fps (PAL's camera rate) is above every preset's sampling rate."""
    return max(REENCODE_MIN_FPS, round(1 / median_s))


class FrameStream:
    """A video's frames decoded forward, one at a time, converted to RGB only when wanted.

    Memory stays at one frame, whatever the video's length or size. With `start`, decoding
    begins at the keyframe before frame `start` (found from `info.times`), so several readers
    can share a video's decoding by taking a stretch each. `threads` > 1 lets FFmpeg decode
    frames in parallel (frame and slice threads) and convert each in as many slices; the
    pixels are the same. `skip_deblocking` leaves out the codec's in-loop deblocking filter
    (FFmpeg's `skip_loop_filter`): up to a fifth of an H.264 decode's CPU time where the
    stream is coded coarsely enough for the filter to work (none at a low quantiser, where it
    barely runs). The pixels then differ by under one grey level on average once a frame is
    scaled down by `SKIP_DEBLOCKING_FROM` or more (bench/deblocking.py), so only callers that
    scale down that far ask for it.
    """

    def __init__(self, path: str | Path, threads: int = 1, start: int = 0,
                 info: VideoInfo | None = None, skip_deblocking: bool = False) -> None:
        self.path = Path(path)
        self._threads = threads
        self._skip_deblocking = skip_deblocking
        if info is None and start > 0:
            info = probe(path)
        # The probe's frame times, which every decoded frame is checked against.
        self._times = None if info is None or not info.frames_carry_times else info.times
        self._tolerance = 0.0 if info is None else 0.5 / info.fps
        # The frames' stored size (width, height): the probe's, else the first frame's.
        self._stored = None if info is None else (
            (info.height, info.width) if info.rotation % 180 else (info.width, info.height))
        if info is not None and start >= info.frames:  # a caller's planning error
            raise ValueError(f"{path}: start frame {start} is past the video's {info.frames} "
                             "frames")
        self._open()
        self.decoded = 0  # frames decoded so far (the work done)
        if start > 0 and info.seekable:
            self._seek(start, info.times)

    def _open(self) -> None:
        self._container, self._stream = _open(self.path)
        if self._threads != 1:
            self._stream.thread_type = "AUTO"
        self._stream.thread_count = self._threads
        if self._skip_deblocking:  # read when the decoder opens, at the first packet
            self._stream.codec_context.options = {"skip_loop_filter": "all"}
        # One converter for the stream: `frame.to_ndarray(format=...)` builds a new FFmpeg
        # scaler context for every frame; a kept context gives the same pixels (tested).
        self._to_rgb = VideoReformatter()
        # The filter that takes an interlaced frame's first field (built for the first such
        # frame, again if the frames' size or format changes).
        self._field_graph, self._field_of = None, None
        self._decoded = self._decode()
        self._last_index, self._last = -1, None  # the frame decoded last

    def _decode(self) -> Iterator[av.VideoFrame]:
        """The stream's frames from where the container stands, decoded from its whole
        packets."""
        for packet in _whole_packets(self._container, self._stream):
            yield from packet.decode()

    def _seek(self, start: int, times: np.ndarray) -> None:
        """Continue from a keyframe at or before `start`; from the first frame if the seek
        finds none of the index's frames there (a file with odd timestamps).

        An MPEG-TS file (a camcorder's AVCHD .MTS, a broadcast recording) has no keyframe
        index: FFmpeg's seek lands on whatever packet is near the time and the decoder starts
        at the keyframe after it, past `start`. The seek then aims earlier, `SEEK_BACK_S` on
        and doubling, rather than giving up: every loader but the first would otherwise
        decode the video from its beginning to its own stretch."""
        times = times[:start + 1]
        tolerance = 0.5 * float(np.median(np.diff(times))) if start > 1 else 1e-3
        back = 0.0
        while True:
            target = max(float(times[0]), float(times[start]) - back)
            first = self._first_after_seek(target)
            found = None if first is None else first.time
            # No frame at all: the seek landed in the last stretch, past its keyframe.
            late = found is None or found > times[start] + tolerance
            if late and target > times[0] and back < MAX_SEEK_BACK_S:
                back = max(SEEK_BACK_S, 2 * back)
                continue
            break
        # `times` ends at `start`: a seek that lands after it matches no frame within tolerance.
        index = int(np.argmin(np.abs(times - found))) if found is not None else -1
        # A frame that is no keyframe was decoded without the frames it refers to.
        if index < 0 or abs(times[index] - found) > tolerance or not first.key_frame:
            log.debug("%s: seeking found no keyframe of the index; decoding from the start",
                      self.path)
            self._container.close()
            self._open()
            return
        self._last_index, self._last = index, first
        self.decoded += 1
        self._check_size(first)

    def _first_after_seek(self, time_s: float) -> av.VideoFrame | None:
        """The first frame decoded after seeking back from `time_s`; None if it fails."""
        try:
            self._container.seek(int(round(time_s / self._stream.time_base)),
                                 stream=self._stream, backward=True, any_frame=False)
            self._decoded = self._decode()
            return next(self._decoded)
        except (*_ERRORS, StopIteration):
            return None

    def frames(self, indices: Iterable[int], size: tuple[int, int] | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """`(index, RGB uint8 [H, W, 3])` for `indices`, ascending, from the last frame read
        on, turned upright by the file's display rotation. `size` (width, height, as
        displayed): scaled by FFmpeg while converting (area averaging), far cheaper on HD
        frames than converting at full size and resizing after."""
        for index in (int(i) for i in indices):
            if index < self._last_index:
                raise ValueError(f"FrameStream reads forward: frame {index} asked for after "
                                 f"frame {self._last_index}")
            while self._last_index < index:
                try:
                    self._last = next(self._decoded)
                except StopIteration:
                    raise InputError(f"video {self.path} ends after {self._last_index + 1} "
                                     f"decodable frames, frame {index} was needed (truncated "
                                     "file?)") from None
                except _ERRORS as err:
                    raise InputError(f"video {self.path}: decoding frame "
                                     f"{self._last_index + 1} failed (truncated file?): "
                                     f"{_first_line(err)}") from err
                self._last_index += 1
                self.decoded += 1
                self._check_time(self._last)
                self._check_size(self._last)
            yield index, self._upright(self._last, size)

    def _check_size(self, frame: av.VideoFrame) -> None:
        """Every frame must have the stored size of the first: recordings of two sizes joined
        into one stream, or a video call's recording whose sender changed resolution (its
        bandwidth, a phone turned upright), would otherwise be scaled each to one size, the
        later ones squeezed, or fail later in a stack of frames without saying why. The
        refusal names every size the video holds (`_frame_sizes`) and a command that fits
        every picture, its shape kept (padded), into the one `_fit_size` chooses: a plain
        scale to the first size would squeeze a portrait stretch of a landscape call 3-fold.
        Sizes are given as displayed, as `probe` gives them and ffmpeg's filters see them."""
        stored = (frame.width, frame.height)
        if self._stored is None:
            self._stored = stored
        elif stored != self._stored:
            turned = bool(frame.rotation) and _quarter_turns(self.path, frame.rotation) % 2

            def shown(size: tuple[int, int]) -> tuple[int, int]:
                return (size[1], size[0]) if turned else size

            sizes = _frame_sizes(self.path)
            for size in (self._stored, stored):  # a frame each at least
                sizes.setdefault(size, 1)
            shown_sizes = {shown(size): count for size, count in sizes.items()}
            new, old = (f"{w}x{h}" for w, h in (shown(stored), shown(self._stored)))
            listed = ", ".join(f"{n} at {w}x{h}" for (w, h), n in shown_sizes.items())
            width, height = _fit_size(shown_sizes)
            raise InputError(
                f"video {self.path}: frame {self._last_index} is {new}, the video's frames "
                f"are {old} (recordings of two sizes joined into one file, or a call whose "
                f"sender changed resolution?); its frames: {listed}; re-encode it to one "
                "size, e.g. " + reencode_hint(bool(frame.interlaced_frame),
                                              FIT_TO_SIZE.format(w=width, h=height)))

    def _check_time(self, frame: av.VideoFrame) -> None:
        """Frame `_last_index` must be shown when the probe's packets said: a decoder that
        drops frames (a recording that starts without a keyframe, damaged data) would
        otherwise shift every later frame, and its time, by the frames lost, with nothing
        to see but a frame count short at the end; so would timestamps out of order."""
        index, shown, times = self._last_index, frame.time, self._times
        if times is None or shown is None:
            return
        if index < len(times) and abs(shown - times[index]) <= self._tolerance:
            return
        later = int(np.argmin(np.abs(times - shown)))
        hint = reencode_hint(bool(frame.interlaced_frame))
        if later > index and abs(times[later] - shown) <= self._tolerance:
            raise InputError(
                f"video {self.path}: {later - index} frame(s) from frame {index} on cannot be "
                f"decoded (the decoder's next frame is the one timed {shown:.3f} s, frame "
                f"{later}): a recording that starts without a keyframe, or damaged data; "
                f"re-encode it, e.g. {hint}")
        expected = (f"{times[index]:.3f} s" if index < len(times)
                    else f"none (they hold {len(times)} frames)")
        raise InputError(
            f"video {self.path}: decoded frame {index} is timed {shown:.3f} s, its packets time "
            f"frame {index} at {expected} (timestamps out of order, or frames the decoder "
            f"adds or drops); re-encode it, e.g. {hint}")

    def _upright(self, frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
        turns = _quarter_turns(self.path, frame.rotation) if frame.rotation else 0
        picture = self._first_field(frame) if frame.interlaced_frame else frame
        scale = {}
        if size is not None:
            width, height = size if turns % 2 == 0 else size[::-1]
            scale = {"width": width, "height": height, "interpolation": "AREA"}
        # Left to FFmpeg, every reader's converter would start a thread per CPU (16 on a
        # GPU node, with many readers at once) for a tenth of a reader's work.
        rgb = self._to_rgb.reformat(picture, format="rgb24", threads=self._threads,
                                    **scale).to_ndarray()
        if size is None and picture is not frame:  # a field at full size: lines doubled
            rgb = np.repeat(rgb, 2, axis=0)
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

    def _first_field(self, frame: av.VideoFrame) -> av.VideoFrame:
        """The frame's first field alone (half its height): the lines of one instant.

        FFmpeg's `separatefields` splits each frame it is given into its fields in the order
        the decoder says they are shown (PyAV does not expose it, and the stream's field order
        can disagree: x264's bottom-first H.264 is `tt` to FFmpeg's parser); it passes on the
        previous frame's second field first, so the frame's first field is the last out."""
        of = (frame.width, frame.height, frame.format.name)
        if self._field_of != of:
            graph = av.filter.Graph()
            # Left at 0, FFmpeg starts a thread per CPU for the graph (16 per reader on a
            # GPU node), which separatefields, copying no pixels, never uses.
            graph.threads = 1
            nodes = [graph.add_buffer(width=frame.width, height=frame.height,
                                      format=frame.format.name,
                                      time_base=self._stream.time_base or Fraction(1, 1)),
                     graph.add("separatefields"), graph.add("buffersink")]
            nodes[0].link_to(nodes[1])
            nodes[1].link_to(nodes[2])
            graph.configure()
            self._field_graph, self._field_of = graph, of
        self._field_graph.push(frame)
        fields = []
        while True:
            try:
                fields.append(self._field_graph.pull())
            except av.BlockingIOError:
                return fields[-1]

    def close(self) -> None:
        """Close the file and free the decoder and the RGB converter now, with the threads
        FFmpeg runs for them until they are freed (`threads` > 1). Left to the garbage
        collector, a closed reader in a reference cycle could be freed in a forked loader
        process, which would then wait forever for threads fork did not copy."""
        self._container.close()
        self._stream = self._decoded = self._last = self._to_rgb = self._field_graph = None

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_frames(path: str | Path, indices: np.ndarray, info: VideoInfo | None = None,
                threads: int = 1) -> np.ndarray:
    """Frames `indices` (any order, repeats allowed) as RGB uint8 `[N, H, W, 3]`; decoding
    starts at the keyframe before the first one wanted (training clips, segments)."""
    indices = np.asarray(indices, np.int64)
    info = info or probe(path)
    if len(indices) == 0:
        raise ValueError("read_frames: no frame indices given")
    if indices.min() < 0 or indices.max() >= info.frames:
        raise InputError(f"video {path}: frames {indices.min()}-{indices.max()} asked for, "
                         f"it has {info.frames}")
    wanted = np.unique(indices)
    with FrameStream(path, threads, start=int(wanted[0]), info=info) as stream:
        got = dict(stream.frames(wanted))
    return np.stack([got[int(i)] for i in indices])


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, width: int,
              height: int, crf: int = 20) -> int:
    """Encode RGB uint8 frames `[H, W, 3]` as H.264 mp4 and return the number written.

    Single-threaded x264 so the same frames always give the same bytes; written atomically.
    """
    if width % 2 or height % 2:
        raise InputError(f"video {path}: size must be even for H.264 (got {width}x{height})")
    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "ultrafast", "threads": "1"}
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"frame {count} has shape {frame.shape}, expected "
                                 f"{(height, width, 3)}")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            count += 1
        container.mux(stream.encode())
    return count
