"""`python -m microdualnet pose`: one participant's video -> pose `.npz` + QC JSON."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from microdualnet.contract import ModelContract
    from microdualnet.pose.participant import ParticipantHint


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pose", help="extract BODY_25 pose for one video (mediapipe or OpenPose "
                       "JSON)", description=__doc__)
    p.add_argument("--backend", choices=("mediapipe", "openpose"), required=True)
    p.add_argument("--video", type=Path, required=True, help="participant video")
    p.add_argument("--openpose-dir", type=Path, default=None,
                   help="folder of OpenPose JSON files, one per frame (openpose backend)")
    p.add_argument("--out", type=Path, required=True, help="pose file to write (.npz)")
    p.add_argument("--qc", type=Path, default=None,
                   help="QC summary JSON (default: beside --out as <name>.qc.json)")
    p.add_argument("--only-sampled", type=Path, default=None, metavar="MODEL_DIR",
                   help="process only the frames `infer` samples with this model and the "
                   "window options below")
    p.add_argument("--window-s", type=float, default=2.0, help="window length, as for infer")
    p.add_argument("--hop-s", type=float, default=0.5, help="window hop, as for infer")
    p.add_argument("--model-fps", type=float, default=None,
                   help="frame rate of the model's training clips, as for infer (only for "
                   "a model folder from an older version)")
    p.add_argument("--on-error", choices=("fail", "exclude"), default="fail",
                   help="when the video or the OpenPose folder cannot be read: fail (exit "
                   "status 2), or exclude: write an exclusion record (a pose file without "
                   "frames whose `excluded` key and QC JSON say why) and exit 0, so a "
                   "workflow goes on with the other participants (default: fail)")
    where = p.add_argument_group(
        "the participant among several people (default: the person nearest the frame centre)")
    where.add_argument("--participant-side", choices=("left", "right"), default=None,
                       help="the half of the frame the participant sits in")
    where.add_argument("--participant-box", default=None, metavar="X0,Y0,X1,Y1",
                       help="where the participant sits, as fractions of width and height")
    where.add_argument("--sheet", type=Path, default=None,
                       help="participant sheet (TSV) whose participant_side/participant_box "
                       "cells say it, for --participant-id")
    where.add_argument("--participant-id", default=None, help="this participant's row in "
                       "--sheet")
    p.add_argument("--min-upright-fraction", type=float, default=0.5, metavar="F",
                   help="the participant's body axis must be within 45 degrees of upright in "
                   "at least this share of the frames that show it, else the video has no "
                   "usable pose (a recording turned sideways); a failure, or an exclusion "
                   "with --on-error exclude. 0 switches the check off (default 0.5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pipeio.errors import InputError

    # Settings problems concern every participant: they fail even with --on-error exclude.
    if args.backend == "openpose" and args.openpose_dir is None:
        raise InputError("the openpose backend needs --openpose-dir")
    if not 0 <= args.min_upright_fraction <= 1:
        raise InputError("--min-upright-fraction must lie within 0-1")
    for option, value in (("--window-s", args.window_s), ("--hop-s", args.hop_s)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} must be a positive number of seconds, got {value:g}")
    args.hint = _hint(args)
    contract = None
    if args.only_sampled is not None:
        from microdualnet.contract import read_contract

        contract = read_contract(args.only_sampled, args.model_fps)
    try:
        code = _extract(args, contract)
    except InputError as err:
        if args.on_error != "exclude":
            raise
        from microdualnet.pose.extract import write_exclusion

        reason = "pose: " + " ".join(str(err).split())
        write_exclusion(args.backend, args.video, args.out, reason, qc_path=args.qc)
        print(f"pose {args.out}: excluded ({reason})")
        code = 0
    _provenance(args)
    return code


def _provenance(args: argparse.Namespace) -> None:
    """`<out>.provenance.json`, as infer writes beside its windows file: the pose file is a
    result that inference and the timelines read."""
    from pipeio.provenance import folder_manifest, write_provenance

    params = {key: getattr(args, key) for key in (
        "backend", "window_s", "hop_s", "model_fps", "on_error", "participant_id",
        "min_upright_fraction")}
    params["participant_rule"] = args.hint.rule
    inputs = [args.video, *([args.sheet] if args.sheet else [])]
    if args.only_sampled is not None:
        params["only_sampled"] = str(args.only_sampled)
        inputs.append(args.only_sampled / "model.json")
    if args.openpose_dir is not None:
        params["openpose_dir"] = str(args.openpose_dir)
        params["openpose_manifest"] = folder_manifest(args.openpose_dir)
    write_provenance(args.out.with_name(args.out.name + ".provenance.json"), "pose", params,
                     inputs, progress=not args.no_progress)


def _hint(args: argparse.Namespace) -> ParticipantHint:
    from microdualnet.pose.participant import hint_from_sheet, parse_hint
    from pipeio.errors import InputError

    if args.sheet is not None:
        if args.participant_id is None:
            raise InputError("--sheet needs --participant-id (the row to read)")
        if args.participant_side or args.participant_box:
            raise InputError("give --sheet or --participant-side/--participant-box, not both")
        return hint_from_sheet(args.sheet, args.participant_id)
    return parse_hint(args.participant_side, args.participant_box, "--participant-box")


def _extract(args: argparse.Namespace, contract: ModelContract | None) -> int:
    from microdualnet.pose.extract import extract_pose

    only = None
    if contract is not None:
        from microdualnet.video import probe
        from microdualnet.windowplan import plan_windows

        info = probe(args.video)
        only = plan_windows(info.frames, info.fps, contract.sampling_rule, args.window_s,
                            args.hop_s).unique_frames()
    summary = extract_pose(args.backend, args.video, args.out, openpose_dir=args.openpose_dir,
                           only_frames=only, qc_path=args.qc, progress=not args.no_progress,
                           hint=args.hint, min_upright=args.min_upright_fraction)
    state = f"excluded: {summary['exclusion_reason']}" if summary["excluded"] else "ok"
    print(f"pose {args.out}: person in {summary['frames_with_person']}/"
          f"{summary['frames_processed']} frames ({state})")
    for key in ("participant_warning", "track_warning", "pixel_frame_warning"):
        if summary.get(key):
            print(f"warning: {args.out}: {summary[key]}", file=sys.stderr)
    return 0
