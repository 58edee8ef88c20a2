"""Binomial-logit GLM fits and their covariance matrices.

Both parts of the hurdle model are logit-link binomial GLMs: part 1 on a 0/1 outcome
(engaged or not), part 2 on a fraction in (0, 1] (Papke-Wooldridge fractional logit). The
fit itself is statsmodels' IRLS; the covariance is written out here so the variant is
explicit (statsmodels' GLM returns HC0 even when asked for HC1-HC3):

    bread  B = (X' W X)^-1,   W = diag(mu (1 - mu))      (the model-based covariance)
    meat   M = X' diag((y - mu)^2) X
    HC0      = B M B
    HC1      = HC0 * n / (n - p)      (R sandwich::vcovHC type "HC1")
    stata    = HC0 * n / (n - 1)      (Stata's fracreg / glm, vce(robust))
    HC3      = B X' diag((y - mu)^2 / (1 - h)^2) X B,  h = leverages of W^1/2 X
               (R sandwich::vcovHC type "HC3"; a jackknife-like small-sample correction)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

#: A linear predictor beyond this puts a fitted probability within ~1e-13 of 0 or 1: the
#: sign of (quasi-)separation, where coefficients run off and robust SEs collapse.
MAX_ABS_ETA = 30.0


@dataclass(frozen=True)
class LogitFit:
    """Coefficients and covariance of one binomial-logit fit."""

    names: list[str]
    params: np.ndarray
    cov: np.ndarray
    n_obs: int
    converged: bool
    separated: bool


#: IRLS that used all its iterations has still converged when its estimates stopped moving
#: (relative change per iteration, over the last two): near a boundary the deviance can jitter
#: by ~1e-12 from rounding, above the deviance tolerance, while the estimates agree to 1e-13.
#: R's relative deviance criterion (1e-8) calls such fits converged too. Estimates running off
#: (separation) or oscillating move far more than this.
SETTLED_RTOL = 1e-10

#: A last IRLS step that still moves a linear predictor by more than this is a fitted
#: probability running off to 0 or 1 (quasi-separation: each step adds about 1 to its |eta|,
#: and the deviance tolerance stops IRLS at |eta| 28-30, short of MAX_ABS_ETA). A converged
#: fit's last step moves every linear predictor by orders of magnitude less.
RUNAWAY_STEP = 0.5

#: Leverage this close to 1 counts as 1 (HC3 leaves the row out of the meat).
LEVERAGE_ONE_TOL = 1e-8


def sandwich_scale(variant: str, n: int, p: int) -> float:
    """The factor multiplying HC0 for the variants that only rescale it (not HC3)."""
    if variant == "HC0":
        return 1.0
    if variant == "HC1":
        return n / (n - p)
    if variant == "stata":
        return n / (n - 1)
    raise ValueError(f"unknown sandwich variant {variant!r}")


def information_inverse(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`(X' W X)^-1`, or NaN where it is singular.

    Singular where every fitted probability is 0 or 1 to machine precision (a separated
    fit: each weight underflows to 0), which the caller reports as not estimable; whether
    the weights underflow exactly depends on the machine's floating-point library, so
    this must not raise on one machine and pass on another.
    """
    info = x.T @ (x * weight[:, None])
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan)


def robust_cov(x: np.ndarray, y: np.ndarray, mu: np.ndarray, variant: str) -> np.ndarray:
    """Sandwich covariance of logit-GLM coefficients (formula in the module docstring)."""
    weight = mu * (1 - mu)
    bread = information_inverse(x, weight)
    resid = y - mu
    if variant == "HC3":
        leverage = weight * np.einsum("ij,jk,ik->i", x, bread, x)
        # A row with leverage 1 (e.g. alone at a level of a covariate) has residual 0 at the
        # fit; HC3's 0/0 gave NaN or, from rounding, any number. It contributes nothing, as
        # in the model without it (which gives the same group estimates).
        alone = leverage > 1 - LEVERAGE_ONE_TOL
        resid = np.where(alone, 0.0, resid / np.where(alone, 1.0, 1 - leverage))
        scale = 1.0
    else:
        scale = sandwich_scale(variant, *x.shape)
    score = x * resid[:, None]
    return scale * (bread @ (score.T @ score) @ bread)


def settled(history: dict) -> bool:
    """Whether IRLS's last two steps (statsmodels' `fit_history`) left the estimates in place."""
    last = np.asarray(history.get("params", [])[-3:], dtype=float)
    if len(last) < 3 or not np.all(np.isfinite(last)):
        return False
    return bool(np.all(np.abs(np.diff(last, axis=0)) <= SETTLED_RTOL * (1 + np.abs(last[-1]))))


def running_off(x: np.ndarray, history: dict) -> bool:
    """Whether IRLS's last step (statsmodels' `fit_history`) still moved a linear predictor
    by more than `RUNAWAY_STEP`: estimates running off, whatever the deviance says."""
    last = [np.ravel(p) for p in history.get("params", [])[-2:]]
    if len(last) < 2 or any(p.shape != (x.shape[1],) for p in last):
        return False
    step = x @ (np.asarray(last[1], dtype=float) - np.asarray(last[0], dtype=float))
    return bool(np.all(np.isfinite(step)) and np.max(np.abs(step)) > RUNAWAY_STEP)


def fit_params(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Quasi-likelihood estimates, whether IRLS converged (by the deviance, or by estimates
    that stopped moving: `SETTLED_RTOL`), and whether the fit is separated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, PerfectSeparationWarning,
                                         RuntimeWarning))
        result = sm.GLM(y, x, family=sm.families.Binomial()).fit(maxiter=100, tol=1e-12)
    params = np.asarray(result.params, dtype=float)
    eta = x @ params
    history = getattr(result, "fit_history", {})
    separated = (bool(np.max(np.abs(eta)) > MAX_ABS_ETA) or not np.all(np.isfinite(params))
                 or running_off(x, history))
    converged = bool(result.converged) or settled(history)
    return params, converged, separated


def fit_logit(x: np.ndarray, y: np.ndarray, names: list[str], robust: str | None) -> LogitFit:
    """Fit a binomial-logit GLM of y (0/1 or a fraction) on x.

    `robust=None` gives the model-based covariance (inverse Fisher information), the right
    one for a 0/1 outcome; otherwise the named sandwich variant.
    """
    params, converged, separated = fit_params(x, y)
    mu = expit(x @ params)
    cov = (information_inverse(x, mu * (1 - mu)) if robust is None
           else robust_cov(x, y, mu, robust))
    return LogitFit(names, params, cov, len(y), converged, separated)
