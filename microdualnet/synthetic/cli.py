"""`python -m microdualnet synth {clips,cohort,coders,contact-sheet,config}`."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import yaml

from pipeio.errors import InputError
from pipeio.yamlfile import load_yaml_file


def _video_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fps", type=float, help="frame rate (default 25)")
    p.add_argument("--width", type=int, help="frame width in px, even (default 160)")
    p.add_argument("--height", type=int, help="frame height in px, even (default 120)")
    p.add_argument("--seed", type=int, help="random seed: same seed, same files (default 0)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default: up to 2)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder (only once the new one is complete)")


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _parse_groups(text: str) -> dict[str, int]:
    groups = {}
    for item in text.split(","):
        name, sep, count = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"invalid option --groups: expected NAME=COUNT,... got {text!r}")
        if name.strip() in groups:  # the last count would silently replace the first
            raise InputError(f"invalid option --groups: group {name.strip()!r} is given twice "
                             f"({text!r})")
        try:
            groups[name.strip()] = int(count)
        except ValueError:
            raise InputError(f"invalid option --groups: count of {name!r} is not an integer "
                             f"({count!r})") from None
    return groups


def cmd_clips(args: argparse.Namespace) -> int:
    from microdualnet.synthetic.clips import write_clip_set
    from microdualnet.synthetic.options import ClipSetOptions, validated

    values = _given(args, "fps", "width", "height", "seed", "workers", "train_per_class",
                    "val_per_class", "test_per_class", "min_seconds", "max_seconds",
                    "background_factor")
    if args.classes:
        values["classes"] = [c.strip() for c in args.classes.split(",")]
    values["background"] = not args.no_background
    opts = validated(ClipSetOptions, values)
    t0 = time.perf_counter()
    write_clip_set(args.out, opts, overwrite=args.overwrite)
    print(f"wrote clip set to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _load_cohort_values(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    values = load_yaml_file(path, "cohort config")
    if not isinstance(values, dict):
        raise InputError(f"cohort config {path}: expected a mapping at the top level")
    return values


def cmd_cohort(args: argparse.Namespace) -> int:
    from microdualnet.synthetic.cohort import CohortConfig, write_cohort
    from microdualnet.synthetic.options import validated

    values = _load_cohort_values(args.config)
    values.update(_given(args, "fps", "width", "height", "seed", "workers", "seconds",
                         "participant_side"))
    if args.interviewer:
        values["interviewer"] = True
    if args.groups:
        values["groups"] = _parse_groups(args.groups)
    if args.per_group is not None:
        names = values.get("groups") or CohortConfig.model_fields["groups"].default_factory()
        values["groups"] = dict.fromkeys(names, args.per_group)
    cfg = validated(CohortConfig, values, prefix="--" if args.config is None else "")
    t0 = time.perf_counter()
    write_cohort(args.out, cfg, overwrite=args.overwrite)
    print(f"wrote cohort of {sum(cfg.groups.values())} participants to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_coders(args: argparse.Namespace) -> int:
    from microdualnet.synthetic.coders import CoderNoise, CodersConfig, write_coders
    from microdualnet.synthetic.options import validated

    noise = validated(CoderNoise, _given(args, "jitter_s", "miss", "extra_per_min"))
    cfg = validated(CodersConfig, {**_given(args, "participants", "seed"), "noise": noise})
    out = write_coders(args.cohort, args.out, cfg, overwrite=args.overwrite)
    coded = yaml.safe_load((out / "coders_config.yaml").read_text())["coded"]
    print(f"wrote two coders' codings of {len(coded)} participant(s) to {out}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from microdualnet.synthetic.cohort import CohortConfig
    from pipeio.atomic import atomic_write_text

    text = yaml.safe_dump(CohortConfig().model_dump(exclude={"workers"}), sort_keys=False)
    atomic_write_text(args.out, "# Synthetic cohort: groups, video options and planted hurdle "
                      "effects.\n# Edit, then: python -m microdualnet synth cohort --config "
                      f"{args.out} --out DIR\n" + text)
    print(f"wrote default cohort config to {args.out}")
    return 0


def cmd_contact_sheet(args: argparse.Namespace) -> int:
    from microdualnet.synthetic.contact_sheet import write_contact_sheet

    if args.frames < 1:
        raise InputError(f"invalid option --frames: must be >= 1 (got {args.frames})")
    if args.seed < 0:
        raise InputError(f"invalid option --seed: must be >= 0 (got {args.seed})")
    write_contact_sheet(args.out, frames_per_row=args.frames, seed=args.seed)
    print(f"wrote contact sheet to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    synth = sub.add_parser("synth", help="generate the synthetic micro-action world")
    s = synth.add_subparsers(dest="synth_command", required=True, metavar="WHAT")

    p = s.add_parser("clips", help="labelled clip set in the MA-52 layout (train/val/test)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--classes", help="comma-separated class names (default: all)")
    p.add_argument("--no-background", action="store_true", help="omit the 'no action' class")
    p.add_argument("--train-per-class", type=int, help="training clips per class (default 100)")
    p.add_argument("--background-factor", type=int,
                   help="'no action' clips per split as a multiple of the per-class count "
                        "(default 3)")
    p.add_argument("--val-per-class", type=int, help="validation clips per class (default 20)")
    p.add_argument("--test-per-class", type=int, help="test clips per class (default 20)")
    p.add_argument("--min-seconds", type=float, help="shortest clip (default 1)")
    p.add_argument("--max-seconds", type=float, help="longest clip (default 3)")
    _video_args(p)
    p.set_defaults(func=cmd_clips)

    p = s.add_parser("cohort", help="participants with continuous videos and planted effects")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="cohort config YAML (see `synth config`); flags override it")
    p.add_argument("--groups", help="group sizes, e.g. ASD=12,PSY=12,TDC=12")
    p.add_argument("--per-group", type=int, help="participants in every group")
    p.add_argument("--seconds", type=float, help="video length per participant (default 60)")
    p.add_argument("--participant-side", choices=("centre", "left", "right", "random"),
                   help="where the participant sits (default centre; a side is written to the "
                   "sheet's participant_side column)")
    p.add_argument("--interviewer", action="store_true",
                   help="a seated interviewer on the other side, making micro-actions of "
                   "their own (needs a --participant-side other than centre)")
    _video_args(p)
    p.set_defaults(func=cmd_cohort)

    p = s.add_parser("coders", help="two human-like coders' BORIS and ELAN codings of a "
                     "cohort's true events (jitter, missed and extra events)")
    p.add_argument("--cohort", required=True, help="a folder written by `synth cohort`")
    p.add_argument("--out", help="output folder (default: <cohort>/codings)")
    p.add_argument("--participants", type=int,
                   help="participants coded, a seeded subset (default 12; all if fewer)")
    p.add_argument("--jitter-s", type=float,
                   help="SD of each onset and offset's jitter in s (default 0.3)")
    p.add_argument("--miss", type=float, help="probability of missing an event (default 0.1)")
    p.add_argument("--extra-per-min", type=float,
                   help="extra (false) events per minute of video (default 0.5)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=cmd_coders)

    p = s.add_parser("config", help="write the default cohort config (to edit)")
    p.add_argument("--out", required=True, help="YAML file to write")
    p.set_defaults(func=cmd_config)

    p = s.add_parser("contact-sheet", help="PNG with a row of frames per class, pose overlaid")
    p.add_argument("--out", required=True, help="image file to write (PNG or JPEG, by its extension)")
    p.add_argument("--frames", type=int, default=6, help="frames per row (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_contact_sheet)
