"""Degenerate data is reported as not estimable, with a reason, and never as significant."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.config import StatsConfig
from analysis.fdr import bh_adjust
from analysis.glm import fit_logit, fit_params, information_inverse, settled
from analysis.hurdle import run_hurdle
from analysis.tables import table_v

GROUPS = ["ASD", "PSY", "TDC"]


def one_action(values: dict[str, list[float]], covariate: dict[str, list] | None = None,
               action: str = "nodding") -> pd.DataFrame:
    """A single-action table from explicit percent times per group."""
    rows = []
    for g, pts in values.items():
        for i, pt in enumerate(pts):
            row = {"participant_id": f"{g}{i}", "group": g, "action": action,
                   "percent_time": pt, "valid_s": 100.0}
            if covariate:
                row.update({k: v[len(rows)] for k, v in covariate.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def varied(n: int, zeros: int, seed: int, scale: float = 20.0) -> list[float]:
    """n percent times, the first `zeros` of them 0, the rest spread around `scale`."""
    rng = np.random.default_rng(seed)
    return [0.0] * zeros + list(np.round(rng.uniform(0.3, 1.7, n - zeros) * scale, 3))


def rows_for(results: pd.DataFrame, part: str) -> pd.DataFrame:
    return results[results["part"] == part].set_index("contrast")


def assert_not_significant(results: pd.DataFrame, cfg: StatsConfig) -> None:
    """Non-estimable rows carry a reason, no p-values, and no Table V line."""
    bad = results[~results["estimable"]]
    assert bad["p"].isna().all() and bad["p_adj"].isna().all()
    assert (bad["reason"].str.len() > 0).all()
    bad_keys = {(r.action, r.type, frozenset((r.group_a, r.group_b))) for r in bad.itertuples()}
    for row in table_v(results, cfg.alpha).itertuples():
        pair = frozenset(row.Contrast.replace("<", " ").replace(">", " ").split())
        assert (row.Action, row.Type, pair) not in bad_keys


def test_group_with_no_engagers_is_separation() -> None:
    # PSY never engages: a naive fit gives a huge OR with a tiny SE. It must not be reported.
    data = one_action({"ASD": varied(30, 10, 1), "PSY": [0.0] * 30, "TDC": varied(30, 12, 2)})
    cfg = StatsConfig()
    res = run_hurdle(data, GROUPS, ["nodding"], cfg)
    eng = rows_for(res, "engagement")
    assert not eng.loc["ASD vs PSY", "estimable"]
    assert "no participant in group PSY engaged" in eng.loc["ASD vs PSY", "reason"]
    assert eng.loc["ASD vs TDC", "estimable"]  # the other groups are still compared
    assert "PSY" in rows_for(res, "intensity").loc["PSY vs TDC", "reason"]
    assert not [c for c in table_v(res, 0.05)["Contrast"] if "PSY" in c]
    assert_not_significant(res, cfg)


def test_group_where_everyone_engages_is_separation() -> None:
    data = one_action({"ASD": varied(30, 0, 1), "PSY": varied(30, 15, 2),
                       "TDC": varied(30, 14, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig())
    eng = rows_for(res, "engagement")
    assert "every participant in group ASD engaged" in eng.loc["ASD vs TDC", "reason"]
    assert eng.loc["PSY vs TDC", "estimable"]
    assert rows_for(res, "intensity")["estimable"].all()


def test_each_contrast_keeps_its_group_reason_when_two_groups_are_unusable() -> None:
    """PSY all engaged, TDC none: the part cannot be fitted at all, yet each row says which
    of its own groups is the reason, not only "fewer than two groups usable"."""
    data = one_action({"ASD": varied(30, 12, 1), "PSY": varied(30, 0, 2), "TDC": [0.0] * 30})
    eng = rows_for(run_hurdle(data, GROUPS, ["nodding"], StatsConfig()), "engagement")
    assert eng.loc["ASD vs PSY", "reason"] == "every participant in group PSY engaged (separation)"
    assert eng.loc["ASD vs TDC", "reason"] == "no participant in group TDC engaged (separation)"
    assert not eng["estimable"].any()


@pytest.mark.parametrize(("zeros", "said"), [(27, "3 engagers"), (29, "1 engager")])
def test_too_few_engagers_blocks_intensity_only(zeros, said) -> None:
    data = one_action({"ASD": varied(30, zeros, 1), "PSY": varied(30, 10, 2),
                       "TDC": varied(30, 10, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(min_engagers=5))
    inten = rows_for(res, "intensity")
    assert inten.loc["ASD vs PSY", "reason"] == f"group ASD has {said} (< min_engagers 5)"
    assert inten.loc["PSY vs TDC", "estimable"]
    assert rows_for(res, "engagement")["estimable"].all()


def test_action_without_any_engagement() -> None:
    data = one_action({g: [0.0] * 20 for g in GROUPS})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig())
    assert not res["estimable"].any()
    assert (res["reason"] == "no participant engaged in this action").all()
    assert table_v(res, 0.05).empty


def test_tiny_group_is_not_compared() -> None:
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(4, 1, 2),
                       "TDC": varied(30, 12, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(min_participants=10))
    for part in ("engagement", "intensity"):
        rows = rows_for(res, part)
        assert rows.loc["ASD vs PSY", "reason"] == \
            "group PSY has 4 participants (< min_participants 10)"
        assert rows.loc["ASD vs TDC", "estimable"]


def test_constant_covariate_is_reported() -> None:
    n = 90
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)}, covariate={"site": ["A"] * n})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(covariates=["site"]))
    assert not res["estimable"].any()
    assert res["reason"].str.contains("covariate(s) site constant", regex=False).all()


def test_intensity_without_variation_in_a_group() -> None:
    data = one_action({"ASD": [0.0] * 10 + [25.0] * 20, "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig())
    inten = rows_for(res, "intensity")
    assert "no variation in percent time among group ASD" in inten.loc["ASD vs TDC", "reason"]
    assert inten.loc["PSY vs TDC", "estimable"]


def test_separation_by_a_covariate_is_caught() -> None:
    # Engagement is perfectly predicted by age > 12: group contrasts would be meaningless.
    rng = np.random.default_rng(5)
    ages = rng.uniform(8, 17, 90)
    pts = np.where(ages > 12, rng.uniform(5, 30, 90), 0.0)
    data = one_action({"ASD": list(pts[:30]), "PSY": list(pts[30:60]), "TDC": list(pts[60:])},
                      covariate={"age": list(ages)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(covariates=["age"]))
    eng = rows_for(res, "engagement")
    assert not eng["estimable"].any()
    assert eng["reason"].str.contains("separation").all()


def test_quasi_separation_short_of_eta_30_is_caught() -> None:
    """A covariate that is group ASD but for one non-engaging ASD child (a clinic that sent
    every ASD child but one): that child alone is ASD with clinic 0, so its fitted
    probability runs off to 0. IRLS's deviance tolerance stopped it at |eta| 29.6, below the
    threshold of 30, and ASD's contrasts were reported as estimable with log odds ratio -30.3
    (odds ratio 7e-14, SE 2.5e6, CI to inf) where both groups engaged 20 of 30."""
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 10, 2),
                       "TDC": varied(30, 10, 3)})
    data["clinic"] = (data["group"] == "ASD").astype(float)
    data.loc[0, "clinic"] = 0.0  # ASD0, a non-engager
    cfg = StatsConfig(covariates=["clinic"], permutations=99)
    eng = rows_for(run_hurdle(data, GROUPS, ["nodding"], cfg), "engagement")
    assert not eng["estimable"].any()
    assert eng["reason"].str.contains("separation by a covariate").all()
    x = np.column_stack([np.ones(90), np.repeat([0.0, 1.0, 0.0], 30),
                         np.repeat([0.0, 0.0, 1.0], 30), data["clinic"]])
    params, converged, separated = fit_params(x, (data["percent_time"] > 0).to_numpy(float))
    assert converged and separated and np.max(np.abs(x @ params)) < 30


@pytest.mark.parametrize("family", ["all", "part"])
def test_non_estimable_tests_are_not_in_the_fdr_family(family: str) -> None:
    data = pd.concat([
        one_action({"ASD": varied(40, 10, 1), "PSY": varied(40, 30, 2),
                    "TDC": varied(40, 12, 3)}, action="a"),
        one_action({g: [0.0] * 40 for g in GROUPS}, action="b"),
    ])
    res = run_hurdle(data, GROUPS, ["a", "b"], StatsConfig(fdr_family=family))

    ok = res[res["estimable"]]
    assert len(ok) == 6
    expected = (bh_adjust(ok["p"].to_numpy()) if family == "all" else
                np.concatenate([bh_adjust(ok.loc[ok["part"] == p, "p"].to_numpy())
                                for p in ("engagement", "intensity")]))
    np.testing.assert_allclose(ok["p_adj"].to_numpy(), expected)


def test_a_fit_whose_weights_all_underflow_has_nan_covariance_not_an_error(monkeypatch) -> None:
    """Where every fitted probability is 0 or 1 to machine precision the information matrix
    is exactly singular on some machines' floating point and not on others: either way the
    fit is reported as separated, never raised as LinAlgError."""
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(40), rng.normal(size=40)])
    assert np.isnan(information_inverse(x, np.zeros(40))).all()
    weight = rng.uniform(0.1, 0.25, 40)
    np.testing.assert_allclose(information_inverse(x, weight),
                               np.linalg.inv(x.T @ (x * weight[:, None])))
    y = (x[:, 1] > 0).astype(float)  # perfectly separated by the covariate
    # IRLS as it ended on the machine where this failed: every weight exactly 0.
    monkeypatch.setattr("analysis.glm.fit_params",
                        lambda x, y: (np.array([0.0, 1e6]), True, True))
    for robust in (None, "HC1", "HC3"):
        fit = fit_logit(x, y, ["const", "age"], robust=robust)
        assert fit.separated and np.isnan(fit.cov).all()


def test_a_leverage_one_participant_leaves_hc3_as_the_model_without_it() -> None:
    """One engager alone at a covariate level has leverage 1 and residual 0: HC3's 0/0 gave
    NaN (every contrast not estimable) or, by rounding, an arbitrary SE. It contributes
    nothing: effects and HC3 SEs are those of the model without that participant."""
    values = {"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2), "TDC": varied(30, 12, 3)}
    site = ["A"] * 90
    site[20] = "B"  # ASD's 21st participant engages (the first 10 do not)
    cfg = StatsConfig(covariates=["site"], permutations=99)
    with np.errstate(divide="raise", invalid="raise"):
        res = rows_for(run_hurdle(one_action(values, covariate={"site": site}), GROUPS,
                                  ["nodding"], cfg), "intensity")
    without = one_action(values).drop(index=20)  # and site, then constant
    ref = rows_for(run_hurdle(without, GROUPS, ["nodding"], StatsConfig(permutations=99)),
                   "intensity")
    assert res["estimable"].all()
    np.testing.assert_allclose(res[["log_or", "se"]].to_numpy(float),
                               ref[["log_or", "se"]].to_numpy(float), rtol=1e-7)
    # The same in a small fit where 1 - h rounds to exactly 0 (on x86-64; it gave NaN in
    # about 2 of 3 such draws).
    rng = np.random.default_rng(1)
    y = np.round(rng.uniform(0.01, 0.3, 12), 4)
    x = np.column_stack([np.ones(12), np.repeat([0.0, 1.0], 6), np.eye(12)[11]])
    fit = fit_logit(x, y, ["const", "g", "site"], robust="HC3")
    alone = fit_logit(x[:11, :2], y[:11], ["const", "g"], robust="HC3")
    assert np.isfinite(fit.cov).all()
    np.testing.assert_allclose(fit.cov[1, 1], alone.cov[1, 1], rtol=1e-7)


def test_reasons_name_the_count_and_the_whole_action_in_words() -> None:
    """Each reason as Table V's notes print it: a group without engagers says '0 engagers',
    an action everyone did says so for engagement (intensity is still compared), and a group
    whose engagers all spent 100% of the time is a separation, not 'no variation'."""
    data = one_action({"ASD": varied(30, 10, 1), "PSY": [0.0] * 30, "TDC": varied(30, 12, 2)})
    inten = rows_for(run_hurdle(data, GROUPS, ["nodding"], StatsConfig()), "intensity")
    assert inten.loc["ASD vs PSY", "reason"] == "group PSY has 0 engagers (< min_engagers 5)"

    everyone = one_action({g: varied(30, 0, s) for s, g in enumerate(GROUPS)})
    res = run_hurdle(everyone, GROUPS, ["nodding"], StatsConfig())
    assert (rows_for(res, "engagement")["reason"]
            == "every participant engaged in this action (no variation)").all()
    assert rows_for(res, "intensity")["estimable"].all()

    full = one_action({"ASD": [0.0] * 10 + [100.0] * 20, "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)})
    inten = rows_for(run_hurdle(full, GROUPS, ["nodding"], StatsConfig()), "intensity")
    assert inten.loc["ASD vs TDC", "reason"] == \
        "every engager in group ASD spent 100% of the time (separation)"
    assert inten.loc["PSY vs TDC", "estimable"]


def test_one_engager_at_100_percent_is_no_separation() -> None:
    values = {"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2), "TDC": varied(30, 12, 3)}
    values["ASD"][-1] = 100.0
    inten = rows_for(run_hurdle(one_action(values), GROUPS, ["nodding"], StatsConfig()),
                     "intensity")
    assert inten["estimable"].all()


def test_each_constant_covariate_is_named() -> None:
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)}, covariate={"site": ["A"] * 90, "sex": ["F"] * 90})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(covariates=["site", "sex"]))
    assert (res["reason"] == "covariate(s) site, sex constant in the modelled rows").all()


def test_counts_at_the_minimum_are_enough() -> None:
    """min_participants, min_engagers and the Wald floor are minima: a group with exactly that
    many is compared."""
    data = one_action({"ASD": varied(10, 5, 1), "PSY": varied(30, 25, 2),
                       "TDC": varied(30, 20, 3)})  # 10 participants; 5, 5 and 10 engagers
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(min_participants=10, min_engagers=5,
                                                            permutations=99))
    assert res["estimable"].all()
    wald = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(intensity_test="wald"))
    inten = rows_for(wald, "intensity")
    assert inten.loc["ASD vs PSY", "reason"].startswith("group ASD has 5 engagers (< 10,")
    data = one_action({"ASD": varied(30, 20, 1), "PSY": varied(30, 20, 2),
                       "TDC": varied(30, 20, 3)})  # 10 engagers each
    assert run_hurdle(data, GROUPS, ["nodding"], StatsConfig(intensity_test="wald"))[
        "estimable"].all()


def test_a_covariate_collinear_with_group_is_rank_deficiency() -> None:
    site = ["A"] * 30 + ["B"] * 30 + ["B"] * 30  # site B is exactly PSY or TDC
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)}, covariate={"site": site})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(covariates=["site"]))
    assert (res["reason"]
            == "design matrix is rank deficient (a covariate is collinear with group)").all()


def test_as_many_coefficients_as_engagers_is_not_fitted() -> None:
    """Intensity of ASD and TDC with 3 engagers each and four numeric covariates: 6 rows, 6
    coefficients. The fit would be exact (residuals 0), so there is nothing to test."""
    rng = np.random.default_rng(4)
    covs = {f"c{k}": list(rng.normal(size=90)) for k in range(4)}
    data = one_action({"ASD": varied(30, 27, 1), "PSY": [0.0] * 30,
                       "TDC": varied(30, 27, 3)}, covariate=covs)
    cfg = StatsConfig(covariates=list(covs), min_engagers=3, contrasts=[("ASD", "TDC")])
    inten = rows_for(run_hurdle(data, GROUPS, ["nodding"], cfg), "intensity")
    assert inten.loc["ASD vs TDC", "reason"] == "fewer observations than model coefficients"


def test_a_model_that_does_not_converge_is_not_estimable(monkeypatch) -> None:
    def unconverged(*args, **kwargs):
        fit = fit_logit(*args, **kwargs)
        return type(fit)(fit.names, fit.params, fit.cov, fit.n_obs, False, fit.separated)

    monkeypatch.setattr("analysis.hurdle.fit_logit", unconverged)
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig())
    assert (res["reason"] == "model did not converge").all()
    assert res["p"].isna().all()


def test_each_part_records_its_standard_errors_and_test() -> None:
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 9, 2),
                       "TDC": varied(30, 12, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(robust_se="HC1", permutations=99))
    assert (rows_for(res, "engagement")[["se_type", "test"]] == ["model", "wald"]).all().all()
    assert (rows_for(res, "intensity")[["se_type", "test"]] == ["HC1", "permutation"]).all().all()


def test_a_fit_running_off_to_a_fraction_of_one_is_separated() -> None:
    """Group B's fractions all 1: IRLS stops with B's linear predictor just past 30 (a fitted
    1 - 1e-13), which is separation; fractions of 0.999999 give 14.9 and a usable fit."""
    x = np.column_stack([np.ones(6), np.repeat([0.0, 1.0], 3)])
    for b, separated in ((1.0, True), (0.999999, False)):
        params, converged, flagged = fit_params(x, np.array([0.3, 0.5, 0.2, 1.0, 1.0, b]))
        assert converged and flagged == separated, (b, x @ params)


def test_a_fit_whose_deviance_jitters_at_rounding_level_has_converged() -> None:
    """A real input: near the boundary (a fitted 1 - 2e-13) the deviance jitters by ~1e-12
    from rounding, above statsmodels' tolerance, so it may use all 100 iterations without
    declaring convergence; the estimates agree to 1e-13, so it has converged (as R says)."""
    x = np.column_stack([np.ones(5), [-1.60741249098496, 70.60807296874076, -34.931210023992904,
                                      -0.2663251809451672, 8.542477359152018]])
    y = np.array([2.6733506324074868e-04, 9.8732775410589380e-01, 3.6812942638209389e-03,
                  1.6791319816122421e-01, 9.9990180029015785e-01])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = sm.GLM(y, x, family=sm.families.Binomial()).fit(maxiter=100, tol=1e-12)
    params, converged, separated = fit_params(x, y)
    assert converged and not separated
    np.testing.assert_allclose(params, raw.params, rtol=1e-9)
    assert fit_logit(x, y, ["const", "x"], robust="HC1").converged


def test_settled_estimates_need_two_still_steps_relative_to_their_size() -> None:
    still, moved = [1.0, -200.0], [1.0, -200.0 - 2.02e-8]
    assert settled({"params": [moved, still, still, still]})  # earlier steps do not count
    assert not settled({"params": [still, still]})  # one step is not enough
    assert not settled({"params": [still, moved, still]})  # -200 moved by 1e-10 x 202
    assert settled({"params": [still, [1.0, -200.0 - 2.0e-8], still]})  # 1e-10 x 201: still
    assert not settled({"params": [still, [1.0 + 2.1e-10, -200.0], still]})  # 1e-10 x 2
    assert settled({"params": [[0.0, 5e-11], [0.0, 0.0], [0.0, 0.0]]})  # at 0: 1e-10 absolute
    assert not settled({"params": [still, still, [np.nan, -200.0]]})
    assert not settled({})


def test_fit_params_passes_on_non_convergence_and_flags_non_finite_estimates(monkeypatch):
    """IRLS that stops at its iteration limit with estimates still moving is reported as not
    converged, one whose estimates stopped moving as converged, and non-finite estimates as
    separated (callers then give no estimate): statsmodels' results replaced."""
    x = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    y = np.array([0.2, 0.4, 0.5, 0.9])

    class Result:
        def __init__(self, params, converged, history):
            self.params, self.converged = params, converged
            self.fit_history = {"params": history}

    moving = [[0.5, 0.1], [0.5, 0.2], [0.5, 0.3]]
    for params, conv, history, expect in (
            ([0.5, 0.3], False, moving, (False, False)),
            ([0.5, 0.3], False, moving[2:] * 3, (True, False)),
            ([0.5, 0.3], True, moving, (True, False)),
            ([np.nan, 0.1], True, moving, (True, True))):
        monkeypatch.setattr(sm.GLM, "fit",
                            lambda self, *a, p=params, c=conv, h=history, **k: Result(p, c, h))
        got = fit_params(x, y)
        np.testing.assert_array_equal(got[0], params)
        assert got[1:] == expect
