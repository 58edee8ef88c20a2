"""`analysis.agreement.compare` and `table` by hand: the bin grid, which bins an event covers, the
common valid time, and how kappa, events and the ICC interval are put together per action."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import bin_grid
from analysis.agreement import figures
from analysis.agreement.compare import Rated, compare, rate_events
from analysis.agreement.stats import icc_a1
from analysis.agreement.table import markdown

ACTIONS = ["nodding", "shaking legs"]


def ev(pid: str, rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([(pid, a, s, e) for a, s, e in rows],
                        columns=["participant_id", "action", "start_s", "end_s"])


def test_bin_grid_cuts_the_last_bin_at_the_videos_end():
    start, width = bin_grid(10.5, 1.0)  # 11 bins, the last one 0.5 s
    assert start.tolist() == list(range(11))
    assert width.tolist() == [1.0] * 10 + [0.5]
    start, width = bin_grid(2.0, 1.0)  # an exact multiple: no empty last bin
    assert start.tolist() == [0.0, 1.0] and width.tolist() == [1.0, 1.0]
    start, width = bin_grid(0.3, 0.1)  # 0.3 / 0.1 = 2.9999999999999996: still 3 bins
    assert len(start) == 3 and width == pytest.approx([0.1, 0.1, 0.1])


def test_an_event_covers_the_bins_whose_centre_it_covers():
    start, width = bin_grid(3.5, 1.0)  # centres 0.5, 1.5, 2.5, 3.25
    mask = lambda *rows: rate_events(ev("p", list(rows)), start, width,  # noqa: E731
                                     ACTIONS).masks["nodding"].tolist()
    # [0.5, 2.5) holds the centres 0.5 and 1.5, not 2.5 (the end is open).
    assert mask(("nodding", 0.5, 2.5)) == [True, True, False, False]
    assert mask(("nodding", 0.6, 2.6)) == [False, True, True, False]
    # The cut last bin's centre is 3.25, not 3.5.
    assert mask(("nodding", 3.2, 3.5)) == [False, False, False, True]
    assert mask(("shaking legs", 0.0, 3.5)) == [False] * 4  # another action
    got = rate_events(ev("p", [("nodding", 0.5, 2.5)]), start, width, ACTIONS)
    assert got.valid.all() and got.masks["shaking legs"].tolist() == [False] * 4
    # On a 0.1-s grid, an event from one bin centre to another covers the bins from the
    # first to the one before the last, as windows do (bin 81's centre computes to
    # 8.149999999999999 and once fell outside an event from 8.15 s).
    start, width = bin_grid(20.0, 0.1)
    for s, e in ((8.15, 8.65), (8.65, 9.15), (0.05, 0.25)):
        got = rate_events(ev("p", [("nodding", s, e)]), start, width, ACTIONS)
        lo, hi = round(s * 10 - 0.5), round(e * 10 - 0.5)
        assert np.flatnonzero(got.masks["nodding"]).tolist() == list(range(lo, hi)), (s, e)


def _model(nod_bins: list[int], invalid: list[int], n: int = 10) -> Rated:
    """A model's view on an n-bin 1-s grid: nodding in `nod_bins`, `invalid` bins not valid."""
    nod = np.zeros(n, bool)
    nod[nod_bins] = True
    valid = np.ones(n, bool)
    valid[invalid] = False
    runs = ev("p", [("nodding", float(b), float(b) + 1) for b in nod_bins])
    return Rated({"nodding": nod, "shaking legs": np.zeros(n, bool)}, valid, runs)


def test_only_common_valid_time_counts_for_percent_time_and_kappa():
    start, width = bin_grid(10.0, 1.0)
    coder = {p: rate_events(ev(p, [("nodding", 0, 4)]), start, width, ACTIONS)
             for p in ("p1", "p2", "p3")}
    # p1: the model misses 0-2 s (no person) and nods 2-4 s: on the 8 common bins both sides
    # agree exactly (25% each, kappa 1); the coder's nodding in 0-2 s does not count.
    # p2: nods 0-4 s like the coder. p3: never valid: no common time, not compared.
    model = {"p1": _model([2, 3], [0, 1]), "p2": _model([0, 1, 2, 3], []),
             "p3": _model([], list(range(10)))}
    rows, points = compare(coder, model, {p: width for p in coder}, ACTIONS)
    nod = rows.set_index("action").loc["nodding"]
    assert nod["n"] == 2
    assert points[points["action"] == "nodding"][["participant_id", "reference",
                                                  "compared"]].values.tolist() == [
        ["p1", 25.0, 25.0], ["p2", 40.0, 40.0]]
    assert nod["kappa"] == pytest.approx(1.0)
    assert (nod["icc"], nod["ba_bias"]) == pytest.approx((1.0, 0.0))
    # Events are compared whole: p1's (0,4) against (2,3) and (3,4) (the model's bins here,
    # not merged): IoU 1/4 each, no match; p2's (0,4) against four 1-s events: none either.
    assert (nod["events_reference"], nod["events_compared"], nod["events_matched"]) == (2, 6, 0)


