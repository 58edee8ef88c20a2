"""Cohort scale: per-stage cost of the real workflow on HD recordings, and a projection to
the paper's cohort (290 participants x 3 min) on one GPU node (16 cores, 1 GPU).

For each video size it synthesises participants as a study records them (30 fps, 3 min,
the participant on a side with the interviewer in view), runs the real workflow
(`snakemake --cores C`: pose with mediapipe on the frames the model samples, infer,
aggregate, stats, plots, report) with a demo-preset network that samples and sees its input
as the paper preset does (`make_model`) on the CPU, and reads what every
job cost from Snakemake's benchmark files (CPU-seconds, wall, peak memory). The model's own
forward time (from each infer log) is taken out of infer's CPU cost: on the GPU node the
loaders decode on the CPU while the model runs on the GPU. The GPU's time for the paper
preset comes from its measured FLOPs per window at a stated utilisation of a stated peak
(a projection, until a GPU measures it: bench/gpu_check.sh).

    python bench/cohort_scale.py --out /tmp/cohort_scale --per-group 1 --sizes 1280x720 1920x1080
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from fractions import Fraction
from pathlib import Path

import pandas as pd
from workflow_run import run_workflow, workflow_config

from pipeio.atomic import atomic_write_text

PAPER_COHORT = 290
NODE_CORES = 16
# H100 SXM dense bf16 peak (TFLOP/s) and the share of it windowed inference is assumed to
# reach: a projection, stated in the output, until bench/gpu_check.sh measures it.
GPU_PEAK_TFLOPS = 989.0
GPU_UTILISATION = 0.30
PACKING = 0.9  # share of the node's cores Snakemake keeps busy with per-participant jobs
CAMERA_MBIT_1080P = 12.0  # a camcorder's or phone's 1080p30 H.264 (about 10-17 Mbit/s)
PAPER_FPS = 30.0  # MA-52's clips (about 30 fps): the rate the paper preset's stride is at


def paper_gflops_per_window() -> float:
    """FLOPs of one window (8 frames) through the paper preset, counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet

    cfg = make_config("paper", num_classes=52)
    model = MicroDualNet(cfg).eval()
    video = torch.randn(1, cfg.num_frames, 3, cfg.input_size, cfg.input_size)
    kp = torch.rand(1, cfg.num_frames, 25, 3) * torch.tensor(
        [cfg.input_size, cfg.input_size, 1.0])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(video, kp)
    return counter.get_total_flops() / 1e9


def make_model(path: Path) -> Path:
    """A random demo-preset network that reads its input as the paper preset does (8 frames
    at stride 8 of 30-fps clips, the full view at 224 px), so pose, decoding and the loader
    do the paper model's CPU work while the forward stays affordable on a CPU."""
    import torch

    from microdualnet.contract import View
    from microdualnet.model.checkpoint import save_checkpoint
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet
    from microdualnet.synthetic.actions import ACTIONS, BACKGROUND_NAME

    paper = make_config("paper")
    names = [a.name for a in ACTIONS] + [BACKGROUND_NAME]
    torch.manual_seed(0)
    model = MicroDualNet(make_config("demo", num_classes=len(names),
                                     num_frames=paper.num_frames,
                                     frame_stride=paper.frame_stride,
                                     input_size=paper.input_size))
    return save_checkpoint(model, path, fps=PAPER_FPS, view=View("full"), class_names=names)


def encode_like_a_camera(video: Path, fps: float) -> float:
    """Re-encode a synthetic video as a camera stores it (H.264 High, CABAC, deblocking, up
    to 3 B-frames where x264 finds them worth it, a keyframe every 2 s, `CAMERA_MBIT_1080P` scaled by the pixel count) in place;
    return its Mbit/s. The synthetic cohort's own files (x264 ultrafast: no deblocking, no
    B-frames) decode unlike a study's, and at a camera's quality setting the plain synthetic
    scene would take a fraction of a camera's bit rate, which sets the decoder's work."""
    import av

    from pipeio.atomic import atomic_path

    with av.open(str(video)) as src, atomic_path(video) as tmp, \
            av.open(str(tmp), "w", format="mp4") as dst:
        stream = dst.add_stream("libx264", rate=src.streams.video[0].average_rate)
        stream.width, stream.height = src.streams.video[0].width, src.streams.video[0].height
        stream.pix_fmt = "yuv420p"
        mbit = CAMERA_MBIT_1080P * stream.width * stream.height / (1920 * 1080)
        stream.bit_rate = int(mbit * 1e6)
        stream.options = {"preset": "veryfast", "g": str(round(2 * fps)), "bf": "3"}
        for i, frame in enumerate(src.decode(video=0)):
            frame.pts, frame.time_base = i, Fraction(1) / stream.codec_context.framerate
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode())
    from microdualnet.video import probe

    return video.stat().st_size * 8 / 1e6 / probe(video).duration_s


