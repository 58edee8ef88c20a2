"""Command line: `python -m analysis stats|plots|aggregate|truth-percent-time|pose-quality|
timeline|report|review-codings|agreement ...`.

Bad input ends with `error: <one line>` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from analysis.config import load_stats_config
from pipeio import InputError


def _parser() -> argparse.ArgumentParser:
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

    # Stages that set their own `run` (they take no stats config).
    from analysis.aggregate import add_parser as add_aggregate
    from analysis.aggregate import add_truth_parser
    from analysis.agreement.cli import add_parser as add_agreement
    from analysis.codings.model import add_parser as add_review_codings
    from analysis.pose_quality import add_parser as add_pose_quality
    from analysis.report import add_parser as add_report
    from analysis.timeline import add_parser as add_timeline

    add_aggregate(sub)
    add_truth_parser(sub)
    add_pose_quality(sub)
    add_timeline(sub)
    add_report(sub)
    add_review_codings(sub)
    add_agreement(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if hasattr(args, "run"):
            args.run(args)
            return 0
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
