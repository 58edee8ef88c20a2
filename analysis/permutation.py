"""Permutation test of a group contrast in the intensity part, on the robust score statistic.

Why: on skewed fractions in small groups the Wald z with a sandwich SE rejects a true null
too often (docs/statistics.md, calibration), and neither a t reference nor Bell-McCaffrey
degrees of freedom fix it. A statistic computed under the null and referred to its
permutation distribution keeps the level. For the contrast L'beta = 0 (log-odds of group A
minus group B, covariates held fixed):

    mu~  fitted means of the restricted model (A and B share one coefficient)
    v    = (X' W~ X)^-1 L,  W~ = diag(mu~ (1 - mu~))
    S    = sum_i (x_i'v) (y_i - mu~_i)          the score for the contrast
    V    = sum_i (x_i'v)^2 (y_i - mu~_i)^2      its robust (HC0) variance under the null
    T    = S^2 / V                              robust score statistic (chi2(1) for large n)

The reference distribution is T recomputed with the A/B labels shuffled among the rows of A
and B. The restricted model cannot see those labels (A and B are merged), so mu~ stays fixed
and a permutation only re-solves a p x p system: no refits. Writing a row of A or B as
x_i = z_i + l_i L (l_i = 1 in A, 0 in B), X'W~X, sum r x and sum r^2 x x' are rank-two
updates of fixed matrices, computed for all permutations at once.

p = (1 + #{T_perm >= T}) / (1 + permutations) (Phipson & Smyth 2010) over random labellings;
when the two groups have at most `permutations` distinct labellings (e.g. 3 + 4 engagers: 35),
every one is used instead, p = #{T_all >= T} / #labellings (the observed one among them): the
exact p, the same on every run, rather than a Monte Carlo estimate of it. Either way only the
labellings under which the contrast is estimable count: one that puts group A exactly on a covariate's level
makes the design singular and T undefined, and is left out of both counts. The test is exact when
the rows of A and B are exchangeable (same intensity distribution, covariates unrelated to
group); because T is studentized it stays asymptotically valid when the groups differ in
spread (Janssen 1997; DiCiccio & Romano 2017). In a small, skewed group with a larger spread
it over-rejects, though less than every Wald or score variant measured (docs).
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.special import expit

from analysis.glm import fit_params

#: Relative slack so that permutations tying with the observed statistic count as ties
#: despite rounding in a different order of summation.
TIE_RTOL = 1e-9
#: A relabelled information matrix (scaled to a unit diagonal) whose smallest singular value
#: is below this share of its largest is singular: the contrast is not estimable under that
#: labelling.
SINGULAR_RTOL = 1e-10
#: Residuals of the null fit all below this (y is a fraction) mean it fits exactly: S and V
#: are then rounding noise, and their ratio, hence p, would be arbitrary.
EXACT_FIT_ATOL = 1e-10


@dataclass(frozen=True)
class ScoreTest:
    """Signed root of the robust score statistic (positive: A above B) and permutation p."""

    z: float
    p: float


def contrast_stream(seed: int, *keys: str) -> np.random.Generator:
    """A random stream per test, so a p-value does not depend on what else is analysed."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def restricted_means(x: np.ndarray, y: np.ndarray, vec: np.ndarray) -> np.ndarray | None:
    """Fitted means under L'beta = 0, or None when that fit fails (no convergence, separation)."""
    basis = null_space(vec[None, :])  # columns span {beta : L'beta = 0}
    params, converged, separated = fit_params(x @ basis, y)
    if not converged or separated:
        return None
    return expit(x @ (basis @ params))


