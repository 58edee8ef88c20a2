"""The two-part (hurdle) analysis of percent time, one action at a time.

Part 1, engagement: did the participant do the action at all? `engaged = percent_time > 0`,
logistic GLM on group (+ covariates), model-based standard errors.
Part 2, intensity: among engagers, what fraction of the valid time? `y = percent_time / 100`
in (0, 1], fractional logit (binomial GLM, logit link) with a robust sandwich covariance,
because the binomial variance is only a working assumption for a fraction. Its contrasts are
tested by permutation of the robust score statistic (`analysis.permutation`) unless
`intensity_test: wald`; effects and CIs are Wald in both parts.

Each part yields one row per configured contrast. Where a test cannot be trusted
(separation, too few engagers, no engagement, a tiny group, a constant covariate, a model
that does not converge) the row is kept with `estimable = False`, the reason, and no p-value,
so it can never be reported as significant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.config import WALD_MIN_ENGAGERS, StatsConfig
from analysis.contrasts import contrast_vector, wald_contrast
from analysis.design import Design, build_design, constant_covariates
from analysis.fdr import adjust_results
from analysis.glm import LogitFit, fit_logit
from analysis.permutation import contrast_stream, permutation_score_test

PARTS = ("engagement", "intensity")
TYPE_LABEL = {"engagement": "Prob.", "intensity": "%"}

RESULT_COLUMNS = [
    "action", "part", "type", "contrast", "group_a", "group_b", "n_a", "n_b",
    "engagers_a", "engagers_b", "observed_a", "observed_b", "n_model", "se_type",
    "test", "log_or", "se", "odds_ratio", "ci_low", "ci_high", "z", "p", "p_adj", "estimable", "reason",
]


def part_outcome(action_rows: pd.DataFrame, part: str) -> pd.DataFrame:
    """The rows a part models, with its outcome `y` (0/1 engaged, or fraction of time)."""
    if part == "engagement":
        return action_rows.assign(y=(action_rows["percent_time"] > 0).astype(float))
    engagers = action_rows[action_rows["percent_time"] > 0]
    return engagers.assign(y=engagers["percent_time"] / 100.0)


def _count(n: int, noun: str) -> str:
    """`1 engager`, `3 engagers`: reasons are read by people, in Table V's notes."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def group_problems(
    action_rows: pd.DataFrame, part: str, groups: list[str], cfg: StatsConfig
) -> dict[str, str]:
    """Why a group cannot enter this part's model (groups missing from the dict are fine)."""
    problems: dict[str, str] = {}
    for g in groups:
        pt = action_rows.loc[action_rows["group"] == g, "percent_time"].to_numpy()
        n, engaged = len(pt), int((pt > 0).sum())
        if n < cfg.min_participants:
            problems[g] = (f"group {g} has {_count(n, 'participant')} (< min_participants "
                           f"{cfg.min_participants})")
        elif part == "engagement" and engaged == 0:
            problems[g] = f"no participant in group {g} engaged (separation)"
        elif part == "engagement" and engaged == n:
            problems[g] = f"every participant in group {g} engaged (separation)"
        elif part == "intensity" and engaged < cfg.min_engagers:
            problems[g] = (f"group {g} has {_count(engaged, 'engager')} (< min_engagers "
                           f"{cfg.min_engagers})")
        elif (part == "intensity" and cfg.intensity_test == "wald"
              and engaged < WALD_MIN_ENGAGERS):
            problems[g] = (f"group {g} has {_count(engaged, 'engager')} (< {WALD_MIN_ENGAGERS}, the "
                           "fewest for a Wald test of intensity)")
        elif part == "intensity" and np.all(pt[pt > 0] >= 100):
            problems[g] = f"every engager in group {g} spent 100% of the time (separation)"
        elif part == "intensity" and np.ptp(pt[pt > 0]) == 0:
            problems[g] = f"no variation in percent time among group {g}'s engagers"
    return problems


def _model_problem(rows: pd.DataFrame, usable: list[str], cfg: StatsConfig) -> str | None:
    """A reason the whole part cannot be fitted, judged before fitting."""
    if len(usable) < 2:
        return "fewer than two groups usable in this part"
    const = constant_covariates(rows, cfg.covariates)
    if const:
        return f"covariate(s) {', '.join(const)} constant in the modelled rows"
    return None


def _descriptives(action_rows: pd.DataFrame, part: str, group: str) -> tuple[int, int, float]:
    """Group size, engager count, and the observed summary the part models."""
    pt = action_rows.loc[action_rows["group"] == group, "percent_time"]
    engaged = pt[pt > 0]
    if part == "engagement":
        observed = float(len(engaged) / len(pt)) if len(pt) else np.nan
    else:
        observed = float(engaged.mean()) if len(engaged) else np.nan
    return len(pt), len(engaged), observed


