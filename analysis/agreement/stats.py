"""Agreement statistics: ICC(A,1), Bland-Altman limits, Cohen's kappa, event-level F1.

Notes
-----
ICC(A,1) (McGraw & Wong 1996; ICC(2,1) in Shrout & Fleiss 1979): two-way random effects,
absolute agreement, single rater. For `n` participants rated by `k` raters, with the two-way
ANOVA mean squares MSR (participants), MSC (raters) and MSE (residual),

    ICC(A,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

Absolute agreement, because a rater who codes every action 2 points higher than another
does not agree with them, even though the two are perfectly consistent. The confidence
interval is McGraw & Wong's (their Table 7, case 2A), with Satterthwaite's degrees of
freedom `v`:

    a = k ICC / (n (1 - ICC)),   b = 1 + k ICC (n - 1) / (n (1 - ICC))
    v = (a MSC + b MSE)^2 / ((a MSC)^2 / (k - 1) + (b MSE)^2 / ((n - 1)(k - 1)))
    lower = n (MSR - F* MSE) / (F* (k MSC + (k n - k - n) MSE) + n MSR),
            F* = F quantile (1 - alpha/2) on (n - 1, v)
    upper = n (F_* MSR - MSE) / (k MSC + (k n - k - n) MSE + n F_* MSR),
            F_* = F quantile (1 - alpha/2) on (v, n - 1)

Not estimable (NaN): ICC when nobody differs (mean squares below (1e-9 x the largest
rating)^2 count as 0, so rounding is no difference); the interval when v is about 0, where
both bounds collapse onto one point (found only for negative ICCs) and miss the ICC.

Bland-Altman: differences d = compared - reference; bias = mean(d); limits of agreement =
bias -/+ z_(1 - alpha/2) SD(d) (SD with n - 1).

Cohen's kappa (statsmodels `cohens_kappa`): (p_o - p_e) / (1 - p_e) over a contingency
table of paired labels. No interval is given: the table's cells are time bins, and
neighbouring bins are not independent, so the textbook standard error would be far too small.

Event matching: an event of one side matches one of the other when their temporal
intersection over union reaches the threshold (0.5; compared with a 1e-9 tolerance, so
that an IoU of exactly 0.5 on a 0.1-s grid is not lost to rounding). Matching is one-to-one
and maximum: as many pairs as possible, and among such matchings the largest total IoU
(the assignment problem, solved by scipy's `linear_sum_assignment`). Above 0.5 an event can
reach the threshold with at most one event of the other side, so any one-to-one matching is
that one; below it an event can overlap two, and taking the best IoU first can lose a pair.
precision = matched / compared events, recall = matched / reference events,
F1 = 2 matched / (reference + compared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.optimize import linear_sum_assignment
from statsmodels.stats.inter_rater import cohens_kappa

IOU_TOLERANCE = 1e-9  # an IoU this close below the threshold reaches it (float rounding)


@dataclass(frozen=True)
class ICC:
    """ICC(A,1) with its confidence interval (NaN where not estimable) and inputs' size."""

    icc: float
    low: float
    high: float
    n: int
    k: int


def icc_a1(ratings: np.ndarray, level: float = 0.95) -> ICC:
    """ICC(A,1) of an `[n participants, k raters]` array, with a `level` interval (Notes)."""
    y = np.asarray(ratings, dtype=float)
    n, k = y.shape
    nan = ICC(math.nan, math.nan, math.nan, n, k)
    if n < 2 or k < 2:
        return nan
    grand = y.mean()
    msr = k * ((y.mean(1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((y.mean(0) - grand) ** 2).sum() / (k - 1)
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + grand
    mse = (resid ** 2).sum() / ((n - 1) * (k - 1))
    # Percent times that are equal in exact arithmetic differ in the last bits (100 x 10 / 30
    # bins vs 100 x 20 / 60), which would turn 0/0 into 1 or -3: a mean square from
    # differences below a billionth of the largest rating is no difference.
    floor = (1e-9 * float(np.abs(y).max())) ** 2
    msr, msc, mse = (m if m > floor else 0.0 for m in (msr, msc, mse))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    if denom <= 0:  # every participant rated alike by everyone: nothing to agree on
        return nan
    icc = (msr - mse) / denom
    if icc >= 1:
        return ICC(1.0, 1.0, 1.0, n, k)  # perfect agreement: MSE = MSC = 0
    alpha = 1 - level
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v_den = (a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1))
    if v_den <= 0:  # ICC 0 with no residual: every participant alike, the raters apart
        return ICC(float(icc), math.nan, math.nan, n, k)
    v = (a * msc + b * mse) ** 2 / v_den
    f_up = sps.f.ppf(1 - alpha / 2, n - 1, v)
    f_low = sps.f.ppf(1 - alpha / 2, v, n - 1)
    if not (math.isfinite(f_up) and math.isfinite(f_low)):
        # v (about) 0, as where ICC is -1 (participants' means all equal): no interval
        return ICC(float(icc), math.nan, math.nan, n, k)
    spread = k * msc + (k * n - k - n) * mse
    low = n * (msr - f_up * mse) / (f_up * spread + n * msr)
    high = n * (f_low * msr - mse) / (spread + n * f_low * msr)
    if not low < icc < high:
        # v near 0 (a negative ICC, e.g. 1e-4 for two participants): both bounds collapse
        # onto one point that can miss the ICC itself. That is no interval.
        return ICC(float(icc), math.nan, math.nan, n, k)
    return ICC(float(icc), float(low), float(high), n, k)


@dataclass(frozen=True)
class BlandAltman:
    bias: float
    low: float
    high: float
    sd: float
    n: int


def bland_altman(reference: np.ndarray, compared: np.ndarray,
                 level: float = 0.95) -> BlandAltman:
    """Bias and limits of agreement of `compared - reference` (Notes)."""
    d = np.asarray(compared, float) - np.asarray(reference, float)
    if len(d) < 2:
        return BlandAltman(math.nan, math.nan, math.nan, math.nan, len(d))
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    z = float(sps.norm.ppf(1 - (1 - level) / 2))
    return BlandAltman(bias, bias - z * sd, bias + z * sd, sd, len(d))


def kappa(reference: np.ndarray, compared: np.ndarray) -> float:
    """Cohen's kappa of two equal-length label arrays (NaN when chance agreement is 1)."""
    a, b = np.asarray(reference), np.asarray(compared)
    labels = np.union1d(a, b)
    if len(labels) < 2:
        return math.nan  # one label everywhere: kappa is 0/0
    table = np.zeros((len(labels), len(labels)))
    np.add.at(table, (np.searchsorted(labels, a), np.searchsorted(labels, b)), 1)
    # statsmodels also computes a z-value, 0/0 when one side uses a single label; unused here.
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(cohens_kappa(table, return_results=True).kappa)


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def match_events(reference: list[tuple[float, float]], compared: list[tuple[float, float]],
                 min_iou: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one pairs (reference index, compared index) at IoU >= `min_iou`: the most
    pairs, then the largest total IoU (Notes)."""
    if not reference or not compared:
        return []
    iou = np.array([[_iou(r, c) for c in compared] for r in reference])
    eligible = iou >= min_iou - IOU_TOLERANCE
    # A pair is worth more than any sum of IoUs, so the most pairs come first.
    weight = np.where(eligible, len(reference) + len(compared) + iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if eligible[i, j])


@dataclass(frozen=True)
class EventScore:
    reference: int
    compared: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.compared if self.compared else math.nan

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else math.nan

    @property
    def f1(self) -> float:
        total = self.reference + self.compared
        return 2 * self.matched / total if total else math.nan
