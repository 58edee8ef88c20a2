"""Violin plot helpers: stars, brackets from the model's p-values, file names, drawing."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from analysis.plots import (
    Bracket,
    action_values,
    brackets_for,
    caption_text,
    draw_violin,
    overview_figure,
    single_figure,
    slugify,
    stars,
)


@pytest.mark.parametrize(("p", "mark"), [(0.0005, "***"), (0.005, "**"), (0.03, "*"),
                                         (0.05, ""), (np.nan, "")])
def test_stars(p: float, mark: str) -> None:
    assert stars(p) == mark


def test_slugify() -> None:
    assert slugify("retracting feet") == "retracting_feet"
    assert slugify("Scratching or touching (neck)") == "scratching_or_touching_neck"
    assert slugify("点头") != slugify("摇腿")  # names in other scripts stay distinct
    assert slugify("(?)") == "action"


def results() -> pd.DataFrame:
    return pd.DataFrame({
        "action": ["a"] * 4, "part": ["engagement", "intensity", "intensity", "intensity"],
        "type": ["Prob.", "%", "%", "%"], "group_a": ["ASD", "ASD", "PSY", "ASD"],
        "group_b": ["PSY", "PSY", "TDC", "TDC"], "p": [0.004, 0.0001, 0.03, np.nan],
        "p_adj": [0.02, 0.002, 0.09, np.nan], "estimable": [True, True, True, False],
    })


def test_brackets_use_the_configured_p_values_and_parts() -> None:
    adjusted = brackets_for(results(), "a", ["engagement", "intensity"], "p_adj", 0.05)
    assert adjusted == [Bracket("ASD", "PSY", "* Prob."), Bracket("ASD", "PSY", "** %")]
    raw = brackets_for(results(), "a", ["intensity"], "p", 0.05)
    assert raw == [Bracket("ASD", "PSY", "*** %"), Bracket("PSY", "TDC", "* %")]
    # alpha 0.1: the test at adjusted p .09 is below alpha, so it has a bracket (a dagger),
    # and the caption says what the dagger means.
    lenient = brackets_for(results(), "a", ["intensity"], "p_adj", 0.1)
    assert lenient == [Bracket("ASD", "PSY", "** %"), Bracket("PSY", "TDC", "\u2020 %")]
    assert "\u2020 p < 0.1, * p < .05" in caption_text("adjusted", ["intensity"], 0.1, "all")
    assert "\u2020" not in caption_text("adjusted", ["intensity"], 0.05, "all")
    # alpha 0.01: a star earned at p .03 is not enough for a bracket.
    strict = brackets_for(results(), "a", ["intensity"], "p", 0.01)
    assert strict == [Bracket("ASD", "PSY", "*** %")]


def test_a_test_that_was_not_estimable_gets_no_bracket_whatever_its_p() -> None:
    table = results().assign(estimable=[True, False, True, False])
    assert brackets_for(table, "a", ["intensity"], "p", 0.05) == [
        Bracket("PSY", "TDC", "* %")]


def test_draw_violin_marks_median_mean_and_brackets() -> None:
    fig, ax = plt.subplots()
    # Skewed ASD: median 0, mean 10, so the two lines are told apart.
    values = {"ASD": np.array([0.0, 0.0, 0.0, 40.0]), "PSY": np.array([5.0, 5.0]),
              "TDC": np.array([])}
    draw_violin(ax, values, ["ASD", "PSY", "TDC"], [Bracket("ASD", "PSY", "** %")], "t")
    lines = {}  # (x centre, y) -> dashed or solid
    for c in ax.collections:
        if hasattr(c, "get_segments") and c.get_segments():
            (x0, y), (x1, _) = c.get_segments()[0]
            dashed = c.get_linestyle()[0][1] is not None
            lines.setdefault((round((x0 + x1) / 2, 6), round(y, 6)), set()).add(dashed)
    assert lines == {(0.0, 0.0): {True}, (0.0, 10.0): {False},  # ASD: median --, mean -
                     (1.0, 5.0): {True, False}}  # PSY: both at 5; TDC has no values
    assert [t.get_text() for t in ax.texts] == ["** %"]
    # One violin body (ASD): PSY's two equal values have no spread to draw, TDC no values.
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bodies) == 1 and np.allclose(bodies[0].get_paths()[0].vertices[:, 0].mean(), 0,
                                            atol=0.4)
    label = ax.texts[0].get_position()[1]
    assert label > 40.0 and ax.get_ylim()[1] > label  # above the data, inside the axes
    plt.close(fig)


def test_stacked_brackets_climb_and_stay_inside_the_axes() -> None:
    fig, ax = plt.subplots()
    values = {"ASD": np.array([1.0, 9.0]), "PSY": np.array([2.0, 8.0]),
              "TDC": np.array([3.0, 20.0])}
    brackets = [Bracket("ASD", "TDC", "* %"), Bracket("ASD", "PSY", "** %"),
                Bracket("PSY", "TDC", "*** %")]
    draw_violin(ax, values, ["ASD", "PSY", "TDC"], brackets, "t")
    heights = {t.get_text(): t.get_position()[1] for t in ax.texts}
    # Neighbours first (one level each), the wide ASD-TDC bracket above both.
    assert 20.0 < heights["** %"] < heights["*** %"] < heights["* %"] < ax.get_ylim()[1]
    plt.close(fig)


def test_caption_states_which_p_values() -> None:
    assert "Benjamini-Hochberg adjusted" in caption_text("adjusted", ["intensity"], 0.05, "all")
    assert "unadjusted p-values" in caption_text("raw", ["engagement"], 0.05, "all")


def _long_table(actions: list[str]) -> pd.DataFrame:
    """Two participants per group; action i has percent time i (ASD) and 10 + i (TDC)."""
    return pd.DataFrame([
        {"participant_id": f"{g}-{k}", "group": g, "action": a,
         "percent_time": float(i + (10 if g == "TDC" else 0) + k)}
        for i, a in enumerate(actions) for g in ("ASD", "TDC") for k in (0, 1)])


def test_action_values_are_one_actions_per_group() -> None:
    values = action_values(_long_table(["a", "b"]), "b", ["TDC", "ASD", "PSY"])
    assert list(values) == ["TDC", "ASD", "PSY"]
    assert values["TDC"].tolist() == [11.0, 12.0] and values["ASD"].tolist() == [1.0, 2.0]
    assert values["PSY"].tolist() == []


def test_each_dot_stays_where_it_was_whatever_the_rows_order() -> None:
    """The dots' jitter is drawn in participant order: the percent-time table in another
    row order (the sheet's, as aggregate writes it) gives the same figure."""
    table = _long_table(["a", "b"])
    table["percent_time"] = np.arange(len(table), dtype=float)  # every dot its own height
    drawn = []
    for rows in (table, table.iloc[::-1], table.sample(frac=1, random_state=3)):
        fig = single_figure(rows, "b", ["ASD", "TDC"], [])
        drawn.append([c.get_offsets().data.copy() for c in fig.axes[0].collections
                      if isinstance(c, PathCollection)])
        plt.close(fig)
    for other in drawn[1:]:
        assert all(np.array_equal(x, y) for x, y in zip(drawn[0], other, strict=True))


def test_overview_has_five_panels_a_row_and_hides_the_spare_ones() -> None:
    actions = [f"action {i}" for i in range(7)]
    fig = overview_figure(_long_table(actions), actions, ["ASD", "TDC"],
                          {a: [] for a in actions})
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 5)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 10 and [ax.get_title() for ax in visible] == actions
    assert [ax.get_ylabel() for ax in fig.axes[:6]] == ["Percent time (%)", "", "", "", "",
                                                        "Percent time (%)"]
    plt.close(fig)


