"""`python -m microdualnet <command>`: one entry point for every torch-side stage.

Each command lives in its own module exposing `register(subparsers)`; modules import their
heavy dependencies inside the command function so `--help` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from microdualnet import __version__
from pipeio.errors import InputError

# Modules that register subcommands, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "microdualnet.synthetic.cli",
    "microdualnet.model.cli",
    "microdualnet.training.cli",
    "microdualnet.evaluation.cli",
    "microdualnet.pose.cli",
    "microdualnet.inference.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m microdualnet",
        description="Micro-DualNet: synthetic data, training, pose extraction and inference.",
    )
    parser.add_argument("--version", action="version", version=f"microdualnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