def test_event_counts_threshold_and_interval_level_per_action():
    start, width = bin_grid(10.0, 1.0)
    pids = ("p1", "p2", "p3")
    # Reference: one nod per participant; compared: the same nod a little shorter, and one
    # more nod. IoUs: p1 3/4, p2 2/4, p3 2/5.
    ref_rows = {"p1": [("nodding", 0, 4)], "p2": [("nodding", 2, 6)], "p3": [("nodding", 0, 5)]}
    cmp_rows = {"p1": [("nodding", 0, 3), ("nodding", 7, 8)],
                "p2": [("nodding", 2, 4), ("nodding", 7, 8)],
                "p3": [("nodding", 3, 5), ("nodding", 8, 9)]}
    a = {p: rate_events(ev(p, ref_rows[p]), start, width, ACTIONS) for p in pids}
    b = {p: rate_events(ev(p, cmp_rows[p]), start, width, ACTIONS) for p in pids}
    widths = {p: width for p in pids}
    rows, points = compare(a, b, widths, ACTIONS)
    nod = rows.set_index("action").loc["nodding"]
    # 3 reference events, 6 compared; at IoU >= 0.5: p1 and p2 match.
    assert (nod["events_reference"], nod["events_compared"], nod["events_matched"]) == (3, 6, 2)
    assert (nod["precision"], nod["recall"], nod["f1"]) == pytest.approx((2 / 6, 2 / 3, 4 / 9))
    strict = compare(a, b, widths, ACTIONS, min_iou=0.7)[0].set_index("action").loc["nodding"]
    assert strict["events_matched"] == 1  # only p1's 0.75
    loose = compare(a, b, widths, ACTIONS, min_iou=0.4)[0].set_index("action").loc["nodding"]
    assert loose["events_matched"] == 3
    # The ICC interval follows `level` (percent times 40/40, 40/30, 50/30).
    pts = points[points["action"] == "nodding"][["reference", "compared"]].to_numpy()
    assert pts.tolist() == [[40.0, 40.0], [40.0, 30.0], [50.0, 30.0]]
    eighty = compare(a, b, widths, ACTIONS, level=0.8)[0].set_index("action").loc["nodding"]
    want, wide = icc_a1(pts, 0.8), icc_a1(pts, 0.95)
    assert (eighty["icc"], eighty["icc_low"], eighty["icc_high"]) == pytest.approx(
        (want.icc, want.low, want.high))
    assert (nod["icc_low"], nod["icc_high"]) == pytest.approx((wide.low, wide.high))
    assert want.high < wide.high - 0.1
    legs = rows.set_index("action").loc["shaking legs"]
    assert (legs["events_reference"], legs["events_compared"]) == (0, 0)
    assert math.isnan(legs["precision"]) and math.isnan(legs["kappa"])


def test_the_coders_file_or_observation_order_changes_nothing():
    """A coder's participants come in the order of their files or of the observations in
    an export; the comparison takes them in participant order, so the per-participant
    table and the statistics are the same, bit for bit."""
    start, width = bin_grid(10.0, 1.0)
    ends = {"p1": 3.0, "p2": 5.5, "p3": 7.0, "p4": 2.0}
    coder = {p: rate_events(ev(p, [("nodding", 0, e)]), start, width, ACTIONS)
             for p, e in ends.items()}
    model = {p: _model(list(range(int(e) + k % 2)), []) for k, (p, e) in enumerate(ends.items())}
    widths = {p: width for p in ends}
    rows, points = compare(coder, model, widths, ACTIONS)
    assert points["participant_id"].tolist()[:4] == ["p1", "p2", "p3", "p4"]
    backwards = dict(reversed(coder.items()))
    again_rows, again_points = compare(backwards, model, widths, ACTIONS)
    pd.testing.assert_frame_equal(again_points, points, check_exact=True)
    pd.testing.assert_frame_equal(again_rows, rows, check_exact=True)