def test_caption_names_both_parts_and_the_fdr_family() -> None:
    assert caption_text("adjusted", ["engagement", "intensity"], 0.05, "part") == (
        "Violin plots of percent time engaged by diagnostic group. Each dot is one participant "
        "(participants who never showed the action are at 0). Dashed lines: group medians; "
        "solid lines: group means. Brackets mark between-group differences in engagement "
        "probability (Prob.) and intensity among participants with nonzero engagement (%) "
        "from the hurdle models with Benjamini-Hochberg adjusted p-values (family: part) "
        "below 0.05: * p < .05, ** p < .01, *** p < .001; the label after the stars names "
        "the part.\n")


def test_each_group_has_its_colour_and_zeros_sit_above_the_axis() -> None:
    fig, ax = plt.subplots()
    draw_violin(ax, {"ASD": np.array([0.0, 0.0, 10.0]), "TDC": np.array([0.0, 50.0])},
                ["ASD", "TDC"], [], "t")
    assert ax.get_ylim()[0] == pytest.approx(-1.0)  # 2% of the highest value (50) below 0
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    tab10 = plt.get_cmap("tab10")
    assert [tuple(c.get_facecolor()[0][:3]) for c in dots] == [tab10(0)[:3], tab10(1)[:3]]
    plt.close(fig)


def test_long_action_names_wrap_inside_the_figure_without_overlap() -> None:
    """A study's label map names actions in full; a title wider than its panel was cut off
    at the figure's edge and ran into its neighbours' titles."""
    actions = [f"touching or scratching the face with both hands {i}" for i in range(5)]
    fig = overview_figure(_long_table(actions), actions, ["ASD", "TDC"],
                          {a: [] for a in actions})
    fig.canvas.draw()
    boxes = [ax.title.get_window_extent() for ax in fig.axes]
    assert all(b.x0 >= 0 and b.x1 <= fig.bbox.x1 for b in boxes)
    assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes))
    assert fig.axes[4].get_title().replace("\n", " ") == actions[4]
    plt.close(fig)


def test_dollar_signs_in_names_are_printed_not_read_as_math() -> None:
    """`pay $5 or $10` was drawn as `pay 5or10`, and a backslash between two `$` (an
    unknown math command) stopped the plots stage with a mathtext traceback."""
    action = "pay $5 or $10"
    fig = single_figure(_long_table([action]).replace({"TDC": "T$\\q$"}), action,
                        ["ASD", "T$\\q$"], [])
    fig.canvas.draw()  # no ValueError from mathtext
    ax = fig.axes[0]
    assert not ax.title.get_parse_math()
    assert not any(t.get_parse_math() for t in ax.get_xticklabels())
    plt.close(fig)


def test_a_group_nobody_is_in_is_labelled_n_0() -> None:
    """A group in stats.groups without participants stood as an empty, unexplained column."""
    fig = single_figure(_long_table(["nodding"]), "nodding", ["ASD", "PSY", "TDC"], [])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["ASD", "PSY\n(n=0)", "TDC"]
    plt.close(fig)
