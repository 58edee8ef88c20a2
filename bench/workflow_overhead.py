"""The workflow's own overhead at cohort scale: CPU and wall seconds of Snakemake building the
job graph (`snakemake --dry-run`) and of one cluster job's parse, for cohorts of 10, 50 and
290 participants (the paper's), with a study's inputs (model.train: false, OpenPose JSON).

Under the SLURM executor every job runs Snakemake twice more (the batch script runs it with
the job-step executor, which runs it again under srun), each time parsing the Snakefile,
reading and checking the sheet and evaluating the job's parameters. A job's parse is timed
as that command with `--dry-run` (`--target-jobs <rule>:pid=sub-001 --allowed-rules <rule>
--force --nolock --mode remote`), and the cohort's total as 2 parses x 3 jobs (pose, infer,
timeline) x participants.

The cohort is fabricated, content does not matter here: `synth cohort` makes three tiny
participants; participant i gets a hard link of one of their videos (the sheet refuses one
file under two participants with the same seat, symlinks included) and a symlink to one of
their OpenPose folders, each filled to `--frames` JSON files (hard links of its first frame;
5,400 = 3 min at 30 fps). The model folder holds a safetensors file of `--model-mb` MB of
zeros (226: the paper preset's 56.6 M float32 weights), which a dry run only hashes.
`--compare DIR` times another checkout (e.g. `git worktree add DIR <commit>`) interleaved
with this one. `--stub-scontrol`: a machine with SLURM's client tools but no controller
waits 9 s per Snakemake start in the SLURM plugin's `scontrol show config` (not CPU);
this puts an `scontrol` that fails at once first on PATH.

    python bench/workflow_overhead.py --participants 10 50 290 [--compare /tmp/old]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from checkout_timing import ROOT, time_checkouts

JOBS = ("pose", "infer", "timeline")  # a participant's jobs on the model path
PARSES_PER_JOB = 2  # sbatch's Snakemake (slurm-jobstep executor) and srun's


def make_sources(folder: Path, frames: int, model_mb: int) -> None:
    """Three tiny participants (videos, OpenPose folders of `frames` files) and a model."""
    subprocess.run([sys.executable, "-m", "microdualnet", "synth", "cohort", "--out",
                    str(folder / "source"), "--per-group", "1", "--seconds", "6", "--fps", "8",
                    "--width", "64", "--height", "48", "--workers", "1"],
                   check=True, cwd=ROOT, capture_output=True)
    for openpose in sorted((folder / "source/openpose").iterdir()):
        frame = folder / "source" / f"{openpose.name}_frame.json"
        shutil.copyfile(sorted(openpose.glob("*.json"))[0], frame)
        shutil.rmtree(openpose)
        openpose.mkdir()
        for i in range(frames):
            os.link(frame, openpose / f"{openpose.name}_{i:012d}_keypoints.json")
    model = folder / "model"
    model.mkdir()
    weights = (model_mb << 20) // 4
    header = json.dumps({"weights": {"dtype": "F32", "shape": [weights],
                                     "data_offsets": [0, 4 * weights]}}).encode()
    with open(model / "model.safetensors", "wb") as out:  # zeros: a sparse file
        out.write(struct.pack("<Q", len(header)) + header)
        out.truncate(8 + len(header) + 4 * weights)
    (model / "model.json").write_text('{"note": "a stand-in: dry runs only hash it"}\n')


def make_cohort(folder: Path, sources: Path, n: int) -> Path:
    """A work folder with config.yaml and a sheet of `n` participants over the sources."""
    study = folder / "study"
    (study / "videos").mkdir(parents=True)
    (study / "openpose").mkdir()
    rows = ["participant_id\tgroup\tvideo\tage\tsex\tparticipant_side"]
    groups = ("ASD", "PSY", "TDC")
    for i in range(n):
        pid, source = f"sub-{i + 1:03d}", f"sub-{i % 3 + 1:03d}"
        os.link(sources / "source/videos" / f"{source}.mp4", study / "videos" / f"{pid}.mp4")
        (study / "openpose" / pid).symlink_to(sources / "source/openpose" / source)
        rows.append(f"{pid}\t{groups[i % 3]}\tvideos/{pid}.mp4\t{8 + i % 5}.5\t{'FM'[i % 2]}"
                    "\tleft")
    (study / "participants.tsv").write_text("\n".join(rows) + "\n")
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg.update(participants="study/participants.tsv", percent_time_source="model")
    cfg["model"].update(train=False, path=str(sources / "model"))
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    cfg["stats"]["covariates"] = ["age", "sex"]
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def snakemake_timed(tree: Path, workdir: Path, args: list[str],
                    env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of `snakemake --cores 1 <args>` from `tree`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--directory",
                           str(workdir), *args], cwd=tree, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(tree)})
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"snakemake {' '.join(args)} in {workdir} from {tree} failed:\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cluster_job(rule: str) -> list[str]:
    """The job step's Snakemake command for `rule` of sub-001, as a dry run."""
    return ["--allowed-rules", rule, "--target-jobs", f"{rule}:pid=sub-001", "--force",
            "--nolock", "--mode", "remote", "--dry-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[10, 50, 290],
                        help="cohort sizes (10 50 290)")
    parser.add_argument("--frames", type=int, default=5400,
                        help="OpenPose JSON files per participant (5400: 3 min at 30 fps)")
    parser.add_argument("--model-mb", type=int, default=226,
                        help="size of the model's weights file in MB (226: the paper preset)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (3)")
    parser.add_argument("--out", type=Path, default=None,
                        help="scratch folder, kept (default: a temporary one, removed)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout to time alongside")
    parser.add_argument("--stub-scontrol", action="store_true",
                        help="an scontrol that fails at once first on PATH")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="workflow_overhead_")) if args.out is None \
        else args.out.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.stub_scontrol:
        (scratch / "bin").mkdir(exist_ok=True)
        (scratch / "bin/scontrol").write_text("#!/bin/sh\nexit 1\n")
        (scratch / "bin/scontrol").chmod(0o755)
        env["PATH"] = f"{scratch / 'bin'}{os.pathsep}{env['PATH']}"
    try:
        make_sources(scratch, args.frames, args.model_mb)
        commands = {"dry run": ["--dry-run"], **{f"{r} job": cluster_job(r) for r in JOBS}}
        print(f"{args.frames} OpenPose files per participant, {args.model_mb} MB weights; "
              f"median of {args.runs} runs (wall, CPU = user + system seconds)")
        print(f"{'checkout':<9} {'n':>4} {'command':<13} {'wall s':>7} {'CPU s':>7}")
        for n in args.participants:
            workdir = make_cohort(scratch / f"cohort_{n}", scratch, n)
            per_job_cpu: dict[str, float] = {}
            for label, command in commands.items():
                times = time_checkouts(args.compare, args.runs,
                                       lambda name, tree, wd=workdir, c=command:
                                       snakemake_timed(tree, wd, c, env))
                for name, (_tree, wall, cpu) in times.items():
                    print(f"{name:<9} {n:>4} {label:<13} {statistics.median(wall):>7.2f} "
                          f"{statistics.median(cpu):>7.2f}", flush=True)
                    per_job_cpu[f"{name} {label}"] = statistics.median(cpu)
            for name in ("this", "compare") if args.compare else ("this",):
                total = PARSES_PER_JOB * n * sum(per_job_cpu[f"{name} {r} job"] for r in JOBS)
                print(f"{name:<9} {n:>4} cluster parses ({PARSES_PER_JOB} x {len(JOBS)} x {n}):"
                      f" {total / 3600:.2f} CPU-h")
    finally:
        if args.out is None:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
