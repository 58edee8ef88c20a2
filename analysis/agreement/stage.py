"""`python -m analysis agreement`: the model and human coders compared, per action.

Writes into `--out-dir`: `agreement.tsv` (one row per pair of sources and action),
`agreement_percent_time.tsv` (the per-participant percent times behind ICC and
Bland-Altman), `agreement.md` (the table for the report) and
`figures/bland_altman_<action>.png`. Pairs: every coder as reference against the model
(when `--windows` are given), and every two coders (the first named as reference).
"""

from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.aggregate import bin_grid, decision_from, participant_timeline, windows_files
from analysis.agreement.compare import Rated, compare, rate_events
from analysis.agreement.figures import BlandAltmanFigures
from analysis.agreement.table import markdown
from analysis.codings import coding_files, load_mapping, read_codings
from analysis.codings.model import timeline_events
from analysis.inputs import MODEL_CODER as MODEL
from analysis.inputs import file_lines, numeric_column, read_tsv
from analysis.plots import slugify
from pipeio import InputError, atomic_path, atomic_write_text, write_provenance
from pipeio.windows import check_same_settings, files_metadata

log = logging.getLogger(__name__)


def _coders(items: list[str]) -> dict[str, list[Path]]:
    """NAME=PATH items -> coder name -> paths (a name may repeat)."""
    coders: dict[str, list[Path]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"invalid option --codings: expected NAME=PATH, got {item!r}")
        if name == MODEL:
            raise InputError(f"invalid option --codings: {MODEL!r} names the model's codings")
        coders.setdefault(name, []).append(Path(path))
    return coders


def _durations(path: Path) -> dict[str, float]:
    """participant id -> video length (s), each a positive number, each participant once."""
    what = f"durations file {path}"
    table = read_tsv(path, ("participant_id", "duration_s"), "durations file")
    seconds = numeric_column(table, "duration_s", what)
    bad = table.index[~(seconds > 0) | ~np.isfinite(seconds)]
    if len(bad):
        raise InputError(f"{what}: duration_s is not a positive number of seconds on "
                         f"{file_lines(bad)}")
    twice = table.index[table["participant_id"].duplicated()]
    if len(twice):
        raise InputError(f"{what}: participant_id repeats on {file_lines(twice)}")
    return dict(zip(table["participant_id"], seconds.astype(float), strict=True))


