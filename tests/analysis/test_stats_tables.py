"""Table V formatting, selection and the Benjamini-Hochberg adjustment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.fdr import bh_adjust
from analysis.tables import (
    direction_label,
    format_p,
    latex_escape,
    table_v,
    to_latex,
    to_markdown,
)


@pytest.mark.parametrize(("p", "text"), [(0.0004, "<.001"), (0.001, ".001"), (0.0537, ".054"),
                                         (0.5, ".500"), (1.0, "1.000"), (np.nan, "NA")])
def test_apa_p_format(p: float, text: str) -> None:
    assert format_p(p) == text


def test_direction_follows_the_odds_ratio() -> None:
    assert direction_label("ASD", "PSY", 0.37) == "ASD < PSY"
    assert direction_label("PSY", "TDC", 1.96) == "PSY > TDC"


def test_bh_matches_statsmodels_and_ignores_nan() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.2, 25)
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(bh_adjust(p), expected, rtol=1e-12)
    with_nan = np.insert(p, [0, 10], np.nan)
    got = bh_adjust(with_nan)
    assert np.isnan(got[[0, 11]]).all()
    np.testing.assert_allclose(got[~np.isnan(got)], expected, rtol=1e-12)


def results_fixture() -> pd.DataFrame:
    return pd.DataFrame({
        "action": ["retracting feet", "shaking legs", "nodding", "nodding", "tilting head"],
        "part": ["intensity", "engagement", "engagement", "intensity", "engagement"],
        "type": ["%", "Prob.", "Prob.", "%", "Prob."],
        "group_a": ["ASD", "ASD", "ASD", "PSY", "ASD"],
        "group_b": ["PSY", "PSY", "TDC", "TDC", "PSY"],
        "contrast": ["ASD vs PSY", "ASD vs PSY", "ASD vs TDC", "PSY vs TDC", "ASD vs PSY"],
        "odds_ratio": [0.37, 3.0, 0.5, 1.2, np.nan],
        "p": [0.0002, 0.002, 0.03, 0.2, np.nan],
        "p_adj": [0.004, 0.054, 0.2, 0.5, np.nan],
        "estimable": [True, True, True, True, False],
    })


def test_table_v_lists_significant_tests_sorted_by_p() -> None:
    table = table_v(results_fixture().iloc[::-1], alpha=0.05)
    assert table["Action"].tolist() == ["retracting feet", "shaking legs", "nodding"]
    assert table.loc[0, "Contrast"] == "ASD < PSY" and table.loc[0, "Type"] == "%"
    assert table.loc[1, "Contrast"] == "ASD > PSY"
    assert table_v(results_fixture(), alpha=0.01)["Action"].tolist() == [
        "retracting feet", "shaking legs"]
    # p < alpha, strictly: a test at p = alpha is not listed.
    assert table_v(results_fixture(), alpha=0.03)["Action"].tolist() == [
        "retracting feet", "shaking legs"]


def test_markdown_and_latex_use_paper_formats() -> None:
    table = table_v(results_fixture(), alpha=0.05)
    md = to_markdown(table, "Table V.")
    assert "| retracting feet | ASD < PSY | % | 0.37 | <.001 | .004 |" in md
    tex = to_latex(table, "Differences (p < 0.05)")
    assert r"retracting feet & ASD $<$ PSY & \% & 0.37 & $<$.001 & .004 \\" in tex
    assert r"\caption{Differences (p $<$ 0.05)}" in tex
    empty = to_latex(table.iloc[:0], "none")
    assert "No test reached" in empty


def test_latex_escape() -> None:
    assert latex_escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"