def _contrast_result(fit: LogitFit, design: Design, rows: pd.DataFrame, action: str,
                     a: str, b: str, part: str, cfg: StatsConfig) -> dict:
    """Effect, Wald CI and the part's test of A vs B; only a reason if it cannot be reported."""
    reference = design.groups[0]
    wald = wald_contrast(fit, reference, a, b)
    if not (np.isfinite(wald.se) and wald.se > 0):
        return {"reason": "standard error is zero or not finite"}
    out = {"estimable": True, "log_or": wald.log_or, "se": wald.se,
           "odds_ratio": wald.odds_ratio, "ci_low": wald.ci_low, "ci_high": wald.ci_high,
           "z": wald.z, "p": wald.p}
    if part == "intensity" and cfg.intensity_test == "permutation":
        # The pair in sorted order draws the labels, so that [PSY, ASD] gets the p of
        # [ASD, PSY] (the statistic is symmetric; only z changes sign) whatever the group order.
        first, second = sorted((a, b))
        group = rows["group"].to_numpy()
        test = permutation_score_test(
            design.x, rows["y"].to_numpy(), contrast_vector(fit, reference, first, second),
            group == first, group == second,
            contrast_stream(cfg.permutation_seed, action, first, second), cfg.permutations)
        if test is None:
            return {"reason": f"the null model ({a} and {b} merged) failed to fit or fits "
                              "exactly"}
        out.update(z=test.z if first == a else -test.z, p=test.p)
    return out


def analyse_part(action: str, action_rows: pd.DataFrame, part: str, groups: list[str],
                 contrasts: list[tuple[str, str]], cfg: StatsConfig) -> list[dict]:
    """Fit one part for one action and test every contrast; one result row per contrast."""
    se_type = "model" if part == "engagement" else cfg.robust_se
    test = "wald" if part == "engagement" else cfg.intensity_test
    problems = group_problems(action_rows, part, groups, cfg)
    usable = [g for g in groups if g not in problems]
    rows = part_outcome(action_rows, part)
    rows = rows[rows["group"].isin(usable)]

    action_level = None  # a reason that says more than any group's
    if not (action_rows["percent_time"] > 0).any():
        action_level = "no participant engaged in this action"
    elif part == "engagement" and (action_rows["percent_time"] > 0).all():
        action_level = "every participant engaged in this action (no variation)"
    whole = action_level or _model_problem(rows, usable, cfg)

    fit = design = None
    if whole is None:
        design = build_design(rows, usable, cfg.covariates)
        if np.linalg.matrix_rank(design.x) < design.x.shape[1]:
            whole = "design matrix is rank deficient (a covariate is collinear with group)"
        elif len(rows) <= design.x.shape[1]:
            whole = "fewer observations than model coefficients"
        else:
            fit = fit_logit(design.x, rows["y"].to_numpy(), design.names,
                            robust=None if part == "engagement" else cfg.robust_se)
            if not fit.converged:
                whole = "model did not converge"
            elif fit.separated:
                whole = "fitted probabilities at 0 or 1 (separation by a covariate)"

    def in_model(a: str, b: str) -> bool:
        """Was a model fitted with both groups in it (n_model is then its size)?"""
        return fit is not None and a in usable and b in usable

    out = []
    for a, b in contrasts:
        (n_a, e_a, obs_a), (n_b, e_b, obs_b) = (_descriptives(action_rows, part, g) for g in (a, b))
        row = {
            "action": action, "part": part, "type": TYPE_LABEL[part], "contrast": f"{a} vs {b}",
            "group_a": a, "group_b": b, "n_a": n_a, "n_b": n_b, "engagers_a": e_a,
            "engagers_b": e_b, "observed_a": obs_a, "observed_b": obs_b,
            "n_model": len(rows) if in_model(a, b) else pd.NA, "se_type": se_type, "test": test,
            "estimable": False,
            "reason": action_level or problems.get(a) or problems.get(b) or whole or "",
        }
        if not row["reason"] and fit is not None and design is not None:
            row.update(_contrast_result(fit, design, rows, action, a, b, part, cfg))
        out.append(row)
    return out


def run_hurdle(table: pd.DataFrame, groups: list[str], actions: list[str],
               cfg: StatsConfig) -> pd.DataFrame:
    """All actions x parts x contrasts, with Benjamini-Hochberg adjusted p-values."""
    contrasts = cfg.resolved_contrasts(groups)
    rows: list[dict] = []
    for action in actions:
        # Participant order, not file order: the permutation test draws a random key per row,
        # so rows in another order would give another p from the same data and seed.
        action_rows = table[table["action"] == action].sort_values("participant_id",
                                                                   kind="stable")
        for part in PARTS:
            rows += analyse_part(action, action_rows, part, groups, contrasts, cfg)
    results = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    results["estimable"] = results["estimable"].astype(bool)
    results["n_model"] = results["n_model"].astype("Int64")  # blank where no model held both
    results["p_adj"] = adjust_results(results, cfg.fdr_family)
    return results
