"""Table V formatting, selection and the Benjamini-Hochberg adjustment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.config import StatsConfig
from analysis.fdr import adjust_results, bh_adjust
from analysis.tables import (
    direction_label,
    format_p,
    formatted,
    latex_escape,
    table_v,
    table_v_caption,
    to_latex,
    to_markdown,
    write_results,
)


@pytest.mark.parametrize(("p", "text"), [(0.0004, "<.001"), (0.001, ".001"), (0.0537, ".054"),
                                         (0.5, ".500"), (1.0, "1.000"), (np.nan, "NA")])
def test_apa_p_format(p: float, text: str) -> None:
    assert format_p(p) == text


@pytest.mark.parametrize(("p", "alpha", "text"), [
    (0.0497, 0.05, ".0497"), (0.04996, 0.05, ".04996"), (0.0499999999, 0.05, ".0499999999"),
    (0.0503, 0.05, ".050"), (0.05, 0.05, ".050"), (0.0505, 0.05, ".051"),
    (0.0097, 0.01, ".0097"),
    # the figures' star levels too: 0.0097 gets ** beside its bracket, so not ".010"
    (0.0097, 0.05, ".0097"), (0.0497, 0.1, ".0497"), (0.0103, 0.05, ".010"),
    (0.0003, 0.05, "<.001"), (0.00996, 0.05, ".00996")])
def test_p_below_alpha_never_prints_as_alpha(p: float, alpha: float, text: str) -> None:
    # Table V lists p < alpha; three decimals alone would print 0.0497 as .050.
    assert format_p(p, alpha) == text


def test_table_v_files_keep_a_listed_p_below_alpha(tmp_path) -> None:
    results = results_fixture()
    results.loc[2, ["p", "p_adj"]] = [0.0497, 0.0498]
    write_results(results, tmp_path, StatsConfig())
    md = (tmp_path / "table_v.md").read_text(encoding="utf-8")
    assert "| nodding | ASD < TDC | Prob. | 0.50 | .0497 | .0498 |" in md
    assert "nodding & ASD $<$ TDC & Prob. & 0.50 & .0497 & .0498" in (
        tmp_path / "table_v.tex").read_text(encoding="utf-8")
    results.loc[2, ["p", "p_adj"]] = [0.0597, 0.0598]  # listed at alpha 0.06 only
    write_results(results, tmp_path, StatsConfig(alpha=0.06))
    assert "| .0597 | .0598 |" in (tmp_path / "table_v.md").read_text(encoding="utf-8")


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


def test_bh_by_hand_and_an_unknown_family_is_refused() -> None:
    # m = 4 (the NaN is not a test), ranks 0.01 < 0.03 < 0.04 < 0.5: p * 4 / rank is 0.04,
    # 0.06, 0.0533.., 0.5, and the step-up minimum from the top lowers 0.06 to 0.0533...
    got = bh_adjust(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    np.testing.assert_allclose(got, [0.04, 0.053333333333333, np.nan, 0.053333333333333, 0.5])
    with pytest.raises(ValueError, match="unknown FDR family 'action'"):
        adjust_results(pd.DataFrame({"part": ["engagement"], "p": [0.1]}), "action")


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


def test_even_odds_read_as_not_lower() -> None:
    assert direction_label("ASD", "PSY", 1.0) == "ASD > PSY"


def test_table_v_never_lists_a_test_that_was_not_estimable_and_breaks_ties_by_name() -> None:
    results = results_fixture()
    results.loc[4, "p"] = 0.0001  # a stray p on a non-estimable row
    results.loc[1, "p"] = results.loc[0, "p"] = 0.0002  # a tie: action names decide
    table = table_v(results.iloc[::-1], alpha=0.05)
    assert table["Action"].tolist() == ["retracting feet", "shaking legs", "nodding"]


def test_markdown_and_latex_tables_in_full() -> None:
    table = table_v(results_fixture(), alpha=0.01)
    assert to_markdown(table, "Cap.") == (
        "Cap.\n\n| Action | Contrast | Type | Effect | p | p_adj |\n"
        "|---|---|---|---:|---:|---:|\n"
        "| retracting feet | ASD < PSY | % | 0.37 | <.001 | .004 |\n"
        "| shaking legs | ASD > PSY | Prob. | 3.00 | .002 | .054 |\n")
    assert to_markdown(table.iloc[:0], "Cap.").endswith(
        "|---:|\n| — | — | — | — | — | — |\n")
    assert to_latex(table, "Cap > x_y") == "\n".join([
        r"\begin{table}[t]", r"\centering", r"\caption{Cap $>$ x\_y}",
        r"\label{tab:group-differences}", r"\begin{tabular}{lllrrr}", r"\toprule",
        r"Action & Contrast & Type & Effect & $p$ & $p_{adj}$ \\", r"\midrule",
        r"retracting feet & ASD $<$ PSY & \% & 0.37 & $<$.001 & .004 \\",
        r"shaking legs & ASD $>$ PSY & Prob. & 3.00 & .002 & .054 \\",
        r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"


def test_written_tables_keep_full_precision_and_the_caption(tmp_path) -> None:
    results = results_fixture()
    results.loc[0, "p"] = 0.000123456789
    write_results(results, tmp_path, StatsConfig(alpha=0.01))
    back = pd.read_csv(tmp_path / "hurdle.tsv", sep="\t")
    assert back.loc[0, "p"] == 0.000123456789
    assert pd.read_csv(tmp_path / "table_v.tsv", sep="\t").loc[0, "p"] == 0.000123456789
    caption = table_v_caption(StatsConfig(alpha=0.01))
    assert (tmp_path / "table_v.md").read_text().startswith(f"Table V. {caption}\n\n| Action")
    assert rf"\caption{{{latex_escape(caption)}}}" in (tmp_path / "table_v.tex").read_text()


def test_names_with_pipes_or_tags_keep_the_markdown_and_latex_rows_intact() -> None:
    """A study's own labels: `|` would split a Markdown cell (and print as a dash in LaTeX's
    default font), `<TD>` would be read as an HTML tag and vanish from the rendered table."""
    results = results_fixture().iloc[:1].assign(
        action="nod|shake", group_a="ASD|ADHD", group_b="<TD>")
    table = table_v(results, alpha=0.05)
    md = to_markdown(table, "Cap.").splitlines()[-1]
    assert md == r"| nod\|shake | ASD\|ADHD < \<TD> | % | 0.37 | <.001 | .004 |"
    assert md.replace("\\|", "").count("|") == 7  # six cells
    tex = to_latex(table, "Cap.")
    assert (r"nod\textbar{}shake & ASD\textbar{}ADHD $<$ $<$TD$>$ & \% & 0.37 & $<$.001 & "
            r".004 \\") in tex


def test_a_tiny_odds_ratio_is_not_printed_as_zero() -> None:
    """1 of 40 engaged vs 39 of 40: OR 0.00066, which two decimals would print as 0.00."""
    results = results_fixture().iloc[:2].assign(odds_ratio=[0.00066, 0.0049])
    text = formatted(table_v(results, alpha=0.05))
    assert text["Effect"].tolist() == ["0.00066", "0.0049"]
    assert formatted(table_v(results_fixture(), alpha=0.05))["Effect"].tolist() == [
        "0.37", "3.00", "0.50"]