def test_markdown_shows_each_statistic_in_its_column():
    row = {"reference": "a", "compared": "model", "action": "nodding", "n": 5, "icc": 0.61,
           "icc_low": 0.123, "icc_high": 0.876, "ba_bias": -1.5, "ba_low": -10.25,
           "ba_high": 7.25, "kappa": 0.444, "precision": 0.5, "recall": 0.25, "f1": 1 / 3}
    legs = {**row, "action": "shaking legs", "n": 0, **{k: math.nan for k in (
        "icc", "icc_low", "icc_high", "ba_bias", "ba_low", "ba_high", "kappa", "precision",
        "recall", "f1")}}
    md = markdown(pd.DataFrame([legs, row]), 0.1, 0.3, 0.9).splitlines()
    assert md[0] == ("| Action | Compared vs reference | n | ICC(A,1) [90% CI] | Bland-Altman "
                     "bias [90% limits] | kappa | precision | recall | F1 |")
    assert md[2] == ("| nodding | model vs a | 5 | 0.61 [0.12, 0.88] | -1.50 [-10.25, 7.25] "
                     "| 0.44 | 0.50 | 0.25 | 0.33 |")
    assert md[3] == ("| shaking legs | model vs a | 0 | n/a [n/a, n/a] | n/a [n/a, n/a] | n/a "
                     "| n/a | n/a | n/a |")
    assert "in 0.1 s bins" in md[-1] and "temporal IoU >= 0.3." in md[-1]


def test_markdown_rows_in_action_then_pair_order_and_level_as_written():
    base = {"n": 1, **{k: 0.5 for k in ("icc", "icc_low", "icc_high", "ba_bias", "ba_low",
                                         "ba_high", "kappa", "precision", "recall", "f1")}}
    rows = [{**base, "action": a, "reference": r, "compared": c}
            for a in ("shaking legs", "nodding") for r, c in (("a", "model"), ("b", "model"),
                                                             ("a", "b"))]
    md = markdown(pd.DataFrame(rows), 0.1, 0.5, 0.975).splitlines()
    assert "ICC(A,1) [97.5% CI]" in md[0]
    assert [line.split(" | ")[:2] for line in md[2:8]] == [
        [f"| {a}", f"{c} vs {r}"] for a in ("nodding", "shaking legs")
        for r, c in (("a", "b"), ("a", "model"), ("b", "model"))]


def _ba_rows(**pairs: tuple[int, float, float, float]) -> pd.DataFrame:
    """Agreement rows of reference `a` against each compared source: (n, bias, low, high)."""
    return pd.DataFrame([{"reference": "a", "compared": c, "n": n, "ba_bias": bias,
                          "ba_low": low, "ba_high": high}
                         for c, (n, bias, low, high) in pairs.items()])


