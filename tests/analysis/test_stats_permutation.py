"""The intensity part's permutation test of the robust score statistic.

Checked against: the relabelled design rebuilt row by row (the rank-two updates), R's glm on
the merged-group model with the score written out in R, full enumeration of every labelling
(the random-permutation p), and the pipeline's contract (reproducible, order-independent,
Wald effects unchanged, `intensity_test: wald` unchanged from the paper).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import permutation
from analysis.config import StatsConfig
from analysis.design import build_design
from analysis.hurdle import part_outcome, run_hurdle
from analysis.methods import methods_text
from analysis.permutation import (
    contrast_stream,
    permutation_score_test,
    random_labellings,
    restricted_means,
    score_statistics,
)
from analysis.tables import table_v_caption

GROUPS = ["ASD", "PSY", "TDC"]
CONTRASTS = {"ASD vs PSY": ("ASD", "PSY"), "ASD vs TDC": ("ASD", "TDC"),
             "PSY vs TDC": ("PSY", "TDC")}


def intensity_cohort(seed: int = 11, sizes: dict[str, int] | None = None) -> pd.DataFrame:
    """One action; skewed intensities (PSY longer), engagement 60%, age and sex covariates."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {"ASD": 50, "PSY": 25, "TDC": 50}
    rows = []
    for g, n in sizes.items():
        mean = 0.12 if g == "PSY" else 0.06
        for i in range(n):
            pt = 100 * rng.beta(20 * mean, 20 * (1 - mean)) if rng.random() < 0.6 else 0.0
            rows.append({"participant_id": f"{g}{i}", "group": g, "action": "nodding",
                         "age": round(float(rng.uniform(8, 17)), 2),
                         "sex": str(rng.choice(["F", "M"])), "percent_time": pt,
                         "valid_s": 60.0})
    return pd.DataFrame(rows)


def model_inputs(data: pd.DataFrame, a: str, b: str) -> tuple:
    """Design, outcome, contrast vector and group masks of the intensity part."""
    rows = part_outcome(data, "intensity")
    design = build_design(rows, GROUPS, ["age", "sex"])
    vec = np.zeros(len(design.names))
    for group, sign in ((a, 1.0), (b, -1.0)):
        if group != GROUPS[0]:
            vec[design.names.index(f"group[{group}]")] += sign
    group = rows["group"].to_numpy()
    return design.x, rows["y"].to_numpy(), vec, group == a, group == b


@pytest.mark.parametrize("contrast", list(CONTRASTS))
def test_rank_two_updates_match_the_relabelled_design(contrast: str) -> None:
    x, y, vec, in_a, in_b = model_inputs(intensity_cohort(), *CONTRASTS[contrast])
    mu = restricted_means(x, y, vec)
    w, r = mu * (1 - mu), y - mu
    z = x - np.outer(in_a, vec)
    rows = np.flatnonzero(in_a | in_b)
    labels = random_labellings(in_a[rows].astype(float), np.random.default_rng(0), 6)
    score, var = score_statistics(labels, z, vec, w, r, rows)
    for k, lab in enumerate(labels):
        relabelled = z.copy()
        relabelled[rows] += np.outer(lab, vec)
        v = np.linalg.solve(relabelled.T @ (relabelled * w[:, None]), vec)
        contrib = (relabelled @ v) * r
        assert score[k] == pytest.approx(contrib.sum(), rel=1e-9, abs=1e-12)
        assert var[k] == pytest.approx(np.sum(contrib**2), rel=1e-9)


def test_random_labellings_keep_group_sizes_and_cover_rows_evenly() -> None:
    observed = np.r_[np.ones(7), np.zeros(13)]
    labels = random_labellings(observed, np.random.default_rng(1), 20000)
    assert (labels.sum(axis=1) == 7).all()
    np.testing.assert_allclose(labels.mean(axis=0), 7 / 20, atol=0.012)


def test_only_the_rows_of_the_two_groups_are_relabelled(monkeypatch) -> None:
    """ASD vs PSY shuffles the ASD/PSY labels among the ASD and PSY engagers; TDC's rows stay
    TDC (relabelling them would test another hypothesis)."""
    x, y, vec, in_a, in_b = model_inputs(intensity_cohort(), "ASD", "PSY")
    seen = []

    def spy(observed, rng, count):
        seen.append(observed.copy())
        return random_labellings(observed, rng, count)

    monkeypatch.setattr(permutation, "random_labellings", spy)
    permutation_score_test(x, y, vec, in_a, in_b, np.random.default_rng(0), 99)
    [observed] = seen
    assert len(observed) == np.sum(in_a | in_b) < len(y)
    assert observed.sum() == in_a.sum()

