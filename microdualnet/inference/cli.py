"""`python -m microdualnet infer`: one participant's video + pose -> windows Parquet."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="sliding-window Micro-DualNet inference over one video",
                       description=__doc__)
    p.add_argument("--model", type=Path, required=True, help="model folder (model.json + "
                   "model.safetensors)")
    p.add_argument("--video", type=Path, required=True, help="participant video")
    p.add_argument("--pose", type=Path, required=True, help="pose .npz from `pose`")
    p.add_argument("--out", type=Path, required=True, help="windows Parquet to write")
    p.add_argument("--participant-id", default=None,
                   help="stored in the file's metadata (default: the --out file name)")
    p.add_argument("--window-s", type=float, default=2.0, help="window length in s (2.0)")
    p.add_argument("--hop-s", type=float, default=0.5, help="window hop in s (0.5)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--workers", type=int, default=1,
                   help="loader processes decoding ahead of the model (1; 0 = none)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--min-pose-fraction", type=float, default=0.5,
                   help="a window is valid when at least this share of its sampled frames "
                   "has a person (0.5)")
    p.add_argument("--max-repeated-frames", type=float, default=0.5,
                   help="refuse a video slower than the model's sampling when more than this "
                   "share of its windows' frames repeat the frame before them (0.5; 1 = "
                   "never refuse; a smaller share is a warning)")
    p.add_argument("--model-fps", type=float, default=None,
                   help="frame rate of the model's training clips, for a model folder from "
                   "an older version whose model.json lacks 'fps' (newer folders record it)")
    p.add_argument("--on-error", choices=("fail", "exclude"), default="fail",
                   help="when this participant's video or pose file cannot be used (or the "
                   "pose file is an exclusion record): fail (exit status 2), or exclude: "
                   "write a windows file without windows whose metadata says why, and exit 0 "
                   "(the model itself must load either way; default: fail)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    from microdualnet.contract import read_contract
    from microdualnet.inference.runner import (
        InferenceOptions,
        autocast_dtype,
        excluded_result,
        resolve_device,
        run_inference,
    )
    from microdualnet.model.checkpoint import check_checkpoint
    from microdualnet.pose.npz import load_pose
    from pipeio.errors import InputError
    from pipeio.provenance import write_provenance
    from pipeio.windows import write_windows

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0 <= args.min_pose_fraction <= 1:
        raise InputError(f"--min-pose-fraction must be within 0-1, got {args.min_pose_fraction}")
    if not 0 <= args.max_repeated_frames <= 1:
        raise InputError("--max-repeated-frames must be within 0-1, got "
                         f"{args.max_repeated_frames}")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    if args.workers < 0:
        raise InputError(f"--workers must be 0 or more, got {args.workers}")
    opts = InferenceOptions(args.window_s, args.hop_s, args.batch_size, args.device,
                            args.min_pose_fraction, args.model_fps, not args.no_progress,
                            args.workers, args.max_repeated_frames)
    for name in ("window_s", "hop_s"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"--{name.replace('_', '-')} must be a positive number of "
                             f"seconds, got {value}")
    # A problem of the model, the device or the options concerns every participant: it fails
    # here, before the try below, even with --on-error exclude (never an exclusion).
    read_contract(args.model, args.model_fps)
    check_checkpoint(args.model)
    device = resolve_device(args.device)
    pid = args.participant_id or args.out.name.removesuffix(".parquet")
    try:
        result = run_inference(args.model, args.video, args.pose, opts)
    except RuntimeError as err:  # out of GPU memory: not the participant's fault, no exclusion
        import os

        from pipeio.gpu import OUT_OF_MEMORY_EXIT, SHARE_ENV, out_of_memory_line

        # torch.OutOfMemoryError, or CUDA saying it in a RuntimeError (its context, cuBLAS,
        # cuDNN): either way exit 75, so pipeio.gpu runs the job again alone on the device.
        detail = out_of_memory_line(err)
        if detail is None:
            raise
        share = os.environ.get(SHARE_ENV, "1")
        detail = detail[:120]
        print(f"error: infer {pid}: out of GPU memory with the device shared by up to {share} "
              f"job(s) ({detail}); lower --batch-size or gpu.share", file=sys.stderr)
        return OUT_OF_MEMORY_EXIT
    except InputError as err:
        if args.on_error != "exclude":
            raise
        try:  # a participant the pose stage excluded keeps the pose stage's reason
            reason = load_pose(args.pose).excluded
        except InputError:
            reason = None
        reason = reason or "infer: " + " ".join(str(err).split())
        result = excluded_result(args.model, args.video, reason, opts)
    write_windows(args.out, result.table, {"participant_id": pid, **result.meta})
    # What --device auto became, and the precision there: bfloat16/float16 on a GPU, float32
    # on the CPU, so probabilities (and decisions at the threshold) may differ slightly. So
    # may torch's CPU threads (the default is the machine's cores): up to 1e-7 measured.
    dtype = autocast_dtype(device)
    ran_on = {"device_used": device.type,
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "autocast": None if dtype is None else str(dtype).removeprefix("torch."),
              "threads": torch.get_num_threads()}
    write_provenance(args.out.with_name(args.out.name + ".provenance.json"), "infer",
                     {**vars(opts), "on_error": args.on_error},
                     [args.video, args.pose, args.model / "model.safetensors",
                      args.model / "model.json"], extra=ran_on, progress=opts.progress)
    # A video slower than the model samples; others in a full-view model's input.
    for key in ("frame_rate_warning", "others_in_view_warning"):
        if result.meta.get(key):
            print(f"warning: infer {pid}: {result.meta[key]}", file=sys.stderr)
    valid = int(result.table["valid"].sum())
    note = f" (excluded: {result.meta['excluded']})" if result.meta["excluded"] else ""
    time_note = ""
    if result.timing:  # where the time went: a run waiting on its loaders wants --workers
        t = result.timing
        time_note = (f"; {t['total_s']:.1f} s (model {t['forward_s']:.1f} s, loading it "
                     f"{t['model_load_s']:.1f} s, waiting for frames {t['wait_s']:.1f} s)")
    print(f"infer {args.out}: {valid}/{len(result.table)} windows valid{note}{time_note}")
    return 0
