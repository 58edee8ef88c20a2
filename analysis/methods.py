"""A methods paragraph written from the configuration and the data actually analysed.

Generated rather than hand-written so that the text in a manuscript cannot drift from the
settings that produced Table V.
"""

from __future__ import annotations

import pandas as pd

from analysis.config import WALD_MIN_ENGAGERS, StatsConfig
from analysis.tables import overrides_text

_PRESET_TEXT = {
    "recommended": "calibrated tests",
    # The paper names neither the intensity test, the sandwich nor the multiplicity
    # procedure (docs/statistics.md, "Ambiguities"): say so, so that a manuscript quoting
    # this paragraph does not attribute the pipeline's reading to the paper.
    "paper": ("a reconstruction of the Micro-DualNet paper's analysis; the paper does not "
              "name the intensity test, the sandwich estimator or the multiple-comparison "
              "procedure, so the Wald test, HC0 and Benjamini-Hochberg per part are this "
              "pipeline's reading of it"),
}

_SANDWICH_TEXT = {
    "HC0": "the HC0 sandwich estimator",
    "HC1": "the HC1 sandwich estimator (HC0 scaled by n/(n-p))",
    "stata": "the sandwich estimator scaled by n/(n-1), as in Stata's fracreg",
    "HC3": "the leverage-corrected HC3 sandwich estimator",
}


def _test_text(cfg: StatsConfig) -> str:
    """The sentence naming the tests behind the p-values."""
    if cfg.intensity_test == "wald":
        return "P-values are from two-sided Wald tests in both parts."
    return (
        "Engagement p-values are from two-sided Wald tests. Intensity p-values are from a "
        "permutation test of the robust score statistic (the score for the contrast under the "
        "null model, in which the two groups share one coefficient, divided by its sandwich "
        f"standard error), with {cfg.permutations} random permutations of the group labels "
        "between the two groups compared (p = (1 + number of permuted statistics at least as "
        "large) / (1 + number of permutations whose statistic is defined, at most "
        f"{cfg.permutations}); seed {cfg.permutation_seed}), or, where the two groups' "
        f"engagers have at most {cfg.permutations} distinct labellings, all of them (an "
        "exact p, a multiple of 1 / number of labellings, so coarse for small groups: 3 + 4 "
        "engagers have 35), because Wald tests "
        "with sandwich standard errors reject a true null too often for skewed fractions in "
        "small groups."
    )


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def methods_text(
    cfg: StatsConfig,
    groups: list[str],
    group_sizes: dict[str, int],
    actions: list[str],
    results: pd.DataFrame,
    n_excluded: int = 0,
) -> str:
    """One paragraph (Markdown) describing the analysis as run."""
    sizes = _join([f"{g} (n={group_sizes.get(g, 0)})" for g in groups])
    if cfg.actions is not None:
        chosen = f"{len(actions)} pre-specified micro-actions"
    else:
        chosen = (f"the {len(actions)} most frequent micro-actions (highest mean percent time "
                  "across participants)")
    contrasts = _join([f"{a} vs {b}" for a, b in cfg.resolved_contrasts(groups)])
    rhs = "group" + (f" adjusted for {_join(cfg.covariates)}" if cfg.covariates else "")
    family = ("all actions, contrasts and both parts together" if cfg.fdr_family == "all"
              else "each part separately")
    n_tests = int(results["estimable"].sum())
    n_not = int((~results["estimable"]).sum())
    excluded = (f" {n_excluded} participant(s) were excluded for incomplete data."
                if n_excluded else "")
    engagers = (max(cfg.min_engagers, WALD_MIN_ENGAGERS) if cfg.intensity_test == "wald"
                else cfg.min_engagers)
    return (
        f"We analysed percent time engaged in {chosen} for {sizes}.{excluded} "
        "Each action was analysed with a two-part (hurdle) model. "
        "(a) Engagement: a logistic GLM of whether a participant showed the action at all "
        f"(percent time > 0) on {rhs}, with model-based standard errors. "
        "(b) Intensity: among participants with nonzero engagement, a fractional logit model "
        f"(binomial GLM with logit link; Papke and Wooldridge, 1996) of the fraction of time "
        f"engaged on {rhs}, with {_SANDWICH_TEXT[cfg.robust_se]} for robust standard errors. "
        f"Pairwise group contrasts ({contrasts}) are reported as odds ratios with 95% Wald "
        f"confidence intervals. {_test_text(cfg)} P-values were adjusted with the "
        f"Benjamini-Hochberg procedure over the estimable tests of {family}; results with unadjusted p < "
        f"{cfg.alpha:g} are listed together with the adjusted values. "
        f"Comparisons were not estimated (and never counted as significant) when a group had "
        f"fewer than {cfg.min_participants} participants, when a group had all or no "
        f"participants engaged (separation), or, for the intensity part, when a group had "
        f"fewer than {engagers} engagers or no variation in intensity; "
        f"{n_tests} tests were estimable and {n_not} were not. "
        f"Settings: the pipeline's analysis preset '{cfg.preset}' ({_PRESET_TEXT[cfg.preset]})"
        f"{overrides_text(cfg)}.\n"
    )