def workflow(out: Path, cohort: Path, model: Path, backend: str) -> dict:
    """The shipped config on the synthesised cohort: demo off, pose on the sampled frames."""
    return workflow_config(demo={"enabled": False},
                           participants=str(cohort / "participants.tsv"),
                           results=str(out / "results"), percent_time_source="model",
                           model={"train": False, "path": str(model)},
                           pose={"backend": backend, "openpose_dir": str(cohort / "openpose"),
                                 "only_sampled": True})


def job_costs(results: Path) -> pd.DataFrame:
    """One row per job from Snakemake's benchmark files: rule, s, cpu_time, max_rss."""
    rows = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = tsv.parent.name if tsv.parent.name != "benchmarks" else tsv.stem
        t = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": rule, "job": tsv.stem, "wall_s": float(t["s"].iloc[0]),
                     "cpu_s": float(t["cpu_time"].iloc[0]),
                     "max_rss_mb": float(t["max_rss"].iloc[0])})
    return pd.DataFrame(rows)


def model_seconds(results: Path) -> dict[str, tuple[float, int]]:
    """Per participant: the model's forward seconds and the window count (infer logs)."""
    out = {}
    for log in (results / "logs" / "infer").glob("*.log"):
        text = log.read_text()
        windows = re.search(r": (\d+)/(\d+) windows valid", text)
        model = re.search(r"\(model ([\d.]+) s", text)
        if windows and model:
            out[log.stem] = (float(model.group(1)), int(windows.group(2)))
    return out


