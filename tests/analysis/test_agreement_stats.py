"""Each agreement statistic against a case computed by hand (the arithmetic is written out)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from analysis.agreement.stats import (
    EventScore,
    bland_altman,
    icc_a1,
    kappa,
    match_events,
)


def test_icc_a1_by_hand_two_raters():
    # 4 participants x 2 raters. Row means 3, 4, 7, 8; rater means 5, 6; grand mean 5.5.
    # MSR = 2 * (2.5^2 + 1.5^2 + 1.5^2 + 2.5^2) / 3 = 34/3
    # MSC = 4 * (0.5^2 + 0.5^2) / 1 = 2
    # residuals are all +-0.5: SSE = 8 * 0.25 = 2, MSE = 2 / (3 * 1) = 2/3
    # ICC(A,1) = (34/3 - 2/3) / (34/3 + 2/3 + 2 * (2 - 2/3) / 4) = (32/3) / (38/3) = 16/19
    got = icc_a1(np.array([[2, 4], [4, 4], [6, 8], [8, 8]]))
    assert got.icc == pytest.approx(16 / 19)
    assert got.low < got.icc < got.high and (got.n, got.k) == (4, 2)


def test_icc_a1_reproduces_shrout_fleiss_1979():
    # Shrout & Fleiss (1979), Table 2: 6 targets, 4 judges. Their ICC(2,1) is 0.29; McGraw &
    # Wong's 95% interval for it is [0.019, 0.76] (as R's psych::ICC prints for these data).
    sf = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
                   [6, 2, 4, 7]])
    got = icc_a1(sf)
    assert got.icc == pytest.approx(0.29, abs=0.005)
    assert got.low == pytest.approx(0.019, abs=0.001)
    assert got.high == pytest.approx(0.76, abs=0.005)


def test_icc_a1_edges():
    # Not estimable: NaN, quietly (no 0/0 warning from numpy).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = icc_a1(np.array([[1.0, 2.0]]))  # one participant: MSR has 0 degrees of freedom
        alike = icc_a1(np.full((4, 2), 2.0))  # nobody differs: 0/0
        empty = icc_a1(np.zeros((0, 2)))  # no participant in common
    for got in (one, alike, empty):
        assert math.isnan(got.icc) and math.isnan(got.low) and math.isnan(got.high)
    assert (one.n, alike.n, empty.n) == (1, 4, 0)
    perfect = icc_a1(np.array([[1.0, 1.0], [5.0, 5.0], [3.0, 3.0]]))
    assert (perfect.icc, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    assert math.isnan(icc_a1(np.full((4, 2), 2.0)).icc)  # nobody differs: 0/0
    assert math.isnan(icc_a1(np.array([[1.0, 2.0]])).icc)  # one participant
    # A constant offset lowers absolute agreement, though consistency is perfect.
    shifted = icc_a1(np.array([[1.0, 3.0], [2.0, 4.0], [3.0, 5.0], [4.0, 6.0]]))
    assert shifted.icc < 0.5
    # Nobody differs but the raters do by a constant: ICC 0, and no interval (its degrees of
    # freedom are 0/0), without a numpy warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apart = icc_a1(np.array([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0]]))
    assert apart.icc == 0.0 and math.isnan(apart.low) and math.isnan(apart.high)
    # Participants' means all 40, the raters 10 apart on one: MSR 0, MSC = MSE = 200/3,
    # ICC = -MSE / (MSE + 2 (MSC - MSE) / 3) = -1; Satterthwaite's v is 0: no interval,
    # without a numpy warning (it once warned and gave NaN by 0 * inf).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opposite = icc_a1(np.array([[40.0, 40.0], [40.0, 40.0], [50.0, 30.0]]))
    assert opposite.icc == pytest.approx(-1.0)
    assert math.isnan(opposite.low) and math.isnan(opposite.high)


def test_icc_a1_interval_follows_the_level():
    # Shrout & Fleiss's data again; at 90% the interval lies inside the 95% one, and its
    # bounds are McGraw & Wong's case 2A written out here with F quantiles at 0.95.
    from scipy import stats as sps

    sf = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
                   [6, 2, 4, 7]], dtype=float)
    n, k = sf.shape
    # Two-way ANOVA (Shrout & Fleiss, Table 3): BMS 11.24, JMS 32.49, EMS 1.02.
    msr, msc, mse = 56.21 / 5, 97.46 / 3, 15.29 / 15
    wide, narrow = icc_a1(sf), icc_a1(sf, level=0.9)
    assert narrow.icc == wide.icc
    assert wide.low < narrow.low < narrow.icc < narrow.high < wide.high
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a, b = k * icc / (n * (1 - icc)), 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f1, f2 = sps.f.ppf(0.95, n - 1, v), sps.f.ppf(0.95, v, n - 1)
    c = k * msc + (k * n - k - n) * mse
    assert narrow.low == pytest.approx(n * (msr - f1 * mse) / (f1 * c + n * msr), abs=2e-3)
    assert narrow.high == pytest.approx(n * (f2 * msr - mse) / (c + n * f2 * msr), abs=2e-3)


def test_icc_a1_three_raters_by_hand():
    # 3 participants x 3 raters; rater 3 codes 3 points higher than rater 1.
    # Row means 2, 4, 9; grand mean 5; column means 4, 5, 6.
    # MSR = 3 * (9 + 1 + 16) / 2 = 39; MSC = 3 * (1 + 0 + 1) / 2 = 3
    # residuals y - row - col + grand: all 0 (rows are row mean + (-1, 0, 1)): MSE = 0
    # ICC(A,1) = 39 / (39 + 0 + 3 * 3 / 3) = 39 / 42 = 13/14 (consistency would be 1).
    got = icc_a1(np.array([[1, 2, 3], [3, 4, 5], [8, 9, 10]]))
    assert got.icc == pytest.approx(13 / 14) and (got.n, got.k) == (3, 3)


def test_bland_altman_by_hand():
    # d = compared - reference = 1, 2, 3, 2: bias 2, SD = sqrt((1 + 0 + 1 + 0) / 3)
    got = bland_altman(np.array([10.0, 20.0, 30.0, 40.0]), np.array([11.0, 22.0, 33.0, 42.0]))
    sd = math.sqrt(2 / 3)
    assert (got.bias, got.sd, got.n) == pytest.approx((2.0, sd, 4))
    assert (got.low, got.high) == pytest.approx((2 - 1.959964 * sd, 2 + 1.959964 * sd))
    ninety = bland_altman(np.array([10.0, 20.0, 30.0, 40.0]), np.array([11.0, 22.0, 33.0, 42.0]),
                          level=0.9)
    assert (ninety.low, ninety.high) == pytest.approx((2 - 1.644854 * sd, 2 + 1.644854 * sd))
    one = bland_altman(np.array([1.0]), np.array([2.0]))  # no SD from one difference
    assert one.n == 1 and math.isnan(one.bias) and math.isnan(one.low)


def test_kappa_by_hand():
    # 50 bins: both yes 15, both no 20, reference yes only 10, compared yes only 5.
    # p_o = 35/50 = 0.7; reference yes 25/50, compared yes 20/50:
    # p_e = 0.5 * 0.4 + 0.5 * 0.6 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    ref = np.array([1] * 15 + [0] * 20 + [1] * 10 + [0] * 5)
    cmp = np.array([1] * 15 + [0] * 20 + [0] * 10 + [1] * 5)
    assert kappa(ref, cmp) == pytest.approx(0.4)
    assert kappa(ref, ref) == pytest.approx(1.0)
    assert math.isnan(kappa(np.zeros(10), np.zeros(10)))  # one label: chance agreement is 1
    # Presence per bin (bool), one side never codes the action: p_o = 3/5,
    # p_e = 0.4 * 0 + 0.6 * 1 = 0.6, kappa 0 (not NaN: two labels are used).
    assert kappa(np.array([True, True, False, False, False]), np.zeros(5, bool)) == 0.0
    # Three labels: 6 bins, agreement on 4; reference a a b b c c, compared a b b b c a:
    # p_o = 4/6; marginals ref (2, 2, 2)/6, cmp (2, 3, 1)/6: p_e = (4 + 6 + 2)/36 = 1/3;
    # kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert kappa(np.array(list("aabbcc")), np.array(list("abbbca"))) == pytest.approx(0.5)


def test_event_matching_by_hand():
    ref = [(0.0, 2.0), (5.0, 6.0), (10.0, 12.0)]
    cmp = [(0.5, 2.0), (5.6, 7.0), (10.0, 11.0), (20.0, 21.0)]
    # IoUs: (0,2)-(0.5,2) = 1.5/2 = 0.75 match; (5,6)-(5.6,7) = 0.4/2 = 0.2 no;
    # (10,12)-(10,11) = 1/2 = 0.5 match (>= 0.5); (20,21) overlaps nothing.
    assert match_events(ref, cmp) == [(0, 0), (2, 2)]
    score = EventScore(len(ref), len(cmp), 2)
    assert (score.precision, score.recall, score.f1) == pytest.approx((2 / 4, 2 / 3, 4 / 7))


def test_event_matching_is_one_to_one():
    # Both compared events reach IoU 0.5 with the one reference event; only one may match,
    # the higher IoU first: (0,2)-(0,1.2) = 0.6, (0,2)-(1,2) = 0.5.
    assert match_events([(0.0, 2.0)], [(0.0, 1.2), (1.0, 2.0)]) == [(0, 0)]
    assert match_events([(0.0, 2.0)], [(1.0, 2.0), (0.0, 1.2)]) == [(0, 1)]  # not list order
    assert math.isnan(EventScore(0, 0, 0).f1)


def test_event_matching_finds_the_most_pairs_below_iou_half():
    # At IoU >= 0.15, reference (0,4) overlaps compared (1,5) (IoU 0.6) and (0,2) (0.5);
    # reference (4.1,6) overlaps only (1,5) (0.9/5 = 0.18). Taking the best IoU first pairs
    # (0,4)-(1,5) and leaves (4.1,6) alone; the maximum matching has two pairs.
    assert match_events([(0.0, 4.0), (4.1, 6.0)], [(1.0, 5.0), (0.0, 2.0)], 0.15) == [
        (0, 1), (1, 0)]
    # Pairs before IoU: (0,10)-(1,10) alone has IoU 0.9; two pairs (0.2 and 0.18) win.
    assert match_events([(0.0, 10.0), (8.0, 12.0)], [(1.0, 10.0), (0.0, 2.0)], 0.15) == [
        (0, 1), (1, 0)]


def test_an_iou_of_exactly_the_threshold_matches_despite_rounding():
    # (0.1,0.3) in (0.1,0.5): 0.2 / 0.4 = 0.5, computed as 0.49999999999999994.
    assert match_events([(0.1, 0.5)], [(0.1, 0.3)]) == [(0, 0)]
    assert match_events([(0.1, 0.5)], [(0.1, 0.29)]) == []


def test_icc_a1_of_ratings_alike_but_for_rounding_is_not_estimable():
    # 100 x 10/30 bins and 100 x 20/60 bins: one third of each video in both sources, equal
    # but for the last bits (33.33333333333332, 33.33333333333338, ...). Nobody differs, so
    # ICC is 0/0: not 1.0 [1.0, 1.0] (it was), nor -3 when the noise differs by source.
    third = [33.33333333333332, 33.33333333333338, 33.3333333333334, 33.33333333333334]
    got = icc_a1(np.column_stack([third, third]))
    assert math.isnan(got.icc) and math.isnan(got.low) and math.isnan(got.high)
    noisy = icc_a1(np.array([[50.0, 50.0], [50.00000000000001, 50.0], [50.0, 49.99999999999999]]))
    assert math.isnan(noisy.icc)
    # A real difference of a millionth of a point still counts.
    assert icc_a1(np.array([[50.0, 50.0], [50.000001, 50.000001], [50.0, 50.0]])).icc == 1.0


def test_icc_a1_interval_that_collapses_onto_one_point_is_not_given():
    # Two participants, sources opposed: MSR 0.0418, MSC 19.2, MSE 5.77, ICC -0.297;
    # Satterthwaite's v is 4.5e-5, F quantiles ~1e303, and both bounds fell onto -0.3001,
    # an "interval" [-0.30, -0.30] that misses its own ICC. No interval instead.
    got = icc_a1(np.array([[8.979, 10.961], [6.782, 13.567]]))
    assert got.icc == pytest.approx(-0.2973, abs=1e-4)
    assert math.isnan(got.low) and math.isnan(got.high)
    # Zero width on the ICC itself: row means 11 and 11 (MSR 0), v 0 but for rounding; it
    # read -4.00 [-4.00, -4.00].
    flat = icc_a1(np.array([[10.0, 12.0], [14.0, 8.0]]))
    assert flat.icc == pytest.approx(-4.0)
    assert math.isnan(flat.low) and math.isnan(flat.high)
