"""Pairwise group contrasts from a fitted logit model: odds ratio, 95% CI, Wald z and p."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.glm import LogitFit

Z_975 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Contrast:
    """Group A versus group B on the log-odds scale (positive = A higher)."""

    log_or: float
    se: float
    z: float
    p: float
    odds_ratio: float
    ci_low: float
    ci_high: float


def contrast_vector(fit: LogitFit, reference: str, a: str, b: str) -> np.ndarray:
    """Weights L with L @ params = log-odds(A) - log-odds(B), other terms held fixed."""
    vec = np.zeros(len(fit.names))
    for group, sign in ((a, 1.0), (b, -1.0)):
        if group != reference:
            vec[fit.names.index(f"group[{group}]")] += sign
    return vec


def wald_contrast(fit: LogitFit, reference: str, a: str, b: str) -> Contrast:
    """Wald test of A versus B with the fit's covariance (normal reference distribution)."""
    vec = contrast_vector(fit, reference, a, b)
    est = float(vec @ fit.params)
    se = float(np.sqrt(vec @ fit.cov @ vec))
    z = est / se
    p = float(2 * stats.norm.sf(abs(z)))
    return Contrast(
        log_or=est, se=se, z=z, p=p, odds_ratio=float(np.exp(est)),
        ci_low=float(np.exp(est - Z_975 * se)), ci_high=float(np.exp(est + Z_975 * se)),
    )
