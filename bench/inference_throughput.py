"""End-to-end inference windows/s (video file -> Parquet) against the model alone.

Target (issue 5): end-to-end >= 80% of model-only throughput on pre-loaded tensors, so that
decoding, preprocessing and writing hide behind the model. Both use the same windows, batch
size, device, precision (bf16 autocast on a GPU) and torch threads; model-only runs the
forward passes over tensors prepared beforehand. Each measurement runs in a new process with
its imports done before the clock starts (`infer` runs one participant per process); runs
alternate so load from other processes hits both alike; medians reported. Last, the ratio in
two factors that no drift of the machine between processes can skew: the model's share of
the end-to-end run's own time, and how much a loader process beside the model slows its
forward passes (pairs of passes alternating in one process).

    python bench/inference_throughput.py --threads 1                  # demo preset, CPU
    python bench/inference_throughput.py --preset paper --device cuda --batch-size 16
    python bench/inference_throughput.py --model models/demo          # a trained model
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.multiprocessing as mp

from microdualnet.cli import main as cli_main
from microdualnet.contract import View, read_contract
from microdualnet.data.views import FullView, PersonView, make_view
from microdualnet.inference.loader import Batch, make_batches
from microdualnet.inference.runner import (
    InferenceOptions,
    _autocast,
    resolve_device,
    run_inference,
    window_keypoints,
)
from microdualnet.model.checkpoint import load_checkpoint, save_checkpoint
from microdualnet.model.config import ModelConfig, config_from_dict, make_config
from microdualnet.model.network import MicroDualNet
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.npz import load_pose
from microdualnet.speedups import retain_freed_memory
from microdualnet.video import FrameStream, probe
from microdualnet.windowplan import WindowPlan, plan_windows
from pipeio.windows import write_windows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_inputs(work: Path, seconds: int, fps: int, width: int, height: int) -> tuple[Path, Path]:
    """One synthetic participant video and its pose file (from the OpenPose JSON)."""
    cohort = work / "cohort"
    if cli_main(["synth", "cohort", "--out", str(cohort), "--per-group", "1", "--seconds",
                 str(seconds), "--fps", str(fps), "--width", str(width), "--height",
                 str(height), "--workers", str(min(3, os.cpu_count() or 1))]):
        raise SystemExit("could not synthesise the benchmark video")
    video = sorted((cohort / "videos").glob("*.mp4"))[0]
    pose = work / "pose.npz"
    extract_pose("openpose", video, pose, openpose_dir=cohort / "openpose" / video.stem,
                 progress=False)
    return video, pose


@dataclass
class Setup:
    """What a measurement needs besides the model: the window plan and its keypoints."""

    video: Path
    plan: WindowPlan
    keypoints: np.ndarray
    frame_shape: tuple[int, int]
    view: FullView | PersonView


def setup(model_dir: Path, video: Path, pose_path: Path, opts: InferenceOptions) -> Setup:
    info = probe(video)
    contract = read_contract(model_dir)
    plan = plan_windows(info.frames, info.fps, contract.sampling_rule, opts.window_s,
                        opts.hop_s)
    return Setup(video, plan, window_keypoints(load_pose(pose_path), plan, pose_path),
                 (info.height, info.width), make_view(contract.view, contract.input_size))


def batches(where: Setup, cfg: ModelConfig, opts: InferenceOptions,
            normalised: bool) -> Iterator[Batch]:
    """Every batch of the video, prepared in this process as a loader prepares them."""
    with FrameStream(where.video) as stream:
        yield from make_batches(stream if cfg.uses_cnn else None, where.plan.frames,
                                where.keypoints, np.arange(len(where.plan)), view=where.view,
                                batch_size=opts.batch_size, frame_shape=where.frame_shape,
                                normalised=normalised)


def forward_passes(model_dir: Path, video: Path, pose_path: Path, opts: InferenceOptions,
                   device: torch.device, passes: Callable[[Callable[[], float]], None]
                   ) -> int:
    """Loads the model and every batch (pre-loaded tensors), runs one warm-up forward, then
    hands `passes` a function that times one pass over all batches; returns the window
    count."""
    loaded = load_checkpoint(model_dir, device=device)
    model, cfg = loaded.model, loaded.config
    where = setup(model_dir, video, pose_path, opts)
    inputs = [(b.video.to(device) if b.video is not None else None,
               b.keypoints.to(device)) for b in batches(where, cfg, opts, normalised=True)]

    def one_pass() -> float:
        _sync(device)
        start = time.perf_counter()
        for clip, points in inputs:
            with _autocast(device):  # as run_inference: bf16 (or float16) on a GPU
                logits = model(clip, points).logits
            torch.softmax(logits.float(), -1).cpu()
        _sync(device)
        return time.perf_counter() - start

    with torch.inference_mode():
        with _autocast(device):
            model(*inputs[0])  # warm-up
        passes(one_pass)
    return len(where.plan)


def model_only(model_dir: Path, video: Path, pose_path: Path, opts: InferenceOptions,
               device: torch.device) -> tuple[float, int]:
    """Seconds for the forward passes alone over the same (pre-loaded) batches."""
    seconds: list[float] = []
    n = forward_passes(model_dir, video, pose_path, opts, device,
                       lambda one_pass: seconds.append(one_pass()))
    return seconds[0], n


def loader_only(model_dir: Path, video: Path, pose_path: Path,
                opts: InferenceOptions, device: torch.device) -> tuple[float, int]:
    """Seconds to decode and prepare every batch in this process (the loader's CPU cost;
    for a CPU model that includes normalising, for a GPU it is done on the device)."""
    cfg = config_from_dict(read_contract(model_dir).config)
    where = setup(model_dir, video, pose_path, opts)
    start = time.perf_counter()
    for _batch in batches(where, cfg, opts, normalised=device.type == "cpu"):
        pass
    return time.perf_counter() - start, len(where.plan)


def beside_a_loader(model_dir: Path, video: Path, pose_path: Path, opts: InferenceOptions,
                    device: torch.device, pairs: int) -> list[float]:
    """Speed of the forward passes while a loader process prepares the video's batches,
    over their speed alone: pairs of passes in this process, one with the loader running
    and one without, alternating. The two processes slow each other through the cache and
    memory they share; this separates that from end-to-end's fixed costs, and the
    machine's drift between processes does not enter it."""
    ctx = mp.get_context("fork")
    running, idle = ctx.Event(), ctx.Event()
    cfg = config_from_dict(read_contract(model_dir).config)
    where = setup(model_dir, video, pose_path, opts)
    cv2.setNumThreads(1)  # before forking, as workers.py does (a child changing it hangs)

    def load_while_running() -> None:
        torch.set_num_threads(1)
        while True:
            idle.set()
            running.wait()
            idle.clear()
            for _batch in batches(where, cfg, opts, normalised=device.type == "cpu"):
                if not running.is_set():
                    break

    loader = ctx.Process(target=load_while_running, daemon=True)
    loader.start()
    ratios: list[float] = []

    def passes(one_pass: Callable[[], float]) -> None:
        for i in range(pairs):
            seconds = {}
            # Alone first, then beside, and the next pair the other way round: drift cancels.
            for beside in (False, True) if i % 2 == 0 else (True, False):
                if beside:
                    running.set()
                    time.sleep(0.05)  # the loader is decoding before the clock starts
                else:
                    running.clear()
                    idle.wait()
                seconds[beside] = one_pass()
            ratios.append(seconds[False] / seconds[True])

    try:
        forward_passes(model_dir, video, pose_path, opts, device, passes)
    finally:
        loader.terminate()
        loader.join()
    return ratios


