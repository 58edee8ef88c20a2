"""Violin plots of percent time by group, as the paper's Fig. 3.

One dot per participant (zeros included, since the outcome is zero-inflated), a dashed line
at each group's median, a solid line at its mean, and brackets over pairs whose hurdle-model
test is significant. Bracket labels are stars (* p < .05, ** p < .01, *** p < .001) followed
by the part: `Prob.` (engagement) or `%` (intensity among engagers). The p-values are the
model's adjusted or raw ones, per config, never a test computed on the plotted values.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.tables import STAR_LEVELS  # noqa: E402

DAGGER = "\u2020"  # .05 <= p < alpha, for an alpha above .05
#: Characters per line of a panel title: a longer action name is wrapped, not cut off at
#: the figure's edge or run into the next panel's title.
TITLE_CHARS = 28


@dataclass(frozen=True)
class Bracket:
    """A significance bracket between two groups."""

    group_a: str
    group_b: str
    label: str


def stars(p: float) -> str:
    """`***`, `**`, `*` for p below .001, .01, .05; empty otherwise (or for NaN)."""
    if pd.isna(p):
        return ""
    return next((mark for level, mark in STAR_LEVELS if p < level), "")


def slugify(action: str) -> str:
    """A file-name-safe form of an action name: `retracting feet` -> `retracting_feet`;
    letters of any script are kept, so names in other scripts stay distinct (`点头`)."""
    return re.sub(r"[\W_]+", "_", action.lower()).strip("_") or "action"


def brackets_for(results: pd.DataFrame, action: str, parts: list[str], p_column: str,
                 alpha: float) -> list[Bracket]:
    """Brackets for one action: estimable tests of the chosen parts with p < alpha."""
    rows = results[(results["action"] == action) & results["part"].isin(parts)
                   & results["estimable"]]
    out = []
    for row in rows.itertuples(index=False):
        p = getattr(row, p_column)
        # With alpha above .05 a test between .05 and alpha has no star: it gets a dagger.
        mark = stars(p) or (DAGGER if p < alpha else "")
        if p < alpha and mark:
            out.append(Bracket(row.group_a, row.group_b, f"{mark} {row.type}"))
    return out


def _colors(groups: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {g: cmap(i % 10) for i, g in enumerate(groups)}


def draw_violin(ax: Axes, values: dict[str, np.ndarray], groups: list[str],
                brackets: list[Bracket], title: str, seed: int = 0) -> None:
    """Draw one action's panel: violins, participant dots, median/mean lines, brackets."""
    colors = _colors(groups)
    rng = np.random.default_rng(seed)  # jitter only; fixed so reruns give identical files
    top = max((float(np.max(v)) for v in values.values() if len(v)), default=1.0) or 1.0
    for i, g in enumerate(groups):
        v = values.get(g, np.array([]))
        if len(v) >= 2 and np.ptp(v) > 0:
            body = ax.violinplot(v, positions=[i], widths=0.8, showextrema=False)["bodies"][0]
            body.set_facecolor(colors[g])
            body.set_alpha(0.3)
        if len(v):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=6, color=colors[g],
                       alpha=0.7, linewidths=0, zorder=3)
            ax.hlines(np.median(v), i - 0.3, i + 0.3, colors="k", linestyles="--", lw=1.2,
                      zorder=4)
            ax.hlines(np.mean(v), i - 0.3, i + 0.3, colors="k", linestyles="-", lw=1.2,
                      zorder=4)
    step = 0.08 * top
    by_span = sorted(brackets, key=lambda b: abs(groups.index(b.group_a) - groups.index(b.group_b)))
    for level, br in enumerate(by_span):
        x1, x2 = groups.index(br.group_a), groups.index(br.group_b)
        y = top + step * (1 + 1.6 * level)
        ax.plot([x1, x1, x2, x2], [y, y + step * 0.3, y + step * 0.3, y], color="k", lw=0.9)
        ax.text((x1 + x2) / 2, y + step * 0.35, br.label, ha="center", va="bottom",
                fontsize=8)
    ax.set_ylim(bottom=min(0.0, -0.02 * top), top=top + step * (1.6 * len(brackets) + 1.2))
    # Names as written: matplotlib would read text between two `$` as math (`pay $5 or $10`
    # printed as `pay 5or10`, a `\` after a `$` an error).
    # A configured group nobody is in says so, rather than stand as an unexplained gap.
    labels = [g if len(values.get(g, ())) else f"{g}\n(n=0)" for g in groups]
    ax.set_xticks(range(len(groups)), labels, parse_math=False)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_title(textwrap.fill(title, TITLE_CHARS), fontsize=10, parse_math=False)
    ax.spines[["top", "right"]].set_visible(False)


def action_values(table: pd.DataFrame, action: str, groups: list[str]) -> dict[str, np.ndarray]:
    """Each group's percent times for one action, in participant order: each dot's jitter
    is drawn in that order, so another row order would move the dots."""
    rows = table[table["action"] == action].sort_values("participant_id", kind="stable")
    return {g: rows.loc[rows["group"] == g, "percent_time"].to_numpy(float) for g in groups}


def single_figure(table: pd.DataFrame, action: str, groups: list[str],
                  brackets: list[Bracket]) -> Figure:
    """One action's violin plot."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4), layout="constrained")
    draw_violin(ax, action_values(table, action, groups), groups, brackets, action)
    ax.set_ylabel("Percent time engaged (%)")
    return fig


def overview_figure(table: pd.DataFrame, actions: list[str], groups: list[str],
                    brackets: dict[str, list[Bracket]]) -> Figure:
    """All analysed actions in one multi-panel figure (up to five panels per row)."""
    ncols = min(5, len(actions))
    nrows = math.ceil(len(actions) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.9 * nrows),
                             layout="constrained", squeeze=False)
    for ax, action in zip(axes.flat, actions, strict=False):
        draw_violin(ax, action_values(table, action, groups), groups, brackets[action], action)
    for ax in axes.flat[len(actions):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("Percent time (%)")
    return fig


def caption_text(p_kind: str, parts: list[str], alpha: float, fdr_family: str) -> str:
    """The figure caption: what dots, lines and brackets mean, and which p-values decide."""
    part_names = {"engagement": "engagement probability (Prob.)",
                  "intensity": "intensity among participants with nonzero engagement (%)"}
    which = (f"Benjamini-Hochberg adjusted p-values (family: {fdr_family})"
             if p_kind == "adjusted" else "unadjusted p-values")
    return (
        "Violin plots of percent time engaged by diagnostic group. Each dot is one "
        "participant (participants who never showed the action are at 0). Dashed lines: "
        "group medians; solid lines: group means. Brackets mark between-group differences "
        f"in {' and '.join(part_names[p] for p in parts)} from the hurdle models with "
        f"{which} below {alpha:g}: "
        + (f"{DAGGER} p < {alpha:g}, " if alpha > 0.05 else "")
        + "* p < .05, ** p < .01, *** p < .001; the label after the stars names the part.\n"
    )
