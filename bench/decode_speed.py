"""Video decoding speed on synthetic HD H.264: PyAV, and decord 0.6 / decord2 where importable.

The project decodes with PyAV only (`microdualnet.video`); decord and decord2 are not
dependencies: to compare, install them into scratch venvs (decord2 through --decord2-python).

Synthesises 720p and 1080p test videos (libx264 crf 20, preset veryfast, yuv420p, 30 fps,
keyframe every 60 frames, B-frames on; textured background, moving shapes, per-frame noise),
caches them in --workdir, then measures RGB uint8 numpy frames delivered per second for three
access patterns:

    all      every frame, in order
    every3   every 3rd frame, in order (windowed inference at 30 fps); PyAV decodes every
             frame but converts only the wanted ones, decord uses get_batch on the indices
    clips    N random clips (fixed seed) of 16 frames at stride 2, in random order (training
             reads); PyAV seeks to the keyframe before and decodes forward, decord get_batch

Each library runs in its own process (`--only LIB`); decord2 runs with the interpreter of a
scratch venv (--decord2-python) because it installs under the same module name as decord.
Runs alternate between libraries; every number is the best of --reps runs (max frames/s),
with the CPU time (user + sys of the whole process, all threads, from getrusage) of that same
run per frame delivered. Opening the reader is inside the timed region. The first run also
checks correctness: decord/decord2 frames against PyAV's `to_ndarray(format="rgb24")`, and
frame counts (demuxed packets, decoded frames, decord's len()).

    .venv/bin/python bench/decode_speed.py [--seconds 20] [--workdir /tmp/decode-bench]
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

FPS = 30
GOP = 60
RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}
PATTERNS = ("all", "every3", "clips")
LIBS = ("pyav", "decord", "decord2")
CHECK_FRAMES = 60  # two get_batch chunks of 30 in pattern "all"
CHECK_CLIPS = 3
NOISE = 4  # per-frame luma noise, uniform in [-NOISE, NOISE]
VIDEO_TAG = "v2"  # bump when the synthesis changes, so cached videos are remade

Sink = Callable[[np.ndarray], None]


@dataclass
class Counts:
    """Frames handed out as RGB arrays, frames decoded (None: unknown), seek retries."""

    delivered: int
    decoded: int | None
    retries: int = 0


def _drop(_: np.ndarray) -> None:
    """Discard a delivered frame."""


# --------------------------------------------------------------------------- synthesis


def video_path(workdir: Path, res: str, seconds: float) -> Path:
    """Cache path of the synthetic video for one resolution and length."""
    w, h = RESOLUTIONS[res]
    return workdir / f"synth_{w}x{h}_{seconds:g}s_{FPS}fps_{VIDEO_TAG}.mp4"


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Static textured background: multi-scale smoothed noise, mostly luma, a little colour."""
    import cv2

    def octaves(channels: int, scales: tuple[tuple[int, float], ...]) -> np.ndarray:
        acc = np.zeros((h, w, channels), np.float32)
        for cell, weight in scales:
            small = rng.standard_normal((h // cell + 2, w // cell + 2, channels))
            big = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
            acc += weight * big.reshape(h, w, channels)
        return acc

    luma = octaves(1, ((96, 1.0), (24, 0.5), (6, 0.3), (2, 0.15)))
    chroma = octaves(3, ((128, 0.35), (32, 0.12)))
    img = luma / luma.std() * 32.0 + chroma / chroma.std() * 10.0 + 115.0
    return np.clip(img, 0, 255).astype(np.uint8)


def _frame(bg: np.ndarray, shapes: list[dict], t: float, noise: np.ndarray) -> np.ndarray:
    """One frame: background, moving/rotating shapes, additive luma noise."""
    import cv2

    h, w = bg.shape[:2]
    img = bg.copy()
    for s in shapes:
        cx = int(w * (0.5 + s["ax"] * np.sin(2 * np.pi * s["fx"] * t + s["px"])))
        cy = int(h * (0.5 + s["ay"] * np.sin(2 * np.pi * s["fy"] * t + s["py"])))
        angle = (s["spin"] * t * 360.0) % 360.0
        if s["kind"] == "ellipse":
            cv2.ellipse(img, (cx, cy), s["axes"], angle, 0, 360, s["color"], -1, cv2.LINE_AA)
        else:
            box = cv2.boxPoints(((cx, cy), s["size"], angle)).astype(np.int32)
            cv2.fillConvexPoly(img, box, s["color"], cv2.LINE_AA)
            tex = s["texture"]  # a textured (flipped background) patch riding on the box
            y0, x0 = cy - tex.shape[0] // 2, cx - tex.shape[1] // 2
            ys, xs = max(y0, 0), max(x0, 0)
            ye, xe = min(y0 + tex.shape[0], h), min(x0 + tex.shape[1], w)
            if ye > ys and xe > xs:
                img[ys:ye, xs:xe] = tex[ys - y0 : ye - y0, xs - x0 : xe - x0]
    out = img.astype(np.int16)
    out += noise
    return np.clip(out, 0, 255).astype(np.uint8)


def synthesise(path: Path, res: str, seconds: float, seed: int = 0) -> None:
    """Encode the synthetic test video (H.264 yuv420p via PyAV) to `path` if not present."""
    import av

    if path.exists():
        return
    w, h = RESOLUTIONS[res]
    rng = np.random.default_rng(seed)
    bg = _background(rng, w, h)
    shapes = []
    for k in range(6):
        size = (int(rng.integers(h // 10, h // 4)), int(rng.integers(h // 10, h // 4)))
        sx, sy = size[0] // 4 * 2, size[1] // 4 * 2
        tx, ty = int(rng.integers(0, w - sx)), int(rng.integers(0, h - sy))
        shapes.append(
            {
                "kind": "ellipse" if k % 2 else "box",
                "axes": (size[0] // 2, size[1] // 2),
                "size": size,
                "color": tuple(int(c) for c in rng.integers(20, 236, 3)),
                "texture": bg[ty : ty + sy, tx : tx + sx][::-1].copy(),
                "ax": rng.uniform(0.15, 0.4),
                "ay": rng.uniform(0.15, 0.4),
                "fx": rng.uniform(0.03, 0.2),
                "fy": rng.uniform(0.03, 0.2),
                "px": rng.uniform(0, 2 * np.pi),
                "py": rng.uniform(0, 2 * np.pi),
                "spin": rng.uniform(-0.1, 0.1),
            }
        )
    n = round(seconds * FPS)
    part = path.with_name(path.stem + ".part.mp4")
    with av.open(str(part), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=FPS,
            options={
                "crf": "20",
                "preset": "veryfast",
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0",
            },
        )
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = GOP
        for i in range(n):
            noise = rng.integers(-NOISE, NOISE + 1, size=(h, w, 1), dtype=np.int8)
            img = _frame(bg, shapes, i / FPS, noise)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    part.rename(path)


def probe(path: Path) -> dict:
    """Container facts by demuxing (packets, keyframes) plus frame types of the first GOPs."""
    import av

    with av.open(str(path)) as c:
        st = c.streams.video[0]
        packets = keyframes = 0
        for pkt in c.demux(st):
            if pkt.size:
                packets += 1
                keyframes += bool(pkt.is_keyframe)
        duration = float(st.duration * st.time_base) if st.duration else packets / FPS
        info = {
            "size": f"{st.codec_context.width}x{st.codec_context.height}",
            "fps": float(st.average_rate),
            "packets": packets,
            "keyframes": keyframes,
            "stream_frames": st.frames,
            "duration_s": duration,
            "mbit_s": path.stat().st_size * 8 / duration / 1e6,
            "pix_fmt": st.codec_context.format.name,
        }
    with av.open(str(path)) as c:
        types: dict[str, int] = {}
        for i, frame in enumerate(c.decode(video=0)):
            kind = av.video.frame.PictureType(frame.pict_type).name
            types[kind] = types.get(kind, 0) + 1
            if i + 1 >= 2 * GOP:
                break
        info["frame_types_first_120"] = types
    return info


# --------------------------------------------------------------------------- decoding


def make_clips(n_frames: int, count: int, length: int, stride: int, seed: int) -> list[list[int]]:
    """Frame indices of `count` random clips (fixed seed, random order)."""
    span = (length - 1) * stride + 1
    starts = np.random.default_rng(seed).integers(0, n_frames - span + 1, size=count)
    return [list(range(int(s), int(s) + span, stride)) for s in starts]


def pyav_decode(
    path: Path, pattern: str, threads: int, clips: list[list[int]], sink: Sink = _drop
) -> Counts:
    """Decode with PyAV (thread_type AUTO, given thread_count) and hand out RGB frames."""
    import av

    c = Counts(0, 0)
    with av.open(str(path)) as container:
        st = container.streams.video[0]
        st.thread_type = "AUTO"
        st.thread_count = threads
        if pattern != "clips":
            step = 1 if pattern == "all" else 3
            for i, frame in enumerate(container.decode(st)):
                c.decoded += 1
                if i % step == 0:
                    sink(frame.to_ndarray(format="rgb24"))
                    c.delivered += 1
            return c
        tb = st.time_base
        first_pts = st.start_time or 0
        for wanted in clips:
            want = set(wanted)
            target = wanted[0]
            while True:
                container.seek(first_pts + round(target / (FPS * tb)), stream=st, backward=True)
                first = None
                for frame in container.decode(st):
                    c.decoded += 1
                    i = round((frame.pts - first_pts) * tb * FPS)
                    if first is None:
                        first = i
                        if first > wanted[0]:
                            break  # landed on a keyframe after the clip start: seek earlier
                    if i in want:
                        sink(frame.to_ndarray(format="rgb24"))
                        c.delivered += 1
                    if i >= wanted[-1]:
                        break
                if first is not None and first <= wanted[0]:
                    break
                if target == 0:
                    raise RuntimeError(f"cannot reach frame {wanted[0]} of {path}")
                target = max(0, target - GOP)
                c.retries += 1
    return c


def decord_decode(
    path: Path, pattern: str, threads: int, clips: list[list[int]], sink: Sink = _drop
) -> Counts:
    """Read with decord (or decord2) VideoReader.get_batch and hand out RGB frames."""
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
    n = len(vr)
    if pattern == "clips":
        batches = clips
    else:
        idx = list(range(0, n, 1 if pattern == "all" else 3))
        chunk = 30 if pattern == "all" else 10  # one second of video or of output
        batches = [idx[k : k + chunk] for k in range(0, len(idx), chunk)]
    c = Counts(0, None)
    for batch in batches:
        arr = vr.get_batch(batch).asnumpy()
        for frame in arr:
            sink(frame)
        c.delivered += len(arr)
    del vr
    return c


def methods(lib: str, cores: int) -> list[tuple[str, int]]:
    """(label, thread count) of the configurations measured for one library."""
    counts = sorted({1, cores})
    if lib == "pyav":
        return [(f"PyAV AUTO t={t}" + (" (auto)" if t == 0 else ""), t) for t in [0, *counts]]
    return [(f"{lib} t={t}", t) for t in counts]


def busy_cpu_s() -> float:
    """Machine-wide busy CPU seconds so far (Linux /proc/stat; NaN elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], Counts]) -> dict:
    """Wall and process CPU (all threads) time of one run, and CPU used by other processes."""
    b0 = busy_cpu_s()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    counts = fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    others = max(0.0, busy_cpu_s() - b0 - cpu)
    return {"wall_s": wall, "cpu_s": cpu, "others_cpu_s": others, **asdict(counts)}


def diff_stats(a: np.ndarray, b: np.ndarray) -> dict:
    """Max / mean absolute difference and share of differing values of two uint8 stacks."""
    if a.shape != b.shape:
        return {"shape_mismatch": [list(a.shape), list(b.shape)]}
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    per_frame = d.reshape(len(d), -1).max(axis=1)
    out = {
        "max": int(d.max()),
        "mean": float(d.mean()),
        "pct_values_differing": float((d > 0).mean() * 100),
        "pct_values_diff_gt_2": float((d > 2).mean() * 100),
        "frames_identical": int((per_frame == 0).sum()),
        "frames": len(d),
    }
    if out["max"] > 16:  # look for an index shift
        shifts = []
        for j in range(len(a)):
            errs = {
                k: float(np.abs(a[j].astype(np.int16) - b[k]).mean())
                for k in range(max(0, j - 3), min(len(b), j + 4))
            }
            shifts.append(min(errs, key=errs.__getitem__) - j)
        out["best_matching_shift_per_frame"] = shifts
    return out


def check(lib: str, args: argparse.Namespace, res: str) -> dict:
    """Correctness facts for one library (PyAV writes the reference, the others compare)."""
    path = video_path(args.workdir, res, args.seconds)
    ref_path = args.workdir / f"ref_{res}_{args.seconds:g}s.npz"
    n_frames = round(args.seconds * FPS)
    clips = make_clips(n_frames, args.clips, args.clip_len, args.clip_stride, args.seed)
    grabbed: list[np.ndarray] = []
    out: dict = {}
    if lib == "pyav":
        import av

        first = []
        with av.open(str(path)) as c:  # pattern (a) as timed, plus the pts of every frame
            st = c.streams.video[0]
            tb, p0 = st.time_base, st.start_time or 0
            idx = []
            for frame in c.decode(st):
                idx.append(round((frame.pts - p0) * tb * FPS))
                if len(first) < CHECK_FRAMES:
                    first.append(frame.to_ndarray(format="rgb24"))
        out["decoded"] = len(idx)
        out["pts_index_equals_output_order"] = idx == list(range(len(idx)))
        cnt = pyav_decode(path, "clips", 0, clips[:CHECK_CLIPS], grabbed.append)
        out["clip_seek_retries"] = cnt.retries
        np.savez(ref_path, first=np.stack(first), clips=np.stack(grabbed))
        return out
    import decord

    for r in args.res:
        p = video_path(args.workdir, r, args.seconds)
        out[f"len_{r}"] = len(decord.VideoReader(str(p), ctx=decord.cpu(0)))
    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    first = np.concatenate(
        [vr.get_batch(list(range(k, k + 30))).asnumpy() for k in range(0, CHECK_FRAMES, 30)]
    )
    del vr
    decord_decode(path, "clips", 1, clips[:CHECK_CLIPS], lambda f: grabbed.append(f.copy()))
    with np.load(ref_path) as ref:
        out[f"first_{CHECK_FRAMES}_vs_pyav"] = diff_stats(first, ref["first"])
        out[f"first_{CHECK_CLIPS}_clips_vs_pyav"] = diff_stats(np.stack(grabbed), ref["clips"])
    return out


def bundled_avcodec(module_file: str) -> str:
    """File name of the libavcodec a wheel bundles (next to the package or in *.libs)."""
    pkg = Path(module_file).parent
    hits = glob.glob(str(pkg / "**" / "libavcodec*"), recursive=True)
    hits += glob.glob(str(pkg.parent / "*.libs" / "libavcodec*"))
    mine = [h for h in hits if pkg.name in h or Path(h).parent.name.startswith(pkg.name)]
    return ", ".join(sorted({Path(h).name for h in mine})) or "?"


def run_lib(args: argparse.Namespace) -> None:
    """Child mode: measure one library once per (resolution, pattern, method); write JSON."""
    lib = args.only
    info: dict = {"python": platform.python_version(), "numpy": np.__version__}
    if lib == "pyav":
        import av

        info["version"] = av.__version__
        v = av.library_versions["libavcodec"]
        info["ffmpeg"] = f"libavcodec {'.'.join(map(str, v))}"
        decode = pyav_decode
    else:
        import decord

        info["version"] = version(lib)
        info["ffmpeg"] = bundled_avcodec(decord.__file__)
        decode = decord_decode
    results = []
    for res in args.res:
        path = video_path(args.workdir, res, args.seconds)
        n_frames = round(args.seconds * FPS)
        clips = make_clips(n_frames, args.clips, args.clip_len, args.clip_stride, args.seed)
        for pattern in PATTERNS:
            for label, threads in methods(lib, args.cores):
                m = timed(lambda p=path, pt=pattern, t=threads, cl=clips: decode(p, pt, t, cl))
                results.append({"res": res, "pattern": pattern, "method": label, **m})
                print(
                    f"  rep {args.rep} {res:>5} {pattern:>6} {label:<24} "
                    f"{m['delivered'] / m['wall_s']:7.1f} frames/s",
                    file=sys.stderr,
                )
    out = {"lib": lib, "info": info, "results": results}
    if args.rep == 0:
        check_res = "720p" if "720p" in args.res else args.res[0]
        out["check"] = {"res": check_res, **check(lib, args, check_res)}
    args.out.write_text(json.dumps(out))


# --------------------------------------------------------------------------- driver


def cpu_model() -> str:
    """CPU model name from lscpu (platform.processor() is often just the architecture)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    for line in text.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "?"


def child_python(lib: str, args: argparse.Namespace) -> str | None:
    """Interpreter for a library's child process, or None if it cannot import it."""
    py = args.decord2_python if lib == "decord2" else sys.executable
    if not py or not Path(py).exists():
        return None
    module = "av" if lib == "pyav" else "decord"
    probe_cmd = [py, "-c", f"import {module}"]
    if lib != "pyav":  # the decord module must come from the distribution named `lib`
        probe_cmd[2] += f"; from importlib.metadata import version; version({lib!r})"
    ok = subprocess.run(probe_cmd, capture_output=True).returncode == 0
    return py if ok else None


def main() -> None:
    """Parse arguments; child mode measures one library, driver mode runs all and prints."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the test videos")
    ap.add_argument("--workdir", type=Path, default=None, help="video cache (default: temp)")
    ap.add_argument("--reps", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--res", type=lambda s: s.split(","), default=list(RESOLUTIONS))
    ap.add_argument("--clips", type=int, default=20, help="random clips per run")
    ap.add_argument("--clip-len", type=int, default=16)
    ap.add_argument("--clip-stride", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--libs", type=lambda s: s.split(","), default=list(LIBS))
    ap.add_argument(
        "--decord2-python",
        default="/tmp/decord2-venv/bin/python",
        help="interpreter of a venv with decord2 ('' to skip)",
    )
    ap.add_argument("--only", choices=LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        run_lib(args)
        return

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="decode-bench-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    videos = {}
    for res in args.res:
        path = video_path(args.workdir, res, args.seconds)
        t0 = time.perf_counter()
        made = not path.exists()
        synthesise(path, res, args.seconds, args.seed)
        if made:
            print(f"synthesised {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        videos[res] = probe(path)
    pythons = {lib: child_python(lib, args) for lib in args.libs}
    libs = [lib for lib in args.libs if pythons[lib]]
    libs.sort(key=lambda lib: lib != "pyav")  # PyAV first: it writes the reference frames
    runs: list[dict] = []
    infos: dict[str, dict] = {}
    checks: dict[str, dict] = {}
    for rep in range(args.reps):
        order = libs if rep == 0 else libs[rep % len(libs) :] + libs[: rep % len(libs)]
        for lib in order:
            out = args.workdir / f"result_{lib}_{rep}.json"
            cmd = [pythons[lib], __file__, "--only", lib, "--rep", str(rep), "--out", str(out)]
            for flag in ("seconds", "workdir", "clips", "clip_len", "clip_stride", "seed", "cores"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            cmd += ["--res", ",".join(args.res)]
            subprocess.run(cmd, check=True)
            data = json.loads(out.read_text())
            out.unlink()
            infos[lib] = data["info"]
            runs += [{"lib": lib, **r} for r in data["results"]]
            if "check" in data:
                checks[lib] = data["check"]
    for ref in args.workdir.glob("ref_*.npz"):
        ref.unlink()
    load_after = os.getloadavg()

    best: dict[tuple[str, str, str], list[dict]] = {}
    for r in runs:
        best.setdefault((r["res"], r["pattern"], r["method"]), []).append(r)
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"\n## Decode speed, {stamp}\n")
    print(
        f"- CPU: {cpu_model()} (platform.processor()={platform.processor()!r}), "
        f"{os.cpu_count()} cores ({args.cores} usable); load avg 1 min "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    for lib, info in infos.items():
        print(
            f"- {lib} {info['version']} ({info['ffmpeg']}), Python {info['python']}, "
            f"numpy {info['numpy']}"
        )
    for res, v in videos.items():
        print(
            f"- {res}: {v['size']} {v['pix_fmt']} H.264, {v['duration_s']:.1f} s at "
            f"{v['fps']:g} fps, {v['mbit_s']:.2f} Mbit/s, {v['packets']} packets, "
            f"{v['keyframes']} keyframes, frame types (first 120): "
            f"{v['frame_types_first_120']}"
        )
    print(
        f"- clips: {args.clips} x {args.clip_len} frames at stride {args.clip_stride}, "
        f"seed {args.seed}; every3: every 3rd frame; all: every frame"
    )
    print(
        f"- frames/s: best of {args.reps} runs (max), each run in a fresh process per "
        "library, reader open included; CPU ms/frame: user+sys CPU of the process (all "
        "threads) / frames delivered, in that same run; cores busy = CPU s / wall s; "
        "other procs' cores: CPU of all other processes during that run / wall s\n"
    )
    print(
        "| resolution | pattern | method | frames/s (wall) | CPU ms/frame | cores busy "
        "| frames delivered (decoded) | spread of runs | other procs' cores |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for (res, pattern, method), rs in best.items():
        top = max(rs, key=lambda r: r["delivered"] / r["wall_s"])
        fps = [r["delivered"] / r["wall_s"] for r in rs]
        dec = f" ({top['decoded']})" if top["decoded"] is not None else ""
        print(
            f"| {res} | {pattern} | {method} | {max(fps):.1f} | "
            f"{top['cpu_s'] / top['delivered'] * 1e3:.2f} | {top['cpu_s'] / top['wall_s']:.2f} "
            f"| {top['delivered']}{dec} | {(max(fps) - min(fps)) / max(fps) * 100:.0f}% "
            f"| {top['others_cpu_s'] / top['wall_s']:.2f} |"
        )
    print("\n### Correctness\n")
    for res, v in videos.items():
        print(f"- {res}: packets by demuxing {v['packets']}, stream.frames {v['stream_frames']}")
    for res in videos:
        counts = sorted(
            {
                (r["method"], r["delivered"], r["decoded"])
                for r in runs
                if r["res"] == res and r["pattern"] == "all"
            }
        )
        print(
            f"- {res} pattern all, frames delivered (decoded) per method: "
            + ", ".join(f"{m} {d}" + (f" ({k})" if k is not None else "") for m, d, k in counts)
        )
    for lib, c in checks.items():
        print(f"- {lib}: {json.dumps(c)}")
    skipped = [lib for lib in args.libs if lib not in libs]
    if skipped:
        print(f"- not measured (interpreter or module missing): {', '.join(skipped)}")
    print(f"\nwall time of the whole run: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
