"""`python -m microdualnet train` and `train-ablation`: training runs from a YAML config."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="training config (YAML)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.epochs=5 (repeatable)")
    p.add_argument("--data-root", type=Path, default=None, help="override data.root")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train and evaluate Micro-DualNet (MA-52, iMiGUE, synthetic clips)",
        description="Train from a YAML config; the output folder becomes a model folder "
                    "(model.safetensors + model.json) with logs, figures and test metrics "
                    "under training/. An interrupted run resumes from its last epoch.")
    _common(p)
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if the output folder holds a resume state")
    p.add_argument("--restart-if-changed", action="store_true",
                   help="start over when the resume state was written for another config "
                        "or other training data (default: refuse); also with "
                        "MICRODUALNET_TRAIN_RESTART_IF_CHANGED=1, which the workflow sets")
    p.set_defaults(func=_train)
    a = subparsers.add_parser(
        "train-ablation", help="train model variants on the same data; one results table",
        description="Run `train` once per variant into OUT/<variant>/ (each resumable) and "
                    "write OUT/ablation.tsv and OUT/ablation.md. With --table, the variants "
                    "are the rows of one of the paper's tables, printed beside its numbers.")
    _common(a)
    which = a.add_mutually_exclusive_group()
    which.add_argument("--variants", default=None,
                       help="comma-separated variant specs, each a name or names joined by + "
                            "(e.g. full,ts-only+no-sem; default: every single variant)")
    which.add_argument("--table", default=None,
                       help="every row of a paper table: I, II, III, IV, IV-frames, "
                            "IV-aggregation, IV-mac")
    a.set_defaults(func=_ablation)


RESTART_ENV = "MICRODUALNET_TRAIN_RESTART_IF_CHANGED"


def restart_from_env() -> bool:
    """The workflow sets RESTART_ENV=1 for its jobs (in the Snakefile's shell prefix, so that
    adding it reran no existing train job)."""
    return os.environ.get(RESTART_ENV, "") == "1"


def _load(args: argparse.Namespace):
    from microdualnet.training.config import load_config

    sets = list(args.sets)
    if args.data_root is not None:
        sets.append(f"data.root={args.data_root}")
    return load_config(args.config, sets)


def _train(args: argparse.Namespace) -> int:
    from microdualnet.training.distributed import ranks_from_env
    from microdualnet.training.loop import train

    metrics = train(_load(args), args.out, resume=not args.no_resume,
                    restart_if_changed=args.restart_if_changed or restart_from_env())
    if not ranks_from_env().main:  # under torchrun rank 0 reports
        return 0
    role = metrics["eval_split"]
    m = metrics[role]
    extra = f", F1_mean {m['f1_mean']:.2f}" if "f1_mean" in m else ""
    print(f"{role}: Top-1 {m['top1']:.2f}, Top-5 {m['top5']:.2f}{extra} -> {args.out}")
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from microdualnet.model.config import VARIANTS, parse_variant
    from microdualnet.training.ablation import run_ablation, run_table
    from microdualnet.training.distributed import ranks_from_env
    from microdualnet.training.paper_tables import get_table

    if args.table is not None:
        get_table(args.table)  # an unknown table fails before the config is read
        table = run_table(_load(args), args.out, args.table)
    else:
        variants = args.variants.split(",") if args.variants else list(VARIANTS)
        for spec in variants:
            parse_variant(spec)
        table = run_ablation(_load(args), args.out, variants)
    if ranks_from_env().main:  # under torchrun rank 0 reports
        print(table)
    return 0
