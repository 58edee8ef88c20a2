"""Reading frames: interlaced recordings from their first field, and the RGB converter's threads.

The figures behind the loading paragraph of docs/inference.md.

`interlaced`: a synthetic 1080p scene at 25 fps (a smooth textured background, a "leg"
swinging sideways at up to 1,000 px/s, two "hands" rubbing at up to 470 px/s), recorded
three ways with libx264: as a camcorder's 1080i50 (each frame woven from two fields 20 ms
apart, top first, coded and flagged interlaced), progressive, and progressive but coded and
flagged interlaced (some cameras' 25p stored as 50i). Each is read as the model's 224-px
full view keeps it (`FullView(224)` of full-size RGB frames, as the loader converts them):
decoded as stored (PyAV), by `FrameStream` (a frame flagged interlaced from its first
field), and deinterlaced by FFmpeg's bwdif (`mode=send_frame`: a frame per frame). The
error is the largest of the R, G, B differences from the scene at the frame's time,
averaged over the pixels where the scene changes between the frame's two fields (where a
woven frame can comb); then the CPU ms per 1080i frame of taking its first field, of bwdif, and of
converting it to 640 x 360 RGB whole or from its field.

`converter`: `FrameStream` converts each frame to RGB on the reader's own threads (one, for
the loaders and pose); FFmpeg's default is a thread per CPU for every converter. The
synthetic 720p and 1080p H.264 of bench/decode_speed.py (30 fps), each frame decoded on one
thread and converted at full size (the loaders) or to 640 px (pose) with one converter
thread or FFmpeg's default, by 1-4 readers at once (a process each, every reader decoding
the whole video); the two alternate. Printed: the readers' frames/s together and CPU ms per
frame (all threads; medians of --repeats), and for the first reader count the share of a
frame's CPU that converting with one thread takes (timed on the reader's own thread).

    .venv/bin/python bench/frame_reading.py [--parts interlaced converter] [--seconds 4]
        [--converter-seconds 8] [--readers 1 2 3 4] [--repeats 3] [--workdir /tmp/frame-bench]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date
from fractions import Fraction
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from decode_speed import FPS, RESOLUTIONS, synthesise, video_path

from microdualnet.data.views import FullView
from microdualnet.video import FrameStream, probe
from pipeio.atomic import atomic_path

SIZE = (1920, 1080)
RATE = 25  # 1080i50: 25 frames of two fields each
FIELD_S = 0.5 / RATE
VIEW = FullView(224)
MOVING = 10  # grey levels a pixel changes by between two fields to count as moving


# --------------------------------------------------------------------------- interlaced


def background(seed: int = 0) -> np.ndarray:
    """A smooth texture, so that scaling and coding act on more than flat colour."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(60, 190, (SIZE[1] // 40, SIZE[0] // 40, 3)).astype(np.float32)
    fine = rng.normal(0, 12, (SIZE[1] // 6, SIZE[0] // 6, 3)).astype(np.float32)
    image = (cv2.resize(coarse, SIZE, interpolation=cv2.INTER_CUBIC)
             + cv2.resize(fine, SIZE, interpolation=cv2.INTER_CUBIC))
    return np.clip(image, 0, 255).astype(np.uint8)


def scene(bg: np.ndarray, t: float) -> np.ndarray:
    """What the camera sees at time t: a leg swinging 40 px either way at 4 Hz (peak
    2*pi*4*40 = 1,005 px/s) and two hands rubbing 25 px either way at 3 Hz (471 px/s), in
    the middle of the frame, where the 224-px full view keeps it. Drawn at 1/16 px."""
    image = bg.copy()
    shift = 4  # fractional bits of the coordinates

    def px(v: float) -> int:
        return int(round(v * 2**shift))

    leg = 900 + 40 * np.sin(2 * np.pi * 4 * t)
    corners = np.array([[leg - 45, 560], [leg + 45, 560], [leg + 60, 1000], [leg - 30, 1000]])
    cv2.fillConvexPoly(image, (corners * 2**shift).round().astype(np.int32), (50, 60, 130),
                       cv2.LINE_AA, shift)
    rub = 25 * np.sin(2 * np.pi * 3 * t)
    for side in (-1, 1):
        centre = (px(1000 + side * (55 + rub)), px(420))
        cv2.ellipse(image, centre, (px(50), px(36)), 0, 0, 360, (225, 180, 150), -1,
                    cv2.LINE_AA, shift)
    return image


def encode(path: Path, pictures: Iterator[np.ndarray], field_order: str) -> float:
    """H.264 (crf 18: nearly transparent, as a camcorder means to be) of `pictures` at 25 fps,
    coded and flagged as `field_order` says (FFmpeg setfield: tff or prog); Mbit/s."""
    time_base = Fraction(1, RATE)
    n = 0
    with atomic_path(path) as part, av.open(str(part), "w") as out:
        stream = out.add_stream("libx264", rate=RATE, options={"crf": "18", "preset": "fast"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        if field_order != "prog":
            stream.codec_context.flags |= (av.codec.context.Flags.interlaced_dct
                                           | av.codec.context.Flags.interlaced_me)
        flag = graph_of(SIZE, "yuv420p", time_base, "setfield", field_order)
        for n, picture in enumerate(pictures, 1):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                format="yuv420p")
            frame.pts, frame.time_base = n - 1, time_base
            flag.push(frame)
            out.mux(stream.encode(flag.pull()))
        out.mux(stream.encode(None))
    return path.stat().st_size * 8 / 1e6 / (n / RATE)


def graph_of(size: tuple[int, int], fmt: str, time_base: Fraction, name: str,
             args: str) -> av.filter.Graph:
    """A one-filter FFmpeg graph on one thread, for frames of `size` and `fmt`."""
    graph = av.filter.Graph()
    graph.threads = 1
    nodes = [graph.add_buffer(width=size[0], height=size[1], format=fmt,
                              time_base=time_base),
             graph.add(name, args), graph.add("buffersink")]
    nodes[0].link_to(nodes[1])
    nodes[1].link_to(nodes[2])
    graph.configure()
    return graph


def drain(graph: av.filter.Graph) -> list[av.VideoFrame]:
    """Every frame the graph has ready."""
    out = []
    while True:
        try:
            out.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return out


def decoded(video: Path) -> list[av.VideoFrame]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        return list(container.decode(stream))


def rgb(frames: list[av.VideoFrame]) -> list[np.ndarray]:
    convert = VideoReformatter()
    return [convert.reformat(f, format="rgb24", threads=1).to_ndarray() for f in frames]


def as_stored(video: Path) -> list[np.ndarray]:
    return rgb(decoded(video))


def by_frame_stream(video: Path) -> list[np.ndarray]:
    """The project's reader: a frame flagged interlaced from its first field."""
    info = probe(video)
    with FrameStream(video, info=info) as stream:
        return [f for _, f in stream.frames(range(info.frames))]


def bwdif_frames(frames: list[av.VideoFrame], time_base: Fraction) -> list[av.VideoFrame]:
    graph = graph_of((frames[0].width, frames[0].height), frames[0].format.name, time_base,
                     "bwdif", "mode=send_frame")
    out = []
    for frame in frames:
        graph.push(frame)
        out += drain(graph)
    graph.push(None)
    return out + drain(graph)


def by_bwdif(video: Path) -> list[np.ndarray]:
    return rgb(bwdif_frames(decoded(video), Fraction(1, RATE)))


def moving_error(frames: list[np.ndarray], bg: np.ndarray, n: int) -> float:
    """Mean over the moving parts' pixels of the largest R, G, B difference from the scene
    at the frame's time, in the 224-px full view. Moving parts: where the scene changes
    between the instants of the frame's two fields, the pixels a woven frame can comb."""
    if len(frames) != n:
        raise SystemExit(f"read {len(frames)} frames of {n}")
    total, count = 0.0, 0
    for i, frame in enumerate(frames):
        now = VIEW.prepare(scene(bg, i / RATE)).astype(np.int16)
        later = VIEW.prepare(scene(bg, i / RATE + FIELD_S)).astype(np.int16)
        mask = np.abs(later - now).max(-1) > MOVING
        diff = np.abs(VIEW.prepare(frame).astype(np.int16) - now).max(-1)
        total += float(diff[mask].sum())
        count += int(mask.sum())
    return total / count


def cpu_ms(work: Callable[[], object], n: int) -> float:
    start = time.process_time()
    work()
    return 1000 * (time.process_time() - start) / n


def interlaced(workdir: Path, seconds: float) -> None:
    bg = background()
    n = round(seconds * RATE)

    def woven() -> Iterator[np.ndarray]:
        for i in range(n):
            picture = scene(bg, i / RATE)
            picture[1::2] = scene(bg, i / RATE + FIELD_S)[1::2]  # the bottom field, 20 ms on
            yield picture

    def progressive() -> Iterator[np.ndarray]:
        return (scene(bg, i / RATE) for i in range(n))

    videos = [("1080i (fields 20 ms apart)", "1080i", woven, "tff"),
              ("progressive", "25p", progressive, "prog"),
              ("progressive, flagged interlaced", "25p_as_50i", progressive, "tff")]
    print(f"## interlaced: synthetic {SIZE[0]}x{SIZE[1]} scene, {n} frames ({seconds:g} s) at "
          f"{RATE} fps, libx264 crf 18; error in grey levels in the moving parts of the "
          f"{VIEW.size}-px full view ({date.today()}, {platform.machine()}, {os.cpu_count()} "
          f"CPUs, PyAV {av.__version__}; load average {os.getloadavg()[0]:.1f})")
    print("| recorded | Mbit/s | read as interlaced | decoded as stored | FrameStream "
          "(first field where flagged) | bwdif |")
    print("|---|---:|---|---:|---:|---:|")
    workdir.mkdir(parents=True, exist_ok=True)
    for label, key, pictures, order in videos:
        path = workdir / f"scene_{key}_{n}.mp4"
        mbit = encode(path, pictures(), order)
        errors = [moving_error(reader(path), bg, n)
                  for reader in (as_stored, by_frame_stream, by_bwdif)]
        print(f"| {label} | {mbit:.1f} | {'yes' if probe(path).interlaced else 'no'} | "
              + " | ".join(f"{e:.1f}" for e in errors) + " |", flush=True)
    frames = decoded(workdir / f"scene_1080i_{n}.mp4")
    fields = graph_of(SIZE, frames[0].format.name, Fraction(1, RATE), "separatefields", "")

    def take_fields() -> list[av.VideoFrame]:
        firsts = []
        for frame in frames:
            fields.push(frame)
            firsts.append(drain(fields)[-1])  # the frame's own first field, out last
        return firsts

    convert = VideoReformatter()

    def to_640(pictures: list[av.VideoFrame]) -> None:
        for picture in pictures:
            convert.reformat(picture, format="rgb24", width=640, height=360,
                             interpolation="AREA", threads=1).to_ndarray()

    take_ms = cpu_ms(take_fields, n)
    firsts = take_fields()
    print(f"CPU ms per 1080i frame: first field {take_ms:.3f}; bwdif "
          f"{cpu_ms(lambda: bwdif_frames(frames, Fraction(1, RATE)), n):.2f}; converted to "
          f"640 x 360 RGB whole {cpu_ms(lambda: to_640(frames), n):.2f}, from its first field "
          f"{cpu_ms(lambda: to_640(firsts), n):.2f}\n", flush=True)


# --------------------------------------------------------------------------- converter


def read(video: str, size: tuple[int, int] | None, threads: int, start: Barrier,
         results: Queue) -> None:
    """One reader: every frame decoded on one thread and converted to RGB as `FrameStream`
    converts it, with `threads` converter threads (0: FFmpeg's default). Puts (frames, CPU
    seconds of all its threads, CPU seconds of its own thread in the converter: the whole
    conversion where `threads` is 1)."""
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        convert = VideoReformatter()
        scale = {} if size is None else {"width": size[0], "height": size[1],
                                         "interpolation": "AREA"}
        start.wait()
        cpu, converting, n = time.process_time(), 0.0, 0
        for frame in container.decode(stream):
            mine = time.thread_time()
            convert.reformat(frame, format="rgb24", threads=threads, **scale).to_ndarray()
            converting += time.thread_time() - mine
            n += 1
    results.put((n, time.process_time() - cpu, converting))


def readers_at_once(video: Path, size: tuple[int, int] | None, threads: int,
                    readers: int) -> tuple[float, float, float]:
    """Frames/s of `readers` processes reading at once, their CPU ms per frame, and the CPU
    ms per frame spent converting on the readers' own threads."""
    ctx = multiprocessing.get_context("spawn")  # no FFmpeg threads carried over a fork
    start, results = ctx.Barrier(readers + 1), ctx.Queue()
    procs = [ctx.Process(target=read, args=(str(video), size, threads, start, results))
             for _ in range(readers)]
    for proc in procs:
        proc.start()
    start.wait()
    clock = time.perf_counter()
    done = [results.get() for _ in procs]
    wall = time.perf_counter() - clock
    for proc in procs:
        proc.join()
    frames = sum(d[0] for d in done)
    return (frames / wall, 1000 * sum(d[1] for d in done) / frames,
            1000 * sum(d[2] for d in done) / frames)


def converter(workdir: Path, seconds: float, readers: list[int], repeats: int) -> None:
    print(f"## converter threads: synthetic H.264 ({FPS} fps, {seconds:g} s, bench/"
          f"decode_speed.py), decoded on 1 thread, converted to RGB with 1 converter thread "
          f"or FFmpeg's default (0: a thread per CPU), {os.cpu_count()} CPUs; medians of "
          f"{repeats} ({date.today()}, {platform.machine()}, PyAV {av.__version__}; load "
          f"average {os.getloadavg()[0]:.1f} at the start)")
    print("| video | converted to | readers at once | frames/s, 1 thread / default | "
          "CPU ms per frame, 1 thread / default | default / 1 thread, CPU |")
    print("|---|---|---:|---|---|---:|")
    workdir.mkdir(parents=True, exist_ok=True)
    notes = []
    for res, (w, h) in RESOLUTIONS.items():
        video = video_path(workdir, res, seconds)
        synthesise(video, res, seconds)
        for label, size in (("full size", None), ("640 px", (640, round(640 * h / w)))):
            shown = f"{w}x{h}" if size is None else f"{size[0]}x{size[1]}"
            for n in readers:
                runs: dict[int, list[tuple[float, float, float]]] = {1: [], 0: []}
                for i in range(repeats):
                    for threads in (1, 0) if i % 2 == 0 else (0, 1):
                        runs[threads].append(readers_at_once(video, size, threads, n))
                rate, cpu, conv = ({t: statistics.median(r[j] for r in runs[t]) for t in runs}
                                   for j in range(3))
                if n == readers[0]:
                    notes.append(f"{res} to {shown}, {n} reader{'s' * (n > 1)}, 1 converter "
                                 f"thread: {cpu[1]:.2f} CPU ms a frame, of which converting "
                                 f"{conv[1]:.2f} ({conv[1] / cpu[1]:.0%})")
                head = f"| {res} | {label} ({shown}) |" if n == readers[0] else "| | |"
                print(f"{head} {n} | {rate[1]:.0f} / {rate[0]:.0f} | {cpu[1]:.2f} / "
                      f"{cpu[0]:.2f} | {cpu[0] / cpu[1]:.2f} |", flush=True)
    print("\n".join([*notes, f"load average {os.getloadavg()[0]:.1f} at the end: frames/s "
                      "are wall-clock figures, which other jobs on the machine move"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", choices=("interlaced", "converter"),
                    default=["interlaced", "converter"])
    ap.add_argument("--seconds", type=float, default=4.0, help="the interlaced scene's length")
    ap.add_argument("--converter-seconds", type=float, default=8.0,
                    help="the converter videos' length")
    ap.add_argument("--readers", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/frame-bench"))
    args = ap.parse_args()
    if "interlaced" in args.parts:
        interlaced(args.workdir, args.seconds)
    if "converter" in args.parts:
        converter(args.workdir, args.converter_seconds, args.readers, args.repeats)


if __name__ == "__main__":
    main()