def _labellings_and_exact_p(data: pd.DataFrame) -> tuple[int, float]:
    """How many ASD/PSY labellings the engagers have, and the exact p over all of them."""
    x, y, vec, in_a, in_b = model_inputs(data, "ASD", "PSY")
    mu = restricted_means(x, y, vec)
    w, r = mu * (1 - mu), y - mu
    z = x - np.outer(in_a, vec)
    rows = np.flatnonzero(in_a | in_b)
    choices = list(itertools.combinations(range(len(rows)), int(in_a.sum())))
    every = np.zeros((len(choices), len(rows)))
    for k, chosen in enumerate(choices):
        every[k, list(chosen)] = 1
    score, var = score_statistics(every, z, vec, w, r, rows)
    observed = score_statistics(in_a[rows][None, :].astype(float), z, vec, w, r, rows)
    stat = observed[0][0] ** 2 / observed[1][0]
    return len(choices), float(np.mean(score**2 / var >= stat * (1 - 1e-9)))


def test_random_permutation_p_approaches_full_enumeration() -> None:
    # Two small groups (7-10 engagers each) beside a large one: more labellings (92378) than
    # permutations, so they are drawn at random.
    data = intensity_cohort(seed=7, sizes={"ASD": 16, "PSY": 16, "TDC": 40})
    count, exact = _labellings_and_exact_p(data)
    assert 40000 < count < 200000
    assert 0.02 < exact < 0.98  # a non-trivial case
    x, y, vec, in_a, in_b = model_inputs(data, "ASD", "PSY")
    observed = permutation_score_test(x, y, vec, in_a, in_b, np.random.default_rng(5), 40000)
    assert observed.p == pytest.approx(exact, abs=0.01)
    assert observed.p != exact  # a Monte Carlo estimate, (1 + k) / 40001


def test_few_labellings_are_all_used_for_the_exact_p() -> None:
    """6 + 6 engagers have 924 labellings, fewer than the permutations asked for: every one is
    used once, p is the exact one (whatever the random stream), not an estimate of it."""
    data = intensity_cohort(seed=6, sizes={"ASD": 14, "PSY": 14, "TDC": 40})
    count, exact = _labellings_and_exact_p(data)
    assert count == 924 and 0.02 < exact < 0.98
    x, y, vec, in_a, in_b = model_inputs(data, "ASD", "PSY")
    tests = [permutation_score_test(x, y, vec, in_a, in_b, np.random.default_rng(seed), 9999)
             for seed in (0, 1)]
    assert tests[0].p == tests[1].p == pytest.approx(exact, rel=1e-12)
    assert round(tests[0].p * 924) == pytest.approx(tests[0].p * 924, abs=1e-9)


def _r_available() -> bool:
    return shutil.which("Rscript") is not None


R_SCORE = r"""
d <- read.csv(commandArgs(TRUE)[1])
d$group <- factor(d$group, levels = c("ASD", "PSY", "TDC"))
d$sex <- factor(d$sex, levels = c("F", "M"))
X <- model.matrix(~ group + age + sex, d)
out <- NULL
for (pair in list(c("ASD", "PSY"), c("ASD", "TDC"), c("PSY", "TDC"))) {
  merged <- as.character(d$group)
  merged[merged == pair[2]] <- pair[1]
  m0 <- glm(y ~ factor(merged) + age + sex, family = quasibinomial, data = d,
            control = glm.control(epsilon = 1e-14, maxit = 100))
  mu <- fitted(m0)
  L <- setNames(rep(0, ncol(X)), colnames(X))
  for (k in 1:2) {
    name <- paste0("group", pair[k])
    if (name %in% names(L)) L[name] <- L[name] + c(1, -1)[k]
  }
  v <- solve(crossprod(X, X * (mu * (1 - mu))), L)
  a <- drop(X %*% v) * (d$y - mu)
  out <- rbind(out, data.frame(contrast = paste(pair[1], "vs", pair[2]),
                               z = sign(sum(a)) * sqrt(sum(a)^2 / sum(a^2))))
}
write.csv(out, commandArgs(TRUE)[2], row.names = FALSE)
"""