def end_to_end(model_dir: Path, video: Path, pose: Path, out: Path,
               opts: InferenceOptions) -> tuple[float, int, dict[str, float]]:
    """Seconds from the files to the written Parquet (model loading included), and where
    the inference's own time went."""
    start = time.perf_counter()
    result = run_inference(model_dir, video, pose, opts)
    write_windows(out, result.table, result.meta)
    _sync(resolve_device(opts.device))
    return time.perf_counter() - start, len(result.table), result.timing


def measure_one(kind: str, model_dir: Path, video: Path, pose: Path, out: Path,
                opts: InferenceOptions, device: torch.device, pairs: int = 8) -> dict:
    """One measurement in this (fresh) process; the imports are done before the clock
    starts, as they are a once-per-process cost that `infer` reports apart."""
    import microdualnet.model.checkpoint  # noqa: F401

    if kind == "e2e":
        seconds, n, timing = end_to_end(model_dir, video, pose, out, opts)
        return {"rate": n / seconds, "n": n, **{k: timing[k] / seconds for k in
                                                ("forward_s", "model_load_s", "wait_s")}}
    if kind == "beside":
        return {"ratios": beside_a_loader(model_dir, video, pose, opts, device, pairs)}
    seconds, n = (model_only(model_dir, video, pose, opts, device) if kind == "model"
                  else loader_only(model_dir, video, pose, opts, device))
    return {"rate": n / seconds, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder (default: a random model of --preset)")
    parser.add_argument("--preset", choices=("demo", "paper"), default="demo")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=120, help="video length")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="160x120", help="video WxH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=8,
                        help="alternating pairs of forward passes, beside a loader and alone")
    parser.add_argument("--one", nargs=4, metavar=("KIND", "MODEL", "VIDEO", "POSE"),
                        help=argparse.SUPPRESS)  # internal: one measurement, printed as JSON
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as `infer` does; model-only and end-to-end alike
    device = resolve_device(args.device)
    opts = InferenceOptions(batch_size=args.batch_size, device=device.type, progress=False)
    if args.one:
        kind, model_dir, video, pose = args.one
        print(json.dumps(measure_one(kind, Path(model_dir), Path(video), Path(pose),
                                     Path(video).with_suffix(".windows.parquet"), opts,
                                     device, args.pairs)))
        return
    width, height = (int(v) for v in args.size.split("x"))

    def one(kind: str) -> dict:
        """Each measurement in a new process, as `infer` runs one participant per process,
        so nothing one measurement leaves behind (memory, warmed-up libraries, a forked
        loader's shared pages) helps or hurts the next."""
        cmd = [sys.executable, __file__, "--device", args.device, "--threads",
               str(args.threads), "--batch-size", str(args.batch_size), "--pairs",
               str(args.pairs), "--one", kind,
               str(model_dir), str(video), str(pose)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{kind} measurement failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video, pose = make_inputs(work, args.seconds, args.fps, width, height)
        model_dir = args.model
        if model_dir is None:
            torch.manual_seed(0)
            model_dir = save_checkpoint(MicroDualNet(make_config(args.preset, num_classes=14)),
                                        work / "model", fps=25.0, view=View("full"))
        one("e2e")  # warm-up (file cache)
        e2e, alone, loading, shares = [], [], [], []
        for i in range(args.repeats):
            # A pair runs end-to-end first, then model-only, and the next pair the other way
            # round, so a machine slowing down or speeding up favours neither.
            for kind in ("e2e", "model") if i % 2 == 0 else ("model", "e2e"):
                result = one(kind)
                if kind == "e2e":
                    e2e.append(result["rate"])
                    shares.append({k: result[k] for k in ("forward_s", "model_load_s",
                                                          "wait_s")})
                else:
                    alone.append(result["rate"])
            result = one("loader")
            loading.append(result["rate"])
            n = result["n"]
        beside = one("beside")["ratios"]
    e2e_med, alone_med = statistics.median(e2e), statistics.median(alone)
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "none"
    print(f"preset/model: {args.model or args.preset}  device: {device} ({gpu})  "
          f"threads: {args.threads}  batch: {args.batch_size}  windows: {n}  "
          f"video: {args.seconds} s {args.size} @ {args.fps} fps")
    print(f"load average (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}  "
          f"cpus: {os.cpu_count()}")
    print(f"end-to-end windows/s: {e2e_med:.1f}  (runs: {', '.join(f'{v:.1f}' for v in e2e)})")
    print(f"model-only windows/s: {alone_med:.1f}  (runs: "
          f"{', '.join(f'{v:.1f}' for v in alone)})")
    print(f"loader alone (1 process) windows/s: {statistics.median(loading):.1f}  (runs: "
          f"{', '.join(f'{v:.1f}' for v in loading)})")
    share = {k: statistics.median(s[k] for s in shares) for k in shares[0]}
    print(f"end-to-end time (medians): model {share['forward_s']:.0%}, loading it "
          f"{share['model_load_s']:.0%}, waiting for frames {share['wait_s']:.0%}, the rest "
          f"{1 - sum(share.values()):.0%} (opening files, pose, start-up, writing)")
    # Each end-to-end run is timed right beside a model-only run, so the ratio of a pair sees
    # one state of a noisy machine; their median is steadier than the ratio of medians.
    pairs = [a / b for a, b in zip(e2e, alone, strict=True)]
    print(f"end-to-end / model-only: {e2e_med / alone_med:.2f} (of medians); "
          f"{statistics.median(pairs):.2f} (median of pairs: "
          f"{', '.join(f'{v:.2f}' for v in pairs)}; {sum(p >= 0.8 for p in pairs)} of "
          f"{len(pairs)} pairs >= 0.80) (target >= 0.80)")
    # The ratio in two factors that each come from one process's own clocks, which a
    # machine whose speed drifts from one process to the next cannot skew.
    slowed = statistics.median(beside)
    print(f"forward passes beside a loader / alone: {slowed:.2f} (median of "
          f"{len(beside)} alternating pairs in one process: "
          f"{', '.join(f'{v:.2f}' for v in beside)}); times the model's share of end-to-end "
          f"time: {slowed * share['forward_s']:.2f}")


if __name__ == "__main__":
    main()
