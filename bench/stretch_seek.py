"""How much video the inference loaders decode when each takes a stretch of it: MPEG-TS
(a camcorder's AVCHD .MTS) against MP4 holding the same packets.

`infer --workers W` gives each of W loader processes a stretch of consecutive batches; each
opens its own `FrameStream` at the keyframe before its stretch. MP4 has a keyframe index, so
the seek lands there; MPEG-TS has none, and a seek that lands past the frame it aims at must
aim earlier rather than decode from the first frame (else the last loader decodes the whole
video, and W loaders about (W + 1) / 2 videos).

Synthesises one H.264 video (moving noise over a gradient, 25 fps, a keyframe every 12
frames, two B-frames: AVCHD's layout) as .mts, remuxes the same packets into .mp4, then reads
it as W stretches for each W (one process per stretch, as the loaders are; frames converted at
the model's size), and prints per container and W: the frames decoded (as a multiple of the
video's), and the CPU seconds of the slowest stretch, which bounds the loaders' wall time.
`--compare DIR` runs the same from another checkout (`git worktree add DIR <commit>`).

    .venv/bin/python bench/stretch_seek.py [--size 1280x720] [--seconds 60] [--stretches 1 3 7]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
GOP = 12

# One stretch read in a fresh process: frames decoded and the process's CPU seconds.
STRETCH = """
import json, sys, time
from microdualnet.video import FrameStream, probe
path, part, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
info = probe(path)
first, end = info.frames * part // parts, info.frames * (part + 1) // parts
clock = time.process_time()
with FrameStream(path, start=first, info=info) as stream:
    for _ in stream.frames(range(first, end), size=(224, 224 * info.height // info.width)):
        pass
print(json.dumps({"decoded": stream.decoded, "frames": info.frames,
                  "cpu_s": time.process_time() - clock}))
"""


def synthesise(folder: Path, width: int, height: int, seconds: int) -> dict[str, Path]:
    """The .mts and an .mp4 of the same packets (so only the container differs)."""
    mts, mp4 = folder / f"video_{width}x{height}_{seconds}s.mts", folder / "video.mp4"
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 160, width, dtype=np.float32)[None, :, None]
    base = (ramp + rng.integers(0, 60, (height, width, 3))).astype(np.uint8)
    with av.open(str(mts), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS), options={
            "g": str(GOP), "keyint_min": str(GOP), "bf": "2", "preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * FPS):
            picture = np.roll(base, 7 * i, axis=1)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    with av.open(str(mts)) as src, av.open(str(mp4), "w") as dst:
        video = src.streams.video[0]
        copy = dst.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = copy
                dst.mux(packet)
    return {"mts": mts, "mp4": mp4}


def read_stretches(video: Path, parts: int, tree: Path) -> dict:
    """Every stretch of `video` in `parts`, each in its own process from checkout `tree`."""
    runs = [json.loads(subprocess.run(
        [sys.executable, "-c", STRETCH, str(video), str(part), str(parts)], check=True,
        capture_output=True, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}
    ).stdout) for part in range(parts)]
    return {"decoded_x": sum(r["decoded"] for r in runs) / runs[0]["frames"],
            "slowest_cpu_s": max(r["cpu_s"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--stretches", type=int, nargs="+", default=[1, 3, 7])
    parser.add_argument("--compare", type=Path, help="another checkout to run the same from")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    trees = {"this": ROOT, **({"compare": args.compare.resolve()} if args.compare else {})}
    with tempfile.TemporaryDirectory() as tmp:
        videos = synthesise(Path(tmp), width, height, args.seconds)
        rows = [(name, kind, parts, read_stretches(path, parts, tree))
                for parts in args.stretches for kind, path in videos.items()
                for name, tree in trees.items()]
    print(f"# {datetime.date.today()} {platform.node()} {platform.processor() or ''}; "
          f"{width}x{height}, {args.seconds} s at {FPS} fps, H.264 keyframe every {GOP} "
          "frames, 2 B-frames")
    print("| checkout | container | stretches | frames decoded (x video) | slowest stretch, "
          "CPU s |")
    print("|---|---|---:|---:|---:|")
    for name, kind, parts, r in rows:
        print(f"| {name} | {kind} | {parts} | {r['decoded_x']:.2f} | {r['slowest_cpu_s']:.1f} |")


if __name__ == "__main__":
    main()
