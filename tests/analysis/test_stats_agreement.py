"""Coefficients and standard errors agree with independent implementations to 1e-6.

Independent 1: Newton-Raphson and the sandwich written out observation by observation in
numpy, with a different reference group (TDC) so the contrast code is exercised too.
Independent 2: R's glm (binomial / quasibinomial) with sandwich::vcovHC, when Rscript and the
packages are installed (skipped otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import StatsConfig
from analysis.design import build_design
from analysis.glm import fit_logit, sandwich_scale
from analysis.hurdle import part_outcome, run_hurdle

RTOL = 1e-6


def fixed_data() -> pd.DataFrame:
    """A fixed cohort (one action) with group effects in both parts and two covariates."""
    rng = np.random.default_rng(2024)
    sizes, p_engage, mean_frac = {"ASD": 60, "PSY": 25, "TDC": 55}, \
        {"ASD": 0.7, "PSY": 0.45, "TDC": 0.55}, {"ASD": 0.15, "PSY": 0.3, "TDC": 0.2}
    rows = []
    for g, n in sizes.items():
        for i in range(n):
            age = rng.uniform(8, 17)
            sex = "F" if rng.random() < 0.4 else "M"
            engaged = rng.random() < p_engage[g] + 0.01 * (age - 12)
            m = mean_frac[g]
            pt = 100 * rng.beta(4 * m / (1 - m), 4) if engaged else 0.0
            rows.append({"participant_id": f"{g}{i}", "group": g, "age": age, "sex": sex,
                         "action": "nodding", "percent_time": pt, "valid_s": 300.0})
    return pd.DataFrame(rows)


def newton_logit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Maximise the Bernoulli quasi-log-likelihood by plain Newton steps."""
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        mu = 1 / (1 + np.exp(-x @ beta))
        step = np.linalg.solve(x.T @ np.diag(mu * (1 - mu)) @ x, x.T @ (y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-14:
            break
    return beta


def hand_covariances(x: np.ndarray, y: np.ndarray, beta: np.ndarray) -> dict[str, np.ndarray]:
    """Model-based and sandwich covariances, the meat summed one observation at a time."""
    mu = 1 / (1 + np.exp(-x @ beta))
    n, p = x.shape
    info = sum(mu[i] * (1 - mu[i]) * np.outer(x[i], x[i]) for i in range(n))
    meat = sum((y[i] - mu[i]) ** 2 * np.outer(x[i], x[i]) for i in range(n))
    bread = np.linalg.inv(info)
    hc0 = bread @ meat @ bread
    lev = [mu[i] * (1 - mu[i]) * x[i] @ bread @ x[i] for i in range(n)]
    meat3 = sum((y[i] - mu[i]) ** 2 / (1 - lev[i]) ** 2 * np.outer(x[i], x[i]) for i in range(n))
    return {"model": bread, "HC0": hc0, "HC1": hc0 * n / (n - p), "stata": hc0 * n / (n - 1),
            "HC3": bread @ meat3 @ bread}


def tdc_reference_design(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Intercept, ASD and PSY indicators (TDC reference), age, male indicator."""
    names = ["Intercept", "ASD", "PSY", "age", "male"]
    x = np.column_stack([
        np.ones(len(rows)), rows["group"].eq("ASD"), rows["group"].eq("PSY"), rows["age"],
        rows["sex"].eq("M"),
    ]).astype(float)
    return x, names


@pytest.mark.parametrize("variant", ["HC0", "HC1", "HC3", "stata"])
def test_intensity_fit_matches_hand_sandwich(variant: str) -> None:
    rows = part_outcome(fixed_data(), "intensity")
    design = build_design(rows, ["ASD", "PSY", "TDC"], ["age", "sex"])
    fit = fit_logit(design.x, rows["y"].to_numpy(), design.names, robust=variant)
    beta = newton_logit(design.x, rows["y"].to_numpy())
    cov = hand_covariances(design.x, rows["y"].to_numpy(), beta)[variant]
    np.testing.assert_allclose(fit.params, beta, rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), np.sqrt(np.diag(cov)), rtol=RTOL)


@pytest.mark.parametrize("part", ["engagement", "intensity"])
def test_contrasts_match_hand_computation_with_other_reference(part: str) -> None:
    data = fixed_data()
    cfg = StatsConfig(covariates=["age", "sex"])  # default sandwich: HC3
    results = run_hurdle(data, ["ASD", "PSY", "TDC"], ["nodding"], cfg)
    rows = part_outcome(data, part)
    x, _ = tdc_reference_design(rows)
    y = rows["y"].to_numpy()
    beta = newton_logit(x, y)
    cov = hand_covariances(x, y, beta)["model" if part == "engagement" else "HC3"]
    vectors = {"ASD vs PSY": [0, 1, -1, 0, 0], "ASD vs TDC": [0, 1, 0, 0, 0],
               "PSY vs TDC": [0, 0, 1, 0, 0]}
    got = results[results["part"] == part].set_index("contrast")
    assert got["estimable"].all()
    for contrast, vec in vectors.items():
        vec = np.array(vec, dtype=float)
        est, se = vec @ beta, np.sqrt(vec @ cov @ vec)
        assert got.loc[contrast, "log_or"] == pytest.approx(est, rel=RTOL)
        assert got.loc[contrast, "se"] == pytest.approx(se, rel=RTOL)
        assert got.loc[contrast, "odds_ratio"] == pytest.approx(np.exp(est), rel=RTOL)
        assert got.loc[contrast, "ci_low"] == pytest.approx(np.exp(est - 1.959963985 * se),
                                                            rel=RTOL)
        assert got.loc[contrast, "ci_high"] == pytest.approx(np.exp(est + 1.959963985 * se),
                                                             rel=RTOL)
        # What each group shows in that part: the share engaged, or the engagers' mean.
        for side, group in zip("ab", contrast.split(" vs "), strict=True):
            pt = data.loc[data["group"] == group, "percent_time"]
            observed = (pt > 0).mean() if part == "engagement" else pt[pt > 0].mean()
            assert got.loc[contrast, f"observed_{side}"] == pytest.approx(observed, rel=RTOL)


def test_sandwich_scales_by_hand_and_an_unknown_variant_is_refused() -> None:
    assert [sandwich_scale(v, 10, 4) for v in ("HC0", "HC1", "stata")] == [1.0, 10 / 6, 10 / 9]
    with pytest.raises(ValueError, match="unknown sandwich variant 'HC2'"):
        sandwich_scale("HC2", 10, 4)


def test_hc3_keeps_a_high_leverage_row_that_is_not_alone() -> None:
    """Leverage 0.997 (one participant far out on age) is large, not 1: HC3 inflates that
    row's residual by 1 / (1 - h), as the formula written out by hand does."""
    rng = np.random.default_rng(7)
    age = rng.uniform(8, 12, 12)
    age[0] = 100.0
    x = np.column_stack([np.ones(12), np.repeat([0.0, 1.0], 6), age])
    y = np.round(rng.uniform(0.05, 0.4, 12), 4)
    fit = fit_logit(x, y, ["Intercept", "group[B]", "age"], robust="HC3")
    beta = newton_logit(x, y)
    np.testing.assert_allclose(fit.cov, hand_covariances(x, y, beta)["HC3"], rtol=RTOL)


R_SCRIPT = r"""
suppressMessages({library(sandwich)})
d <- read.csv(commandArgs(TRUE)[1])
d$group <- factor(d$group, levels = c("ASD", "PSY", "TDC"))
d$sex <- factor(d$sex, levels = c("F", "M"))
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
m1 <- glm(engaged ~ group + scale(age) + sex, family = binomial, data = d, control = ctl)
e <- d[d$percent_time > 0, ]
e$y <- e$percent_time / 100
m2 <- glm(y ~ group + scale(age) + sex, family = quasibinomial, data = e, control = ctl)
out <- data.frame(
  coef1 = coef(m1), se1 = sqrt(diag(vcov(m1))),
  coef2 = coef(m2), hc0 = sqrt(diag(vcovHC(m2, type = "HC0"))),
  hc1 = sqrt(diag(vcovHC(m2, type = "HC1"))),
  hc3 = sqrt(diag(vcovHC(m2, type = "HC3"))))
write.csv(out, commandArgs(TRUE)[2])
"""


def _r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(sandwich)"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _r_available(), reason="Rscript with the sandwich package not installed")
def test_matches_r_glm_and_sandwich(tmp_path: Path) -> None:
    data = fixed_data().assign(engaged=lambda d: (d["percent_time"] > 0).astype(int))
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "check.R").write_text(R_SCRIPT)
    subprocess.run(["Rscript", str(tmp_path / "check.R"), str(tmp_path / "d.csv"),
                    str(tmp_path / "r.csv")], check=True, capture_output=True)
    r = pd.read_csv(tmp_path / "r.csv", index_col=0)

    groups, covs = ["ASD", "PSY", "TDC"], ["age", "sex"]
    eng = part_outcome(data, "engagement")
    d1 = build_design(eng, groups, covs)
    fit1 = fit_logit(d1.x, eng["y"].to_numpy(), d1.names, robust=None)
    inten = part_outcome(data, "intensity")
    d2 = build_design(inten, groups, covs)
    fits = {v: fit_logit(d2.x, inten["y"].to_numpy(), d2.names, robust=v)
            for v in ("HC0", "HC1", "HC3")}

    np.testing.assert_allclose(fit1.params, r["coef1"], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit1.cov)), r["se1"], rtol=RTOL)
    np.testing.assert_allclose(fits["HC0"].params, r["coef2"], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fits["HC0"].cov)), r["hc0"], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fits["HC1"].cov)), r["hc1"], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fits["HC3"].cov)), r["hc3"], rtol=RTOL)
