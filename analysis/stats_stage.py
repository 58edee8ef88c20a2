"""The `stats` stage end to end: read and check inputs, pick actions, fit, write outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.config import StatsConfig
from analysis.hurdle import run_hurdle
from analysis.inputs import load_cohort
from analysis.methods import methods_text
from analysis.selection import select_actions
from analysis.tables import write_results
from pipeio import InputError, atomic_path, atomic_write_text, write_provenance

log = logging.getLogger(__name__)

#: The participant sheet as the stage read it (ids, groups, covariates): a rerun's
#: `--participants`, so the results folder alone reruns the statistics.
SHEET_USED = "participants_used.tsv"


@dataclass
class StatsOutput:
    """What the stage produced (the files are in `out_dir`)."""

    results: pd.DataFrame
    actions: list[str]
    out_dir: Path


def run_stats(cfg: StatsConfig, percent_time: Path, participants: Path,
              out_dir: Path) -> StatsOutput:
    """Run the hurdle analysis and write hurdle.tsv, Table V, methods.md, exclusions.tsv,
    the sheet's columns used (SHEET_USED) and provenance."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; the stats stage writes a folder")
    cohort = load_cohort(percent_time, participants, cfg)
    groups = cohort.groups
    for a, b in cfg.resolved_contrasts(groups):
        unknown = [g for g in (a, b) if g not in groups]
        if unknown:
            raise InputError(f"stats.contrasts: [{a}, {b}] names unknown group(s) {unknown}; "
                             f"groups are {groups}")
    if cohort.table.empty:
        raise InputError("no participants left to analyse after checks and exclusions")
    changed = cfg.overrides()
    log.info("analysis preset %s%s", cfg.preset, "".join(
        f"; {k} overridden: {v['used']} (preset: {v['preset']})" for k, v in changed.items()))
    actions = select_actions(cohort.table, cfg.top_k, cfg.actions)
    log.info("analysing %d actions: %s", len(actions), ", ".join(actions))
    results = run_hurdle(cohort.table, groups, actions, cfg)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_results(results, out_dir, cfg)
    sizes = cohort.table.groupby("group")["participant_id"].nunique().to_dict()
    atomic_write_text(out_dir / "methods.md", methods_text(
        cfg, groups, sizes, actions, results, n_excluded=cohort.exclusions["participant_id"].nunique()))
    with atomic_path(out_dir / "exclusions.tsv") as tmp:
        cohort.exclusions.to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_dir / SHEET_USED) as tmp:
        cohort.sheet_used.to_csv(tmp, sep="\t", index=False)
    write_provenance(out_dir / "provenance.json", "analysis stats",
                     params={"stats": cfg.model_dump(mode="json"), "preset": cfg.preset,
                             "overrides": cfg.overrides(), "actions": actions},
                     inputs=[percent_time, participants],
                     extra={"sheet_used": {"file": SHEET_USED,
                                           "columns": list(cohort.sheet_used.columns)}})
    return StatsOutput(results, actions, out_dir)