@pytest.mark.skipif(not _r_available(), reason="Rscript not installed")
def test_score_statistic_matches_r_glm(tmp_path: Path) -> None:
    data = intensity_cohort()
    part_outcome(data, "intensity").to_csv(tmp_path / "d.csv", index=False,
                                           float_format="%.17g")
    (tmp_path / "score.R").write_text(R_SCORE)
    subprocess.run(["Rscript", str(tmp_path / "score.R"), str(tmp_path / "d.csv"),
                    str(tmp_path / "r.csv")], check=True, capture_output=True)
    expected = pd.read_csv(tmp_path / "r.csv").set_index("contrast")["z"]
    got = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(covariates=["age", "sex"]))
    got = got[got["part"] == "intensity"].set_index("contrast")
    assert got["estimable"].all()
    for contrast, z in expected.items():
        assert got.loc[contrast, "z"] == pytest.approx(z, rel=1e-6)


def test_reproducible_and_independent_of_the_other_actions() -> None:
    data = intensity_cohort()
    other = intensity_cohort(seed=4).assign(action="shaking legs")
    cfg = StatsConfig(permutations=999)
    alone = run_hurdle(data, GROUPS, ["nodding"], cfg)
    both = run_hurdle(pd.concat([other, data]), GROUPS, ["shaking legs", "nodding"], cfg)
    both = both[both["action"] == "nodding"].reset_index(drop=True)
    pd.testing.assert_series_equal(alone["p"], both["p"])
    reseeded = run_hurdle(data, GROUPS, ["nodding"], cfg.model_copy(
        update={"permutation_seed": 1}))
    inten = alone["part"] == "intensity"
    assert not np.array_equal(alone.loc[inten, "p"], reseeded.loc[inten, "p"])


def test_p_does_not_depend_on_the_row_order_or_the_order_of_the_groups() -> None:
    """The same data and seed give the same p whether the table's rows are shuffled or
    stats.groups lists TDC first (which turns each contrast round: z changes sign, p stays).
    Before, each row's random key followed the file order and the pair's order, so p moved by
    Monte Carlo error (0.040 vs 0.050 at 199 permutations: across alpha)."""
    data = intensity_cohort()
    cfg = StatsConfig(permutations=199)
    key = ["part", "group_a", "group_b"]
    base = run_hurdle(data, GROUPS, ["nodding"], cfg).set_index(key)
    shuffled = run_hurdle(data.sample(frac=1, random_state=1), GROUPS, ["nodding"], cfg)
    pd.testing.assert_series_equal(shuffled.set_index(key)["p"], base["p"])
    turned = run_hurdle(data, GROUPS[::-1], ["nodding"], cfg.model_copy(
        update={"groups": GROUPS[::-1]}))
    turned = turned.rename(columns={"group_a": "group_b", "group_b": "group_a"}).set_index(key)
    turned = turned.loc[base.index]
    np.testing.assert_allclose(turned["p"], base["p"], rtol=1e-12)
    np.testing.assert_allclose(turned["z"], -base["z"], rtol=1e-9)


def test_each_action_has_its_own_permutations() -> None:
    """Two actions with the same data draw different labellings (the stream is keyed by the
    action too), so their permutation p-values are not copies of one another."""
    data = intensity_cohort()
    twin = data.assign(action="nodding again")
    # 999: at 199 the only contrast off the floor (ASD vs TDC) draws 0.640 in both by chance.
    res = run_hurdle(pd.concat([data, twin]), GROUPS, ["nodding", "nodding again"],
                     StatsConfig(permutations=999))
    inten = res[res["part"] == "intensity"].set_index(["action", "contrast"])["p"]
    wald = res[res["part"] == "engagement"].set_index(["action", "contrast"])["p"]
    np.testing.assert_array_equal(wald["nodding"], wald["nodding again"])
    assert not np.array_equal(inten["nodding"], inten["nodding again"])


def test_a_null_fit_that_fails_or_is_exact_gives_no_test(monkeypatch) -> None:
    """No p-value where the merged-group model cannot be trusted: it fits every row exactly
    (V = 0), or IRLS did not converge; the contrast is then reported with a reason."""
    x = np.column_stack([np.ones(12), np.repeat([0.0, 1.0], 6)])
    vec, in_a = np.array([0.0, 1.0]), np.repeat([False, True], 6)
    rng = np.random.default_rng(0)
    assert permutation_score_test(x, np.full(12, 0.2), vec, in_a, ~in_a, rng, 99) is None
    y = np.random.default_rng(1).uniform(0.1, 0.4, 12)
    assert permutation_score_test(x, y, vec, in_a, ~in_a, rng, 99) is not None
    real = permutation.fit_params
    monkeypatch.setattr(permutation, "fit_params",
                        lambda x, y: (real(x, y)[0], False, False))
    assert restricted_means(x, y, vec) is None
    assert permutation_score_test(x, y, vec, in_a, ~in_a, rng, 99) is None
    monkeypatch.setattr("analysis.hurdle.permutation_score_test", lambda *args: None)
    res = run_hurdle(intensity_cohort(), GROUPS, ["nodding"], StatsConfig())
    inten = res[res["part"] == "intensity"].set_index("contrast")
    assert inten.loc["ASD vs PSY", "reason"] == ("the null model (ASD and PSY merged) failed "
                                                 "to fit or fits exactly")
    assert inten["p"].isna().all() and not inten["estimable"].any()


