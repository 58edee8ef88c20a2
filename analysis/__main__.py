"""Command line: `python -m analysis stats|plots|aggregate|truth-percent-time|pose-quality|
timeline|report|review-codings|agreement ...`.

Bad input ends with `error: <one line>` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from pipeio import InputError

# Stages that set their own `run` (they take no stats config): command -> module and its
# parser function. Only the command asked for is imported: each stage module imports what its
# work needs (pandas, matplotlib, ...), and a per-participant job (timeline, one per
# participant) would otherwise pay for every stage's imports.
STAGES = {
    "aggregate": ("analysis.aggregate", "add_parser"),
    "truth-percent-time": ("analysis.aggregate", "add_truth_parser"),
    "pose-quality": ("analysis.pose_quality", "add_parser"),
    "timeline": ("analysis.timeline", "add_parser"),
    "report": ("analysis.report", "add_parser"),
    "review-codings": ("analysis.codings.model", "add_parser"),
    "agreement": ("analysis.agreement.cli", "add_parser"),
}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `stats`, `plots` and the stage `command` (every stage when `command` is
    none of them: `-h` lists all, and a wrong name is told the choices)."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Hurdle-model statistics, Table V and violin plots for percent-time data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    stats = sub.add_parser("stats", help="fit the hurdle models; write hurdle.tsv, Table V, "
                           "methods.md")
    stats.add_argument("--percent-time", type=Path, required=True,
                       help="long TSV: participant_id, group, [covariates], action, "
                       "percent_time, valid_s")
    stats.add_argument("--participants", type=Path, required=True,
                       help="participant sheet TSV: participant_id, group, [covariates]")
    stats.add_argument("--config", type=Path, default=None,
                       help="YAML file; its `stats:` section is read if present, else the whole "
                       "file is the stats section (default: all defaults)")
    stats.add_argument("--out", type=Path, required=True, help="output folder")

    plots = sub.add_parser("plots", help="violin plots (one per action + overview)")
    plots.add_argument("--percent-time", type=Path, required=True, help="long percent-time TSV")
    plots.add_argument("--hurdle", type=Path, required=True,
                       help="hurdle.tsv from `analysis stats` (actions and p-values)")
    plots.add_argument("--exclusions", type=Path, default=None,
                       help="exclusions.tsv from `analysis stats`: participants the models "
                       "left out are not drawn either (default: the one beside --hurdle)")
    plots.add_argument("--config", type=Path, default=None, help="YAML file, as for stats")
    plots.add_argument("--out", type=Path, required=True, help="figures folder")

    for p in (stats, plots):
        p.add_argument("-v", "--verbose", action="store_true", help="log progress")

    if command in ("stats", "plots"):
        return parser
    for name, (module, function) in STAGES.items():
        if command not in STAGES or name == command:
            getattr(importlib.import_module(module), function)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if hasattr(args, "run"):
            args.run(args)
            return 0
        from analysis.config import load_stats_config

        cfg = load_stats_config(args.config)
        if args.command == "stats":
            from analysis.stats_stage import run_stats

            run_stats(cfg, args.percent_time, args.participants, args.out)
        else:
            from analysis.plots_stage import run_plots

            exclusions = args.exclusions or args.hurdle.with_name("exclusions.tsv")
            run_plots(cfg, args.percent_time, args.hurdle, args.out,
                      exclusions if args.exclusions or exclusions.is_file() else None)
    except InputError as exc:
        parser.exit(2, f"error: {' '.join(str(exc).split())}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