def score_statistics(labels: np.ndarray, z: np.ndarray, vec: np.ndarray, w: np.ndarray,
                     r: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score S and its variance V for each 0/1 labelling (one per row of `labels`) of `rows`.

    `z` is the design with every row of A or B given B's group pattern; `labels[k, j] = 1`
    puts row `rows[j]` in A. Formulas in the module docstring.
    """
    n_coef = z.shape[1]
    zw, zr2 = z * w[:, None], z * (r**2)[:, None]
    # Sums over the rows labelled A, for all labellings in one product.
    sums = labels @ np.column_stack([zw, zr2, w, r**2, r])[rows]
    u, uq = sums[:, :n_coef], sums[:, n_coef:2 * n_coef]
    s, sq, t = sums[:, -3], sums[:, -2], sums[:, -1]
    info = (z.T @ zw + u[:, :, None] * vec + vec[:, None] * u[:, None, :]
            + s[:, None, None] * np.outer(vec, vec))
    # A labelling can make the design singular (group A landing exactly on one covariate
    # level): its contrast is not estimable, and its S and V are NaN.
    # Judged on the matrix scaled to a unit diagonal, so that a covariate's units (age in
    # years or in seconds) do not decide what counts as singular.
    scale = np.sqrt(np.diagonal(info, axis1=1, axis2=2))
    scale = np.where(scale > 0, scale, 1.0)
    sv = np.linalg.svd(info / (scale[:, :, None] * scale[:, None, :]), compute_uv=False)
    ok = sv[:, -1] > SINGULAR_RTOL * sv[:, 0]
    v = np.full(u.shape, np.nan)
    v[ok] = np.linalg.solve(info[ok], np.broadcast_to(vec, u[ok].shape)[..., None])[..., 0]
    lv = v @ vec
    score = v @ (z.T @ r) + t * lv
    var = np.sum((v @ (z.T @ zr2)) * v, axis=1) + 2 * lv * np.sum(uq * v, axis=1) + sq * lv**2
    return score, var


def random_labellings(observed: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` uniformly random rearrangements of a 0/1 vector (as many ones as observed)."""
    keys = rng.random((count, len(observed)))
    n_ones = int(observed.sum())
    cut = np.partition(keys, n_ones - 1, axis=1)[:, n_ones - 1:n_ones]
    return (keys <= cut).astype(float)


def every_labelling(observed: np.ndarray, limit: int) -> np.ndarray | None:
    """Every rearrangement of a 0/1 vector (as many ones as observed), or None when there are
    more than `limit`."""
    n, n_ones = len(observed), int(observed.sum())
    count = math.comb(n, n_ones)
    if count > limit:
        return None
    labels = np.zeros((count, n))
    for k, chosen in enumerate(itertools.combinations(range(n), n_ones)):
        labels[k, list(chosen)] = 1.0
    return labels


def permutation_score_test(x: np.ndarray, y: np.ndarray, vec: np.ndarray, in_a: np.ndarray,
                           in_b: np.ndarray, rng: np.random.Generator,
                           permutations: int) -> ScoreTest | None:
    """Test L'beta = 0 for A (rows `in_a`) vs B (`in_b`); None if the null fit fails or is exact."""
    mu = restricted_means(x, y, vec)
    if mu is None:
        return None
    w, r = mu * (1 - mu), y - mu
    if np.max(np.abs(r)) < EXACT_FIT_ATOL:
        return None
    z = x - np.outer(in_a, vec)  # every row of A given B's group pattern
    rows = np.flatnonzero(in_a | in_b)
    observed = in_a[rows].astype(float)
    score, var = score_statistics(observed[None, :], z, vec, w, r, rows)
    if not var[0] > 0:
        return None
    stat = score[0] ** 2 / var[0]
    every = every_labelling(observed, permutations)
    labels = random_labellings(observed, rng, permutations) if every is None else every
    p_score, p_var = score_statistics(labels, z, vec, w, r, rows)
    defined = np.isfinite(p_score) & (p_var > 0)
    exceed = int(np.sum(p_score[defined]**2 >= stat * (1 - TIE_RTOL) * p_var[defined]))
    # Enumerated, the observed labelling is among them (it ties with itself): no added 1.
    added = 1 if every is None else 0
    return ScoreTest(z=float(np.sign(score[0]) * np.sqrt(stat)),
                     p=(added + exceed) / (added + int(defined.sum())))