def test_a_covariates_units_do_not_change_the_test() -> None:
    """Age in years or in units 10^4 times smaller is the same model: same z, same p. The
    singularity check once judged the unscaled information matrix, so the large-unit age made
    every labelling 'singular' and each contrast 'the null model ... failed to fit'."""
    data = intensity_cohort()
    cfg = StatsConfig(covariates=["age"], permutations=199)
    years, small_units = (run_hurdle(d, GROUPS, ["nodding"], cfg)
                          for d in (data, data.assign(age=data["age"] * 1e4)))
    assert small_units["estimable"].all()
    for col in ("log_or", "se", "z"):  # the fits agree to IRLS tolerance
        np.testing.assert_allclose(small_units[col], years[col], rtol=1e-6)
    np.testing.assert_allclose(small_units["p"], years["p"], rtol=1e-9)  # same counts

def test_wald_option_is_the_papers_z_test_and_effects_do_not_change() -> None:
    data = intensity_cohort()
    perm = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(permutations=999))
    wald = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(intensity_test="wald"))
    inten = perm["part"] == "intensity"
    assert (perm.loc[inten, "test"] == "permutation").all()
    assert (wald.loc[inten, "test"] == "wald").all()
    assert (perm.loc[~inten, "test"] == "wald").all()
    for col in ("log_or", "se", "odds_ratio", "ci_low", "ci_high"):
        np.testing.assert_array_equal(perm[col], wald[col])
    np.testing.assert_array_equal(perm.loc[~inten, "p"], wald.loc[~inten, "p"])
    z = wald["log_or"] / wald["se"]
    np.testing.assert_allclose(wald["p"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    counts = perm.loc[inten, "p"] * 1000
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)  # (1 + k) / (999 + 1)
    # PSY engages longer (0.12 vs 0.06): both tests find it, in the same direction.
    psy = perm.set_index(["part", "contrast"]).loc["intensity"]
    assert psy.loc["ASD vs PSY", "p"] < 0.01 and psy.loc["ASD vs PSY", "z"] < 0


def test_streams_differ_by_contrast_and_seed() -> None:
    draw = [contrast_stream(s, "nodding", a, b).random()
            for s, (a, b) in [(0, ("ASD", "PSY")), (0, ("ASD", "TDC")), (1, ("ASD", "PSY"))]]
    assert len(set(draw)) == 3
    assert contrast_stream(0, "nodding", "ASD", "PSY").random() == draw[0]


def test_methods_and_caption_name_the_tests() -> None:
    data = intensity_cohort()
    for cfg, phrase in [(StatsConfig(permutations=999), "999 random permutations"),
                        (StatsConfig(intensity_test="wald"), "two-sided Wald tests in both")]:
        results = run_hurdle(data, GROUPS, ["nodding"], cfg)
        text = methods_text(cfg, GROUPS, {"ASD": 50, "PSY": 25, "TDC": 50}, ["nodding"],
                            results)
        assert phrase in text
        caption = table_v_caption(cfg)
        assert ("permutation test" in caption) == (cfg.intensity_test == "permutation")


def test_labellings_that_make_the_design_singular_are_left_out():
    """Two groups only (the third had too few engagers) and a binary covariate: the
    labelling that puts A exactly on the boys makes group and sex collinear. Its statistic
    is undefined (NaN), and the permutation p counts only the labellings where it is defined;
    it used to stop the run with a LinAlgError for some seeds."""
    sex = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], float)
    in_a = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0], bool)
    x = np.column_stack([np.ones(10), in_a, sex])
    y = np.random.default_rng(3).uniform(0.05, 0.6, 10)
    vec = np.array([0.0, 1.0, 0.0])
    mu = restricted_means(x, y, vec)
    labels = np.array([sex, in_a.astype(float)])
    score, var = score_statistics(labels, x - np.outer(in_a, vec), vec, mu * (1 - mu), y - mu,
                                  np.arange(10))
    assert np.isnan(score[0]) and np.isfinite(score[1]) and var[1] > 0
    # All 210 labellings enumerated: p over the 209 defined ones.
    every = np.array([np.isin(np.arange(10), c) for c in itertools.combinations(range(10), 4)],
                     float)
    s_all, v_all = score_statistics(every, x - np.outer(in_a, vec), vec, mu * (1 - mu), y - mu,
                                    np.arange(10))
    defined = np.isfinite(s_all)
    assert defined.sum() == 209
    test = permutation_score_test(x, y, vec, in_a, ~in_a, np.random.default_rng(0), 20000)
    stat = score[1] ** 2 / var[1]
    exact = np.mean(s_all[defined] ** 2 >= stat * (1 - 1e-9) * v_all[defined])
    assert test.p == pytest.approx(exact, abs=0.01)


