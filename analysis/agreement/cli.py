"""The `agreement` subcommand's options; the work (and its heavy imports) in `stage`."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.aggregate import add_decision_args


def _run(args: argparse.Namespace) -> None:
    from analysis.agreement.stage import run_agreement

    run_agreement(args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agreement", help="model vs human coders and coder vs coder: ICC, "
                       "Bland-Altman, kappa, event F1 per action")
    p.add_argument("--codings", nargs="+", action="extend", required=True, metavar="NAME=PATH",
                   help="a coder's BORIS exports / ELAN files (a file or a folder); repeat a "
                   "NAME to add files")
    p.add_argument("--mapping", type=Path, required=True,
                   help="mapping file: coded behaviour -> model class, BORIS subject, ...")
    p.add_argument("--windows", type=Path, nargs="+", action="extend", default=None,
                   help="the model's windows Parquet files or folders (omit to compare "
                   "coders only)")
    p.add_argument("--durations", type=Path, default=None,
                   help="TSV participant_id, duration_s: video lengths of participants "
                   "without a windows file")
    p.add_argument("--out-dir", type=Path, required=True, help="output folder")
    p.add_argument("--min-iou", type=float, default=0.5,
                   help="temporal IoU at which two events match (0.5)")
    p.add_argument("--level", type=float, default=0.95,
                   help="confidence level of the ICC interval and Bland-Altman limits (0.95)")
    add_decision_args(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=_run)