def run_size(out: Path, size: str, args: argparse.Namespace) -> dict:
    width, height = size.split("x")
    out = out.resolve()  # the workflow runs in out/workflow
    out.mkdir(parents=True, exist_ok=True)
    cohort = out / "cohort"
    if not (cohort / "participants.tsv").is_file():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "microdualnet", "synth", "cohort", "--out",
                        str(cohort), "--per-group", str(args.per_group), "--seconds",
                        str(args.seconds), "--fps", str(args.fps), "--width", width,
                        "--height", height, "--participant-side", "random", "--interviewer",
                        "--seed", "7", "--overwrite"], check=True)
        print(f"{size}: cohort synthesised in {time.perf_counter() - start:.0f} s", flush=True)
        if args.encode == "camera":
            start = time.perf_counter()
            rates = [encode_like_a_camera(v, args.fps)
                     for v in sorted((cohort / "videos").glob("*.mp4"))]
            atomic_write_text(cohort / "camera_encoding.json", json.dumps({"mbit_s": rates}))
            print(f"{size}: re-encoded like a camera in {time.perf_counter() - start:.0f} s, "
                  f"{min(rates):.1f}-{max(rates):.1f} Mbit/s", flush=True)
    model = out / "model"
    if not (model / "model.json").is_file():
        make_model(model)
    wall = run_workflow(out / "workflow", workflow(out, cohort, model, args.pose_backend),
                        cores=args.cores)
    return {"size": size, "wall_s": wall, "jobs": job_costs(out / "results"),
            "model_s": model_seconds(out / "results")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    ap.add_argument("--per-group", type=int, default=1, help="participants per group (3 groups)")
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--pose-backend", choices=("mediapipe", "openpose"), default="mediapipe")
    ap.add_argument("--encode", choices=("camera", "synthetic"), default="camera",
                    help="camera: re-encode the synthetic videos as a camera would (default); "
                         "synthetic: keep the synthetic cohort's x264-ultrafast files")
    args = ap.parse_args()
    gflops = paper_gflops_per_window()
    print(f"# cohort scale, {date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; snakemake --cores {args.cores}; {3 * args.per_group} "
          f"participants x {args.seconds:g} s at {args.fps:g} fps per size; pose "
          f"{args.pose_backend} on the sampled frames; videos {args.encode}-encoded; a demo-preset "
          "network with the paper preset's sampling and input on the CPU")
    summary = []
    for size in args.sizes:
        run = run_size(args.out / size, size, args)
        jobs, model_s = run["jobs"], run["model_s"]
        n = max(len(model_s), 1)
        per_rule = jobs.groupby("rule").agg(jobs=("job", "count"), cpu_s=("cpu_s", "sum"),
                                            wall_s=("wall_s", "sum"),
                                            max_rss_mb=("max_rss_mb", "max"))
        per_rule["cpu_s_per_participant"] = per_rule["cpu_s"] / n
        print(f"\n## {size}: workflow wall {run['wall_s']:.0f} s for {n} participants")
        print(per_rule.round(1).to_markdown())
        forward = sum(s for s, _ in model_s.values()) / n
        windows = sum(w for _, w in model_s.values()) / n
        pose = per_rule.loc["pose", "cpu_s_per_participant"] if "pose" in per_rule.index else 0
        infer = per_rule.loc["infer", "cpu_s_per_participant"]
        cohort_rules = per_rule.drop(index=[r for r in ("pose", "infer", "timeline")
                                            if r in per_rule.index])
        summary.append({"size": size, "pose_cpu_s": pose, "infer_cpu_s": infer,
                        "demo_forward_s": forward, "infer_cpu_s_without_model":
                        infer - forward, "timeline_cpu_s": per_rule.loc["timeline",
                        "cpu_s_per_participant"] if "timeline" in per_rule.index else 0.0,
                        "windows": windows, "cohort_steps_wall_s":
                        cohort_rules["wall_s"].sum(), "max_rss_mb": per_rule["max_rss_mb"].max()})
    table = pd.DataFrame(summary)
    print(f"\n## Per participant ({args.seconds:g} s of video), measured on this machine")
    print(table.round(1).to_markdown(index=False))
    gpu_s = table["windows"] * gflops / (GPU_PEAK_TFLOPS * 1e3 * GPU_UTILISATION)
    cpu_total = PAPER_COHORT * (table["pose_cpu_s"] + table["infer_cpu_s_without_model"]
                                + table["timeline_cpu_s"])
    cpu_wall = cpu_total / (NODE_CORES * PACKING)
    gpu_wall = PAPER_COHORT * gpu_s
    projected = pd.DataFrame({
        "size": table["size"], "CPU s / participant": (cpu_total / PAPER_COHORT).round(1),
        "CPU wall min (16 cores)": (cpu_wall / 60).round(1),
        "GPU s / participant (paper, projected)": gpu_s.round(2),
        "GPU wall min": (gpu_wall / 60).round(1),
        "cohort steps min": (table["cohort_steps_wall_s"] / 60).round(1),
        "total min": ((pd.concat([cpu_wall, gpu_wall], axis=1).max(axis=1)
                       + table["cohort_steps_wall_s"]) / 60).round(1)})
    projected["<= 30 min"] = projected["total min"] <= 30
    print(f"\n## Projection: {PAPER_COHORT} participants x {args.seconds:g} s on {NODE_CORES} "
          "cores + 1 GPU (per-participant costs scale with the video's length)")
    print(f"Paper preset {gflops:.1f} GFLOPs per window (torch's flop counter, multiply-adds "
          "counted as 2; 8 frames at "
          f"224 px); GPU at {GPU_UTILISATION:.0%} of {GPU_PEAK_TFLOPS:g} TFLOP/s (H100 dense "
          f"bf16): a projection, not a measurement. CPU stages packed at {PACKING:.0%} of "
          "the cores; the GPU works while the CPU decodes (the larger of the two counts).")
    print(projected.to_markdown(index=False))
    atomic_write_text(args.out / "cohort_scale.json", json.dumps(
        {"gflops_per_window": gflops, "per_participant": summary,
         "projection": projected.to_dict("records")}, indent=2, default=float))


if __name__ == "__main__":
    main()
