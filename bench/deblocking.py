"""Decoding without H.264's deblocking filter: CPU saved, and how far the frames move.

Pose (640-px frames) and inference (the model's view) read HD video scaled down 2.5-fold or
more without the in-loop deblocking filter (`FrameStream(skip_deblocking=True)`, FFmpeg's
`skip_loop_filter`). This prints, per video, the decoder's CPU ms per frame with and without
the filter (best of --reps, one thread, decoding only) and, at full size and at the sizes
pose and the paper preset's full view keep (640 px longer side; 224 px shorter side, by
FFmpeg's area scaling), the mean absolute difference in grey levels and the PSNR of the
frames (median and worst frame).

Videos: the synthetic 720p and 1080p H.264 files of bench/decode_speed.py (libx264
veryfast, B-frames, deblocking on; made in --workdir if missing), and any --video given.

    .venv/bin/python bench/deblocking.py [--seconds 8] [--workdir /tmp/decode-bench] [--video F]
"""

from __future__ import annotations

import argparse
import platform
import resource
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from decode_speed import RESOLUTIONS, synthesise, video_path


def cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def decode_ms(video: Path, skip: bool, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            if skip:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            start, n = cpu_s(), 0
            for _ in container.decode(stream):
                n += 1
            best = min(best, (cpu_s() - start) / n)
    return 1000 * best


def frames(video: Path, skip: bool, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if skip:
            stream.codec_context.options = {"skip_loop_filter": "all"}
        scale = VideoReformatter()
        for frame in container.decode(stream):
            kw = {} if size is None else {"width": size[0], "height": size[1],
                                          "interpolation": "AREA"}
            yield scale.reformat(frame, format="rgb24", **kw).to_ndarray().astype(np.int16)


def differences(video: Path, size: tuple[int, int] | None) -> dict[str, float]:
    mse, mad = [], []
    for a, b in zip(frames(video, False, size), frames(video, True, size), strict=True):
        d = (a - b).astype(np.float32)
        mse.append(float((d * d).mean()))
        mad.append(float(np.abs(d).mean()))
    psnr = 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12))
    return {"mad": float(np.mean(mad)), "psnr_median": float(np.median(psnr)),
            "psnr_worst": float(psnr.min())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/decode-bench"))
    ap.add_argument("--video", type=Path, action="append", default=[],
                    help="another video to measure (repeatable)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    videos = []
    for res in RESOLUTIONS:
        path = video_path(args.workdir, res, args.seconds)
        synthesise(path, res, args.seconds)
        videos.append(path)
    videos += args.video
    print(f"# deblocking, {date.today()}, {platform.machine()}, PyAV {av.__version__}")
    print("| video | Mbit/s | decode ms/frame | without deblocking | saved | size kept | "
          "mean abs. diff | PSNR median / worst |")
    print("|---|---:|---:|---:|---:|---|---:|---|")
    for video in videos:
        with av.open(str(video)) as container:
            s = container.streams.video[0]
            w, h, seconds = s.width, s.height, float(s.duration * s.time_base)
        mbit = video.stat().st_size * 8 / 1e6 / seconds
        full, fast = decode_ms(video, False, args.reps), decode_ms(video, True, args.reps)
        long_640 = (640, round(640 * h / w / 2) * 2) if w >= h else (
            round(640 * w / h / 2) * 2, 640)
        short_224 = (round(224 * w / h / 2) * 2, 224) if w >= h else (
            224, round(224 * h / w / 2) * 2)
        for i, size in enumerate([None, long_640, short_224]):
            d = differences(video, size)
            kept = f"{w}x{h}" if size is None else f"{size[0]}x{size[1]}"
            head = (f"| {video.name} | {mbit:.1f} | {full:.2f} | {fast:.2f} | "
                    f"{100 * (1 - fast / full):.0f}% |" if i == 0 else "| | | | | |")
            print(f"{head} {kept} | {d['mad']:.2f} | {d['psnr_median']:.1f} / "
                  f"{d['psnr_worst']:.1f} dB |", flush=True)


if __name__ == "__main__":
    main()
