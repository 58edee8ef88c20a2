"""Inference windows/s with torch's DataLoader against the shared-memory ring of loader
processes it replaced, on HD video (issue 15: DataLoader if it comes within 5%).

For each video size (synthetic participant with the interviewer beside them, 30 fps) and
each view (the person view, which HD recordings with others in view want, and the full
view), a demo-preset model with random weights (throughput only) runs `run_inference`
end to end on the CPU, as `infer` runs in the workflow's 2-thread job: torch on 1 thread,
1 loader process, the default batch. The two variants differ only in how batches reach
the model loop (`runner._classify`):

- `ring`: the ring of reused shared-memory buffers that `workers.load_batches` was up to
  commit 9c871a6, read from git; its loaders write each batch into a ring buffer through
  the `out` hook `WindowBatches.produce` had then (`RingBatches` here);
- `dataloader`: `workers.load_batches` as it is, a `torch.utils.data.DataLoader` over an
  `IterableDataset` whose workers each take a stretch of consecutive batches as the
  ring's loaders did (`batch_size=None`, `prefetch_factor=2`, forked workers;
  `pin_memory` only for a model on CUDA, where it would matter: here the CPU, so off;
  no `persistent_workers`, which change nothing in one pass per process).

Each measurement runs in a fresh process (imports done before the clock starts, as
`infer` reports them apart), the variants alternate (ring first, then the other way
round), and the medians and the range of the runs are printed with the load average: on a
shared machine a spread larger than the difference means the difference is noise. The
CPU-seconds of each run's processes (imports included, the loaders too) are steadier than
its wall time there.

    python bench/loader_compare.py --workdir /tmp/lc --sizes 1280x720 1920x1080 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from microdualnet.cli import main as cli_main
from microdualnet.contract import View
from microdualnet.data.transforms import normalise
from microdualnet.inference import runner
from microdualnet.inference.loader import Batch, PreparedFrames, WindowBatches
from microdualnet.inference.runner import InferenceOptions, run_inference
from microdualnet.model.checkpoint import save_checkpoint
from microdualnet.model.config import make_config
from microdualnet.model.network import MicroDualNet
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.participant import hint_from_sheet
from microdualnet.speedups import retain_freed_memory
from microdualnet.video import FrameStream

ROOT = Path(__file__).resolve().parents[1]
RING_COMMIT = "9c871a6"  # the last commit whose workers.py had the ring
VARIANTS = ("ring", "dataloader")


class RingBatches(WindowBatches):
    """The batches as the ring's loaders take them: `produce(ks, out)` makes each batch's
    video in `out(n)`, a buffer of the ring, as `WindowBatches.produce` did until the ring
    went (its `out` hook); the frames are read and prepared by the current code."""

    def produce(self, ks: range, out: Callable[[int], torch.Tensor] | None = None
                ) -> Iterator[Batch]:
        if out is None or len(ks) == 0:  # no loader process: the model's own
            yield from super().produce(ks)
            return
        with FrameStream(self.path, start=int(self.frames[self.rows(ks[0])].min()),
                         info=self.info, skip_deblocking=self.skip_deblocking) as stream:
            prepared = PreparedFrames(stream, [self.frames[self.rows(k)] for k in ks],
                                      self.view)
            for i, k in enumerate(ks):
                rows = self.rows(k)
                video = out(len(rows))
                boxes = None if self.boxes is None else self.boxes[
                    self.starts[k]:self.starts[k + 1]]
                pixels = prepared.windows(i, self.frames[rows], boxes)
                flat = video.view(-1, *video.shape[2:]).numpy()
                if self.normalised:
                    normalise(pixels, out=flat)
                else:
                    np.stack(pixels, out=flat)
                yield Batch(rows, video, self.batch_keypoints(k))


def ring_loader() -> Callable[[WindowBatches, int], Iterator[Batch]]:
    """`load_batches` of the ring, from the last commit that had it (git show), over
    `RingBatches`."""
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{RING_COMMIT}:microdualnet/inference/workers.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("ring_workers")
    sys.modules[module.__name__] = module  # its messages are pickled between processes
    exec(compile(source, f"{RING_COMMIT}:workers.py", "exec"), module.__dict__)  # noqa: S102

    def load_batches(batches: WindowBatches, workers: int) -> Iterator[Batch]:
        batches.__class__ = RingBatches
        return module.load_batches(batches, workers)

    return load_batches


def measure(variant: str, model_dir: Path, video: Path, pose: Path) -> dict:
    """One `run_inference` in this (fresh) process with the variant's loader."""
    import microdualnet.model.checkpoint  # noqa: F401 - imports before the clock

    torch.set_num_threads(1)
    retain_freed_memory()
    if variant == "ring":
        runner.load_batches = ring_loader()  # the one thing that differs
    opts = InferenceOptions(device="cpu", progress=False)
    result = run_inference(model_dir, video, pose, opts)
    loaders = resource.getrusage(resource.RUSAGE_CHILDREN)
    windows = int(result.table["valid"].sum())
    timing = result.timing
    return {"rate": windows / timing["total_s"], "windows": windows,
            "loader_cpu_s": loaders.ru_utime + loaders.ru_stime,
            **{k: timing[k] for k in ("total_s", "forward_s", "wait_s", "model_load_s")}}


