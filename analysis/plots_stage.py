"""The `plots` stage: violin plots per action and an overview, from hurdle.tsv's p-values."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.config import StatsConfig
from analysis.hurdle import RESULT_COLUMNS
from analysis.inputs import (
    TABLE_COLUMNS,
    check_groups,
    check_percent_table,
    read_tsv,
    resolve_groups,
)
from analysis.plots import brackets_for, caption_text, overview_figure, single_figure, slugify
from analysis.tables import stats_settings
from pipeio import InputError, atomic_path, atomic_write_text, write_provenance

FORMATS = ("png", "pdf")


def read_hurdle(path: Path) -> pd.DataFrame:
    """Read hurdle.tsv as written by the stats stage and check its columns."""
    if not path.is_file():
        raise InputError(f"hurdle results {path} do not exist; run `analysis stats` first")
    results = read_tsv(path, RESULT_COLUMNS, "hurdle results",
                       text_columns=("group_a", "group_b", "reason"))
    results["estimable"] = results["estimable"].astype(str).str.lower() == "true"
    return results


#: Settings the figures must share with the stats run that made hurdle.tsv: they decide which
#: p-values the brackets use and what the caption says they are.
SHARED_WITH_STATS = ("alpha", "fdr_family")


def check_stats_settings(cfg: StatsConfig, hurdle: Path) -> None:
    """Refuse a config whose alpha or FDR family differ from the stats run's (its provenance
    beside hurdle.tsv): brackets at another alpha than Table V's, or a caption naming another
    FDR family than p_adj's, would mislead. Without a readable record there is nothing to
    compare."""
    made = stats_settings(hurdle)
    if made is None:
        return
    ours = cfg.model_dump(mode="json")
    differ = [k for k in SHARED_WITH_STATS if k in made and made[k] != ours[k]]
    if differ:
        theirs = ", ".join(f"stats.{k} {made[k]!r}" for k in differ)
        given = ", ".join(f"{ours[k]!r}" for k in differ)
        raise InputError(f"hurdle results {hurdle} were made with {theirs} (provenance.json "
                         f"beside them), this config gives {given}: give plots the --config "
                         "given to stats")


def _save(fig, stem: Path, dpi: int = 150) -> list[Path]:
    paths = []
    for ext in FORMATS:
        final = stem.with_name(f"{stem.name}.{ext}")
        with atomic_path(final) as tmp:
            # No creation date in a PDF: a rerun gives the same bytes, as for the PNG.
            fig.savefig(tmp, dpi=dpi, format=ext,
                        metadata={"CreationDate": None} if ext == "pdf" else None)
        paths.append(final)
    plt.close(fig)
    return paths


def run_plots(cfg: StatsConfig, percent_time: Path, hurdle: Path, out_dir: Path,
              exclusions: Path | None = None) -> list[Path]:
    """Write violin_<action>.{png,pdf}, overview.{png,pdf}, caption.md and provenance. The
    participants in `exclusions` (the stats stage's) are not drawn: the figures show the
    children the brackets' models were fitted on."""
    table = check_percent_table(read_tsv(percent_time, TABLE_COLUMNS, "percent-time table"),
                                f"percent-time table {percent_time}")
    if exclusions is not None:
        excluded = read_tsv(exclusions, ("participant_id", "reason"), "stats exclusions")
        table = table[~table["participant_id"].isin(excluded["participant_id"])]
        if table.empty:
            raise InputError(f"no participant of {percent_time} is left after the exclusions "
                             f"in {exclusions}: nothing to plot")
    groups = resolve_groups(table, cfg, f"percent-time table {percent_time}")
    check_groups(table, groups, f"percent-time table {percent_time}")
    results = read_hurdle(hurdle)
    check_stats_settings(cfg, hurdle)
    actions = list(dict.fromkeys(results["action"]))
    absent = [a for a in actions if a not in set(table["action"])]
    if absent:
        raise InputError(f"hurdle results name action(s) {absent} absent from {percent_time}")
    slugs = [slugify(a) for a in actions]
    if len(set(slugs)) < len(slugs):
        raise InputError(f"actions {actions} give clashing file names {slugs}")

    p_column = "p_adj" if cfg.plot_p == "adjusted" else "p"
    brackets = {a: brackets_for(results, a, cfg.plot_parts, p_column, cfg.alpha)
                for a in actions}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for action, slug in zip(actions, slugs, strict=True):
        fig = single_figure(table, action, groups, brackets[action])
        written += _save(fig, out_dir / f"violin_{slug}")
    if actions:
        written += _save(overview_figure(table, actions, groups, brackets), out_dir / "overview")
    caption = caption_text(cfg.plot_p, cfg.plot_parts, cfg.alpha, cfg.fdr_family)
    written.append(atomic_write_text(out_dir / "caption.md", caption))
    write_provenance(out_dir / "provenance.json", "analysis plots",
                     params={"stats": cfg.model_dump(mode="json"), "preset": cfg.preset,
                             "overrides": cfg.overrides(), "actions": actions},
                     inputs=[percent_time, hurdle, *([exclusions] if exclusions else [])])
    return written