def test_every_labelling_gives_the_exact_p_over_the_defined_ones(monkeypatch):
    """Over all 210 labellings, p is exactly (defined labellings at least as extreme, ties
    included) / (defined labellings): the observed labelling is one of them and ties with
    itself, the singular one counts in neither. Drawn at random (here: fed all 210), the
    observed one is added: (1 + ...) / (1 + ...)."""
    sex = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], float)
    in_a = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0], bool)
    x = np.column_stack([np.ones(10), in_a, sex])
    y = np.random.default_rng(3).uniform(0.05, 0.6, 10)
    vec = np.array([0.0, 1.0, 0.0])
    every = np.array([np.isin(np.arange(10), c) for c in itertools.combinations(range(10), 4)],
                     float)
    test = permutation_score_test(x, y, vec, in_a, ~in_a, np.random.default_rng(0), 210)
    # The Monte Carlo path (fewer permutations asked than labellings), fed every labelling.
    monkeypatch.setattr(permutation, "random_labellings", lambda observed, rng, count: every)
    drawn = permutation_score_test(x, y, vec, in_a, ~in_a, np.random.default_rng(0), 209)
    mu = restricted_means(x, y, vec)
    s_all, v_all = score_statistics(every, x - np.outer(in_a, vec), vec, mu * (1 - mu), y - mu,
                                    np.arange(10))
    defined = np.isfinite(s_all) & (v_all > 0)
    stat = test.z ** 2
    # Strictly larger, plus those equal to the observed statistic to rounding (the observed
    # labelling itself, and its mirror images).
    larger = np.sum(s_all[defined] ** 2 > stat * (1 + 1e-9) * v_all[defined])
    ties = np.sum(np.isclose(s_all[defined] ** 2 / v_all[defined], stat, rtol=1e-9))
    assert defined.sum() == 209 and ties >= 1
    assert test.p == (larger + ties) / 209  # every labelling: the observed one among them
    assert drawn.p == (1 + larger + ties) / (1 + 209)  # the observed one added to the draws


def _every_labelling(n: int, n_a: int) -> np.ndarray:
    return np.array([np.isin(np.arange(n), c) for c in itertools.combinations(range(n), n_a)],
                    float)


@pytest.mark.parametrize("seed", [0, 2])
def test_labellings_tying_only_to_rounding_count_as_ties(seed: int) -> None:
    """Three values, each in four participants, no covariates: T depends only on how many of
    each value group A holds, and A's complement gives the same T (the score changes sign).
    So 192 of the 924 labellings tie with the observed one mathematically; the complements
    sum other rows and land a few ulps below it. p counts them all: 280 / 924 (every
    labelling) for these values; with no slack (TIE_RTOL = 0) the ties below were lost."""
    vals = np.random.default_rng(seed).uniform(0.05, 0.6, 3)
    y = np.repeat(vals, 4)
    in_a = np.isin(np.arange(12), [0, 1, 2, 4, 5, 8])  # 3, 2 and 1 of the three values
    x = np.column_stack([np.ones(12), in_a])
    vec = np.array([0.0, 1.0])
    every = _every_labelling(12, 6)
    test = permutation_score_test(x, y, vec, in_a, ~in_a, np.random.default_rng(0), 924)
    # The count from the combinatorics: labellings by the value counts (a, b, c) in A.
    mu = restricted_means(x, y, vec)
    z = x - np.outer(in_a, vec)
    counts = every.reshape(-1, 3, 4).sum(axis=2)
    score, var = score_statistics(every, z, vec, mu * (1 - mu), y - mu, np.arange(12))
    ties = np.all(counts == [3, 2, 1], axis=1) | np.all(counts == [1, 2, 3], axis=1)
    assert ties.sum() == 2 * 4 * 6 * 4
    np.testing.assert_allclose(score[ties] ** 2 / var[ties], test.z ** 2, rtol=1e-12)
    larger = np.sum(score[~ties] ** 2 / var[~ties] > test.z ** 2 * (1 + 1e-6))
    assert larger + ties.sum() == 280
    assert test.p == 280 / 924
    # Here about half the ties land below the observed statistic in floating point; how
    # many depends on the machine's rounding, so it is not asserted.