def make_video(work: Path, width: int, height: int, seconds: int, fps: int) -> tuple[Path, Path]:
    """A synthetic participant on the left with the interviewer beside them, and its pose
    file (OpenPose JSON, the sheet's side), kept in `work` for later runs."""
    cohort = work / f"c{width}x{height}_{seconds}s_{fps}fps"  # reused only when all match
    made = (cohort / "participants.tsv").is_file() or not cli_main(
        ["synth", "cohort", "--out", str(cohort), "--per-group", "1", "--seconds",
         str(seconds), "--fps", str(fps), "--width", str(width), "--height", str(height),
         "--participant-side", "left", "--interviewer", "--seed", "3", "--overwrite"])
    if not made:
        raise SystemExit("could not synthesise the benchmark video")
    video = sorted((cohort / "videos").glob("*.mp4"))[0]
    pose = cohort / f"{video.stem}.pose.npz"
    if not pose.is_file():
        extract_pose("openpose", video, pose, openpose_dir=cohort / "openpose" / video.stem,
                     progress=False, hint=hint_from_sheet(cohort / "participants.tsv",
                                                          video.stem))
    return video, pose


def make_model(work: Path, view: str, fps: int) -> Path:
    """The demo preset as the demo trains it (8 frames, stride 3), random weights."""
    torch.manual_seed(0)
    cfg = make_config("demo", num_classes=14, num_frames=8, frame_stride=3)
    contract = (View("full") if view == "full"
                else View("person", source_short_side=2 * cfg.input_size))
    return save_checkpoint(MicroDualNet(cfg), work / f"model_{view}", fps=float(fps),
                           view=contract)


def _spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} (runs {', '.join(f'{v:.2f}' for v in values)};"
            f" range {min(values):.2f}-{max(values):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="videos and models are kept here for later runs")
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    parser.add_argument("--views", nargs="+", choices=("person", "full"),
                        default=["person", "full"])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=4, metavar=("VARIANT", "MODEL", "VIDEO", "POSE"),
                        help=argparse.SUPPRESS)  # internal: one measurement, printed as JSON
    args = parser.parse_args()
    if args.one:
        variant, model_dir, video, pose = args.one
        print(json.dumps(measure(variant, Path(model_dir), Path(video), Path(pose))))
        return

    def one(variant: str, model_dir: Path, video: Path, pose: Path) -> dict:
        cmd = [sys.executable, __file__, "--workdir", str(args.workdir), "--one", variant,
               str(model_dir), str(video), str(pose)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{variant} measurement failed:\n{done.stderr}")
        cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
        return {**json.loads(done.stdout.strip().splitlines()[-1]), "cpu_s": cpu}

    args.workdir.mkdir(parents=True, exist_ok=True)
    defaults = InferenceOptions()
    print(f"demo preset (random weights, 8 frames, stride 3, input "
          f"{make_config('demo', num_classes=14).input_size} px) on the CPU; torch 1 thread, "
          f"{defaults.workers} loader process, batch {defaults.batch_size}; synthetic video "
          f"{args.seconds} s at {args.fps} fps, participant left, interviewer right; "
          f"torch {torch.__version__}; {os.cpu_count()} CPUs")
    print("| video | view | windows | ring, windows/s | DataLoader, windows/s | "
          "DataLoader / ring (median of pairs) | CPU-s per run, ring / DataLoader (medians) | "
          "load average before / after |")
    print("|---|---|---:|---|---|---|---|---|")
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        video, pose = make_video(args.workdir, width, height, args.seconds, args.fps)
        for view in args.views:
            model_dir = make_model(args.workdir, view, args.fps)
            before = os.getloadavg()
            one("ring", model_dir, video, pose)  # warm-up: the file cache
            runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
            for i in range(args.repeats):
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    runs[variant].append(one(variant, model_dir, video, pose))
            after = os.getloadavg()
            rates = {v: [r["rate"] for r in runs[v]] for v in VARIANTS}
            pairs = [b / a for a, b in zip(rates["ring"], rates["dataloader"], strict=True)]
            cpu = {v: statistics.median(r["cpu_s"] for r in runs[v]) for v in VARIANTS}
            print(f"| {size} | {view} | {runs['ring'][0]['windows']} | {_spread(rates['ring'])}"
                  f" | {_spread(rates['dataloader'])} | {_spread(pairs)} | "
                  f"{cpu['ring']:.1f} / {cpu['dataloader']:.1f} | "
                  f"{' '.join(f'{v:.1f}' for v in before)} / "
                  f"{' '.join(f'{v:.1f}' for v in after)} |", flush=True)
            for variant in VARIANTS:
                share = {k: statistics.median(r[k] / r["total_s"] for r in runs[variant])
                         for k in ("forward_s", "wait_s")}
                loader = statistics.median(r["loader_cpu_s"] for r in runs[variant])
                print(f"  {variant}: model {share['forward_s']:.0%} of the time, waiting "
                      f"for batches {share['wait_s']:.0%}; loader process {loader:.1f} CPU-s "
                      "(medians)", flush=True)


if __name__ == "__main__":
    main()