def run_agreement(args: argparse.Namespace) -> pd.DataFrame:
    """Read everything, compare every pair, write the outputs; return the agreement table."""
    coders = _coders(args.codings)
    decision = decision_from(args)
    if not 0 < args.level < 1:
        raise InputError(f"invalid option --level: must lie between 0 and 1 (got {args.level})")
    if not 0 < args.min_iou <= 1:
        raise InputError(f"invalid option --min-iou: must lie in (0, 1] (got {args.min_iou})")
    rated: dict[str, dict[str, Rated]] = {}
    widths, durations, classes = {}, {}, None
    no_windows: set[str] = set()  # excluded before any window: their video length is unknown
    files: list[Path] = []
    if args.windows:
        files = windows_files(args.windows)
        check_same_settings(files_metadata(files))
        rated[MODEL] = {}
        for path in files:
            tl = participant_timeline(path, decision)
            classes = classes or tl.actions
            if tl.actions != classes:
                raise InputError(f"{path}: classes {tl.actions} differ from {classes}")
            if not len(tl.bin_start):  # excluded before any window: nothing to compare
                log.info("participant %s: no windows (%s); the model is not compared",
                         tl.participant_id, tl.excluded)
                no_windows.add(tl.participant_id)
                continue
            durations[tl.participant_id] = float(tl.bin_start[-1] + tl.bin_width[-1])
            widths[tl.participant_id] = tl.bin_width
            rated[MODEL][tl.participant_id] = Rated(
                {a: tl.label == i for i, a in enumerate(tl.actions)}, tl.valid,
                timeline_events(tl))
    if args.durations is not None:
        for pid, seconds in _durations(args.durations).items():
            durations.setdefault(pid, seconds)
    mapping = load_mapping(args.mapping, classes)
    actions = classes or sorted({a for a in mapping.behaviours.values() if a})
    for name, paths in coders.items():
        codings = read_codings(paths, mapping, durations)
        rated[name] = {}
        for pid in codings.participants:
            if pid not in durations:
                if pid in no_windows:
                    log.warning("coder %s: participant %s is not compared (excluded before "
                                "any window, so no video length is known; --durations gives "
                                "it)", name, pid)
                    continue
                if args.windows:  # a typo or a participant left out
                    raise InputError(f"coder {name}: participant {pid} has no windows file "
                                     "among --windows (not in the participant sheet? name the "
                                     "coding file after a participant, move it out of the "
                                     "coder's folder, or give the video length with "
                                     "--durations)")
                raise InputError(f"coder {name}: no video length known for participant {pid} "
                                 "(give their windows file with --windows, or --durations)")
            start, widths[pid] = bin_grid(durations[pid], decision.bin_s)
            events = codings.events[codings.events["participant_id"] == pid]
            rated[name][pid] = rate_events(events, start, widths[pid], actions)
    names = list(coders)
    pairs = [(c, MODEL) for c in names if MODEL in rated] + list(itertools.combinations(names,
                                                                                        2))
    if not pairs:  # one coder, no model
        raise InputError(f"nothing to compare: coder {names[0]} alone; give the model's "
                         "--windows or a second coder")
    tables, points = [], []
    for ref, cmp in pairs:
        table, pts = compare(rated[ref], rated[cmp], widths, actions, args.min_iou, args.level)
        if table["n"].max() == 0:
            log.warning("%s and %s code no participant in common", ref, cmp)
        tables.append(table.assign(reference=ref, compared=cmp))
        points.append(pts.assign(reference_source=ref, compared_source=cmp))
    result = pd.concat(tables, ignore_index=True)
    result = result[["reference", "compared", *[c for c in result.columns
                                                 if c not in ("reference", "compared")]]]
    _write(args.out_dir, result, pd.concat(points, ignore_index=True), actions, args)
    write_provenance(args.out_dir / "agreement.provenance.json", "agreement",
                     params={"bin_s": decision.bin_s, "decision": decision.mode,
                             "threshold": decision.threshold, "baseline": decision.baseline,
                             "credit": decision.credit, "min_iou": args.min_iou, "level": args.level,
                             "coders": {k: [str(p) for p in v] for k, v in coders.items()}},
                     inputs=[args.mapping, *[f for v in coders.values() for p in v
                                             for f in coding_files(p)],
                             *files, *([args.durations] if args.durations else [])])
    return result


def _write(out_dir: Path, result: pd.DataFrame, points: pd.DataFrame, actions: list[str],
           args: argparse.Namespace) -> None:
    slugs = [slugify(a) for a in actions]
    if len(set(slugs)) < len(slugs):  # before anything is written
        raise InputError(f"actions {actions} give clashing file names {slugs}")
    with atomic_path(out_dir / "agreement.tsv") as tmp:
        result.to_csv(tmp, sep="\t", index=False, float_format="%.6f")
    with atomic_path(out_dir / "agreement_percent_time.tsv") as tmp:
        points.to_csv(tmp, sep="\t", index=False, float_format="%.6f")
    atomic_write_text(out_dir / "agreement.md",
                      markdown(result, args.bin_s, args.min_iou, args.level))
    # Every action has a row for each pair: one figure, a panel per pair, drawn per action.
    figures = BlandAltmanFigures(list(result[["reference", "compared"]].drop_duplicates()
                                      .itertuples(index=False, name=None)))
    for action, slug in zip(actions, slugs, strict=True):
        figures.draw(action, points[points["action"] == action],
                     result[result["action"] == action],
                     out_dir / "figures" / f"bland_altman_{slug}.png")
