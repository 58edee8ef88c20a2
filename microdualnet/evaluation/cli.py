"""`python -m microdualnet evaluate`: a trained model folder on a labelled split."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate a model folder on a labelled split (MA-52, iMiGUE, synthetic)",
        description="Run a trained model on one split with the model's own contract "
                    "(model.json: frame rate, frames, stride, input size, view, normalisation) "
                    "and write metrics.json (F1_mean, Top-1/Top-5, body level where the data "
                    "has one), per_class.tsv, confusion.png, table_row.tsv/.md and "
                    "provenance.json into OUT.")
    p.add_argument("--model", required=True, type=Path, help="model folder (model.json + "
                   "model.safetensors)")
    p.add_argument("--data-root", required=True, type=Path, help="data set folder")
    p.add_argument("--format", default="ma52", choices=("ma52", "imigue", "synthetic"),
                   help="layout of the data set (synthetic: MA-52 layout with label_map.tsv; "
                        "default ma52)")
    p.add_argument("--split", default="test", help="split name (default test; MA-52's "
                   "public test labels are dummies and refused: use val)")
    p.add_argument("--out", required=True, type=Path, help="output folder (must not exist "
                   "unless --overwrite)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batch (default 32)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="default: cuda when available, else cpu")
    p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA (faster; "
                   "metrics may differ from float32 in the last digits)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--max-bad-clips", type=int, default=0,
                   help="unusable clips tolerated (skipped and named on stderr; default 0)")
    p.add_argument("--name", default=None, help="method name in the Table I row "
                   "(default: the model folder's name)")
    p.add_argument("--model-fps", type=float, default=None, help="training clip frame rate "
                   "of a format-1 model folder (newer folders record it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from microdualnet.evaluation.evaluate import EvalOptions, evaluate
    from pipeio.errors import InputError

    for flag, value, low in (("--batch-size", args.batch_size, 1), ("--workers", args.workers, 0),
                             ("--max-bad-clips", args.max_bad_clips, 0),
                             ("--threads", args.threads, 1)):
        if value is not None and value < low:
            raise InputError(f"{flag} must be at least {low}, got {value}")
    opts = EvalOptions(batch_size=args.batch_size, workers=args.workers, device=args.device,
                       amp=args.amp, threads=args.threads, progress=not args.no_progress,
                       max_bad_clips=args.max_bad_clips, name=args.name,
                       model_fps=args.model_fps, overwrite=args.overwrite)
    report = evaluate(args.model, args.data_root, args.format, args.split, args.out, opts)
    m = report["metrics"]
    extra = f", F1_mean {m['f1_mean']:.2f}" if "f1_mean" in m else ""
    print(f"{args.split}: {report['clips_evaluated']} clips, Top-1 {m['top1']:.2f}, "
          f"Top-5 {m['top5']:.2f}{extra} -> {args.out}")
    return 0
