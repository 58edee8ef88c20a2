"""Windows/s of one GPU shared by 1, 2 and 4 concurrent `infer` jobs on HD video.

Each job is the workflow's: `python -m pipeio.gpu --share N -- python -m microdualnet infer`
on its own copy of one synthetic participant (default 1280 x 720, 30 fps, 30 s, with the
interviewer), the paper preset (random weights), loader processes sharing the machine's
cores. Prints total windows/s and the GPU-busy share nvidia-smi saw, per N: the default of
`gpu.share` should be the smallest N past which windows/s stops rising.

    python bench/gpu_share.py --jobs 1 2 4 --preset paper
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from microdualnet.cli import main as cli_main
from microdualnet.contract import View
from microdualnet.model.checkpoint import save_checkpoint
from microdualnet.model.config import make_config
from microdualnet.model.network import MicroDualNet
from pipeio.gpu import device_pool
from pipeio.windows import read_windows


def _gpu_busy(samples: list[float], stop: threading.Event, gpu: str) -> None:
    """Sample nvidia-smi's utilisation of `gpu` every 0.5 s; nothing where there is no
    nvidia-smi or no GPU."""
    if shutil.which("nvidia-smi") is None or gpu == "none":
        return
    gpu = gpu if gpu != "auto" else "0"
    while not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                              "--format=csv,noheader,nounits", "-i", gpu],
                             capture_output=True, text=True, check=False)
        # No sample where it printed nothing or "[N/A]" (a MIG slice, say).
        with contextlib.suppress(IndexError, ValueError):
            samples.append(float(out.stdout.split()[0]))
        stop.wait(0.5)


def run_jobs(n: int, model: Path, cohort: Path, work: Path, batch: int, device: str,
             gpu: str) -> dict:
    """`n` jobs at once, all on device `gpu` (the wrapper's --devices: one GPU, so that a
    machine with several does not spread the jobs over them; "none": the CPU)."""
    cores = os.cpu_count() or 2
    workers = max(1, cores // n - 1)
    video, pose = cohort / "videos/sub-001.mp4", work / "pose.npz"
    procs, outs = [], []
    samples: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_gpu_busy, args=(samples, stop, gpu), daemon=True)
    watcher.start()
    start = time.perf_counter()
    for i in range(n):
        out = work / f"share{n}_{i}.parquet"
        outs.append(out)
        # stderr to a file, not a pipe: one read only at the end could fill and stall a job.
        with out.with_suffix(".err").open("w") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "pipeio.gpu", "--devices", gpu, "--share", str(n),
                 "--lock-dir", str(work / "locks"), "--", sys.executable, "-m",
                 "microdualnet", "infer", "--model", str(model), "--video", str(video),
                 "--pose", str(pose), "--out", str(out), "--device", device, "--threads",
                 "1", "--workers", str(workers), "--batch-size", str(batch),
                 "--no-progress"], stderr=err))
    for proc, out in zip(procs, outs, strict=True):
        if proc.wait() != 0:
            raise SystemExit(out.with_suffix(".err").read_text()[-2000:])
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    windows = sum(len(read_windows(o)[0]) for o in outs)
    busy = sum(samples) / len(samples) if samples else float("nan")
    return {"jobs": n, "loader_workers": workers, "windows": windows, "wall_s": round(wall, 1),
            "windows_per_s": round(windows / wall, 1), "gpu_busy_%": round(busy, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--preset", choices=("demo", "paper"), default="paper")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: only to check the script's plumbing where there is no GPU")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/gpu_share.py needs a CUDA device")
    width, height = args.size.split("x")
    # Every job on the first GPU this run may use (CUDA_VISIBLE_DEVICES, else the driver's):
    # with the wrapper's own pool, a machine with several would spread them over its GPUs.
    # Where the pool cannot be read, the wrapper's `auto` and the CUDA device 0.
    pool = device_pool("auto", os.environ) if args.device == "cuda" else []
    gpu = pool[0] if pool else "auto" if args.device == "cuda" else "none"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cohort = work / "cohort"
        assert cli_main(["synth", "cohort", "--out", str(cohort), "--per-group", "1",
                         "--seconds", str(args.seconds), "--fps", "30", "--width", width,
                         "--height", height, "--participant-side", "left", "--interviewer",
                         "--workers", "3"]) == 0
        assert cli_main(["pose", "--backend", "openpose", "--video",
                         str(cohort / "videos/sub-001.mp4"), "--openpose-dir",
                         str(cohort / "openpose/sub-001"), "--out", str(work / "pose.npz"),
                         "--participant-side", "left", "--no-progress"]) == 0
        torch.manual_seed(0)
        model = save_checkpoint(MicroDualNet(make_config(args.preset, num_classes=14)),
                                work / "model", fps=30.0, view=View("full"))
        rows = [run_jobs(n, model, cohort, work, args.batch_size, args.device, gpu)
                for n in args.jobs]
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (plumbing check)"
    print(f"# gpu share: {name}, {os.cpu_count()} CPUs, "
          f"{args.preset} preset, batch {args.batch_size}, {args.size} 30 fps {args.seconds:g} s")
    print("| jobs | loader workers each | windows | wall s | windows/s | GPU busy % |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['jobs']} | {r['loader_workers']} | {r['windows']} | {r['wall_s']} | "
              f"{r['windows_per_s']} | {r['gpu_busy_%']} |")


if __name__ == "__main__":
    main()
