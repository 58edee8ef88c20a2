"""The generated methods paragraph and Table V caption say exactly how the analysis ran: a
manuscript copies them, so a wrong group size, test or family is a wrong paper."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.config import StatsConfig
from analysis.methods import methods_text
from analysis.tables import table_v_caption

ESTIMABLE = pd.DataFrame({"estimable": [True, True, False, True, False]})


def test_methods_paragraph_of_a_wald_analysis_with_covariates() -> None:
    cfg = StatsConfig(groups=["ASD", "PSY", "TDC"], covariates=["age", "sex", "site"],
                      actions=["nodding", "shaking legs"], alpha=0.1, fdr_family="part",
                      robust_se="stata", intensity_test="wald", min_engagers=4,
                      min_participants=6)
    text = methods_text(cfg, ["ASD", "PSY", "TDC"], {"ASD": 12, "PSY": 7, "TDC": 9},
                        ["nodding", "shaking legs"], ESTIMABLE, n_excluded=2)
    assert text == (
        "We analysed percent time engaged in 2 pre-specified micro-actions for ASD (n=12), "
        "PSY (n=7), and TDC (n=9). 2 participant(s) were excluded for incomplete data. Each "
        "action was analysed with a two-part (hurdle) model. (a) Engagement: a logistic GLM "
        "of whether a participant showed the action at all (percent time > 0) on group "
        "adjusted for age, sex, and site, with model-based standard errors. (b) Intensity: "
        "among participants with nonzero engagement, a fractional logit model (binomial GLM "
        "with logit link; Papke and Wooldridge, 1996) of the fraction of time engaged on group "
        "adjusted for age, sex, and site, with the sandwich estimator scaled by n/(n-1), as "
        "in Stata's fracreg for robust standard errors. Pairwise group contrasts (ASD vs PSY, "
        "ASD vs TDC, and PSY vs TDC) are reported as odds ratios with 95% Wald confidence "
        "intervals. P-values are from two-sided Wald tests in both parts. P-values were "
        "adjusted with the Benjamini-Hochberg procedure over the estimable tests of each part "
        "separately; results with unadjusted p < 0.1 are listed together with the adjusted "
        "values. Comparisons were not estimated (and never counted as significant) when a "
        "group had fewer than 6 participants, when a group had all or no participants engaged "
        "(separation), or, for the intensity part, when a group had fewer than 10 engagers "
        "or no variation in intensity; 3 tests were estimable and 2 were not. Settings: the pipeline's analysis preset 'recommended' "
        "(calibrated tests), overridden: fdr_family part instead of all; robust_se stata "
        "instead of HC3; intensity_test wald instead of permutation.\n")


def test_methods_paragraph_of_a_permutation_analysis_of_the_top_actions() -> None:
    cfg = StatsConfig(groups=["ASD", "TDC"], top_k=3, permutations=499, permutation_seed=7,
                      min_engagers=4)
    text = methods_text(cfg, ["ASD", "TDC"], {"ASD": 12, "TDC": 9}, ["a", "b", "c"], ESTIMABLE)
    for sentence in (
        "in the 3 most frequent micro-actions (highest mean percent time across participants) "
        "for ASD (n=12) and TDC (n=9). Each action",
        "engaged on group, with the leverage-corrected HC3 sandwich estimator for robust",
        "Pairwise group contrasts (ASD vs TDC) are reported",
        "with 499 random permutations of the group labels",
        "at most 499); seed 7), or, where the two groups' engagers have at most 499 "
        "distinct labellings, all of them (an exact p, a multiple of 1 / number of "
        "labellings, so coarse for small groups: 3 + 4 engagers have 35), because Wald tests",
        "over the estimable tests of all actions, contrasts and both parts together; results "
        "with unadjusted p < 0.05",
        "when a group had fewer than 4 engagers or no variation",
        "3 tests were estimable and 2 were not. Settings: the pipeline's analysis preset "
        "'recommended' (calibrated tests), overridden: top_k 3 instead of 10.\n",
    ):
        assert sentence in text
    assert "were excluded" not in text


def test_table_v_caption_names_the_tests_and_the_correction_family() -> None:
    assert table_v_caption(StatsConfig(alpha=0.1, fdr_family="part", intensity_test="wald")) == (
        "Pairwise group differences (p < 0.1) in micro-action engagement. Prob.: engagement "
        "probability; %: percentage of time engaged among participants with nonzero "
        "engagement. Effect: odds ratio of the first vs the second group. p: two-sided Wald "
        "test. p_adj: Benjamini-Hochberg adjusted p-value over the contrasts x actions of "
        "each part separately. Settings: analysis preset 'recommended', overridden: "
        "fdr_family part instead of all; intensity_test wald instead of permutation.")
    assert table_v_caption(StatsConfig()).endswith(
        "p: two-sided Wald test (Prob.) or permutation test of the robust score statistic (%). "
        "p_adj: Benjamini-Hochberg adjusted p-value over all actions x contrasts x parts. "
        "Settings: analysis preset 'recommended'.")


@pytest.mark.parametrize(("robust_se", "words"), [
    ("HC0", "with the HC0 sandwich estimator for robust"),
    ("HC1", "with the HC1 sandwich estimator (HC0 scaled by n/(n-p)) for robust"),
    ("HC3", "with the leverage-corrected HC3 sandwich estimator for robust"),
])
def test_methods_name_the_sandwich_used(robust_se: str, words: str) -> None:
    text = methods_text(StatsConfig(robust_se=robust_se), ["ASD", "TDC"], {"ASD": 3, "TDC": 4},
                        ["a"], ESTIMABLE)
    assert f"fraction of time engaged on group, {words} standard errors." in text


def test_methods_keep_the_group_order_and_count_a_group_without_sizes_as_zero() -> None:
    """Group order is the configured one (the contrasts are A vs B in it), not alphabetical."""
    text = methods_text(StatsConfig(), ["TDC", "ASD"], {"TDC": 4}, ["a"], ESTIMABLE)
    assert "for TDC (n=4) and ASD (n=0). Each action" in text
    assert "Pairwise group contrasts (TDC vs ASD) are reported" in text


def test_a_wald_engager_floor_above_ten_is_the_one_stated() -> None:
    cfg = StatsConfig(intensity_test="wald", min_engagers=12)
    text = methods_text(cfg, ["ASD", "TDC"], {"ASD": 30, "TDC": 30}, ["a"], ESTIMABLE)
    assert "when a group had fewer than 12 engagers or no variation" in text