def _ba_points(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Percent times (participant, compared source, reference, compared) against `a`."""
    return pd.DataFrame([{"participant_id": p, "action": "nodding", "reference": r,
                          "compared": c, "reference_source": "a", "compared_source": s}
                         for p, s, r, c in rows])


def test_bland_altman_figure_draws_each_pairs_points_and_lines(tmp_path):
    """One panel per pair: dots at (mean, compared - reference) of that pair's participants,
    the bias and limits of that pair's row, its n in the title."""
    drawer = figures.BlandAltmanFigures([("a", "model"), ("a", "b")])
    pairs = _ba_points([("p1", "model", 40.0, 30.0), ("p2", "model", 20.0, 20.0),
                        ("p1", "b", 10.0, 50.0)])
    rows = _ba_rows(model=(2, -5.0, -20.0, 10.0), b=(1, 40.0, 30.0, 50.0))
    out = drawer.draw("nodding", pairs, rows, tmp_path / "f" / "ba.png")
    assert out.is_file()
    first, second = drawer.axes
    assert first.collections[0].get_offsets().tolist() == [[35.0, -10.0], [20.0, 0.0]]
    assert second.collections[0].get_offsets().tolist() == [[30.0, 40.0]]
    for ax, want in ((first, [-5.0, -20.0, 10.0, 0.0]), (second, [40.0, 30.0, 50.0, 0.0])):
        assert [line.get_ydata()[0] for line in ax.lines] == want  # bias, limits, zero
    assert (first.get_title(), second.get_title()) == ("model vs a (n=2)", "b vs a (n=1)")
    assert second.get_ylabel() == "b - a (points)"
    assert drawer.figure.get_suptitle() == "nodding: Bland-Altman"


def test_bland_altman_figure_drawn_over_is_the_figure_drawn_anew(tmp_path):
    """The figure is drawn over for each action: an action's PNG has the bytes it has drawn
    on a figure of its own (the last action's dots, lines, axes ranges and layout gone), and
    the same bytes drawn again. The second action: a panel without dots, whose x range a new
    axes takes from 0-1 (no participant in common: NaN bias and limits); a limit just past the
    dots but inside their margin, which a new axes leaves out of the y range; narrower tick
    labels than the first action's, and x ticks (0 to 4.4) that a panel as narrow as the
    first action's would space otherwise: the layout starts from a new figure's."""
    keys = [("a", "model"), ("a", "b")]
    wide = (_ba_points([("p1", "model", 0.0, 90.0), ("p2", "model", 80.0, 1.0),
                        ("p1", "b", 3.0, 1000.0)]),
            _ba_rows(model=(2, 5.0, -120.0, 130.0), b=(1, 997.0, 990.0, 1005.0)))
    narrow = (_ba_points([("p1", "model", 1.0, 1.5), ("p2", "model", 2.0, 1.0),
                          ("p3", "model", 4.35, 4.45)]),
              _ba_rows(model=(3, -0.1, -1.05, 0.4), b=(0, math.nan, math.nan, math.nan)))
    reused = figures.BlandAltmanFigures(keys)
    reused.draw("wide", *wide, tmp_path / "reused_wide.png")
    reused.draw("narrow", *narrow, tmp_path / "reused_narrow.png")
    reused.draw("narrow", *narrow, tmp_path / "again_narrow.png")
    for name, (pairs, rows) in (("wide", wide), ("narrow", narrow)):
        new = figures.BlandAltmanFigures(keys)
        new.draw(name, pairs, rows, tmp_path / f"new_{name}.png")
        assert ((tmp_path / f"reused_{name}.png").read_bytes()
                == (tmp_path / f"new_{name}.png").read_bytes()), name
    assert (tmp_path / "again_narrow.png").read_bytes() == (
        tmp_path / "reused_narrow.png").read_bytes()
    for ax, own in zip(reused.axes, new.axes, strict=True):
        assert (ax.get_xlim(), ax.get_ylim()) == (own.get_xlim(), own.get_ylim())
        assert len(ax.collections) == 1 and len(ax.lines) == 4  # this action's only
    # The dots' differences -1 to 0.5 and 5% margins: the limit at -1.05 lies inside.
    assert reused.axes[0].get_ylim() == pytest.approx((-1.075, 0.575))


def test_bland_altman_title_prints_dollar_signs_as_written(tmp_path):
    """An action named with two `$` and a backslash between them stopped the agreement stage
    with a mathtext traceback (and `a $5 b$` printed as math)."""
    pairs = _ba_points([("p1", "model", 1.0, 2.0), ("p2", "model", 2.0, 2.0)])
    rows = _ba_rows(model=(2, 0.5, -1.0, 2.0))
    drawer = figures.BlandAltmanFigures([("a", "model")])
    out = drawer.draw(r"pay $5 or \q$", pairs, rows, tmp_path / "ba.png")
    assert out.is_file()
    assert drawer.figure.get_suptitle() == r"pay $5 or \q$: Bland-Altman"
    assert not any(t.get_parse_math() for t in drawer.figure.texts)


def test_markdown_rows_keep_their_cells_for_an_action_with_a_pipe():
    """`nod|shake` from a study's label map split the row into an extra column."""
    base = {"n": 1, **{k: 0.5 for k in ("icc", "icc_low", "icc_high", "ba_bias", "ba_low",
                                         "ba_high", "kappa", "precision", "recall", "f1")}}
    md = markdown(pd.DataFrame([{**base, "action": "nod|shake", "reference": "a",
                                 "compared": "model"}]), 0.1, 0.5, 0.95).splitlines()
    assert md[2].startswith(r"| nod\|shake | model vs a | 1 |")
    assert md[2].replace("\\|", "").count("|") == md[0].count("|")