def test_a_nearly_singular_labelling_is_kept_an_exactly_singular_one_left_out() -> None:
    """Sex (0/1) and a covariate c that is a 0/1 indicator plus 1e-3 noise. Putting A on the
    boys makes group and sex collinear: singular, T undefined, left out. Putting A on c's
    upper level makes the relabelled information matrix nearly singular (smallest over largest
    singular value ~1e-7 at a unit diagonal) yet the contrast is estimable and T defined:
    it is counted. Of the 210 labellings, 209 count."""
    sex = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], float)
    upper = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 0], float)
    c = upper + 1e-3 * np.array([0.3, -0.5, 0.8, -0.2, 0.6, -0.9, 0.1, 0.4, -0.7, 0.25])
    in_a = np.array([1, 0, 1, 0, 1, 0, 1, 0, 0, 0], bool)
    x = np.column_stack([np.ones(10), in_a, sex, c])
    y = np.random.default_rng(3).uniform(0.05, 0.6, 10)
    vec = np.array([0.0, 1.0, 0.0, 0.0])
    mu = restricted_means(x, y, vec)
    w, r = mu * (1 - mu), y - mu
    z = x - np.outer(in_a, vec)
    ratios = []
    for lab in (sex, upper):
        relabelled = z + np.outer(lab, vec)
        info = relabelled.T @ (relabelled * w[:, None])
        d = np.sqrt(np.diag(info))
        sv = np.linalg.svd(info / np.outer(d, d), compute_uv=False)
        ratios.append(sv[-1] / sv[0])
    assert ratios[0] < 1e-15 and 1e-8 < ratios[1] < 1e-6
    score, var = score_statistics(np.array([sex, upper]), z, vec, w, r, np.arange(10))
    assert np.isnan(score[0]) and np.isnan(var[0])
    relabelled = z + np.outer(upper, vec)
    v = np.linalg.solve(relabelled.T @ (relabelled * w[:, None]), vec)
    contrib = (relabelled @ v) * r
    assert score[1] == pytest.approx(contrib.sum(), rel=1e-6)
    assert var[1] == pytest.approx(np.sum(contrib**2), rel=1e-6)
    every = _every_labelling(10, 4)
    s_all, v_all = score_statistics(every, z, vec, w, r, np.arange(10))
    defined = np.isfinite(s_all) & (v_all > 0)
    assert defined.sum() == 209
    assert np.flatnonzero(~defined).tolist() == [int(np.flatnonzero((every == sex).all(1))[0])]
    test = permutation_score_test(x, y, vec, in_a, ~in_a, np.random.default_rng(0), 210)
    exceed = np.sum(s_all[defined] ** 2 >= test.z ** 2 * (1 - 1e-9) * v_all[defined])
    assert exceed == 171  # the observed labelling among them
    assert test.p == 171 / 209


@pytest.mark.parametrize("scale, shift", [(3.15576e10, 0.0), (1.0, 2e7)])
def test_a_covariate_in_milliseconds_or_far_from_zero_fits_as_in_years(scale: float,
                                                                         shift: float) -> None:
    """Age in milliseconds (~3e11), or a covariate near 2e7 (a date written as a number), is
    the same model. The raw values made the design ill-conditioned: IRLS stopped short of its
    tolerance ('model did not converge') or the rank check called the design rank deficient."""
    data = intensity_cohort()
    cfg = StatsConfig(covariates=["age"], permutations=199)
    years, other = (run_hurdle(d, GROUPS, ["nodding"], cfg)
                    for d in (data, data.assign(age=data["age"] * scale + shift)))
    assert years["estimable"].all()
    assert other["estimable"].all(), other["reason"].tolist()
    for col in ("log_or", "se", "z"):
        np.testing.assert_allclose(other[col], years[col], rtol=1e-8)
    np.testing.assert_allclose(other["p"], years["p"], rtol=1e-9)
