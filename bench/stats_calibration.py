"""Calibration of the hurdle tests by simulation: false positives under the null, and power.

    python bench/stats_calibration.py --nsim-null 2000 --nsim-power 300 --jobs 2 --out calib.md

Null: every group shares the same engagement probability and mean intensity; the per-test
false positive rate at alpha is reported for the engagement test and for each candidate
intensity test, with the Monte Carlo 95% interval a calibrated test would fall in. Power:
percent times drawn from the synthetic cohort's planted hurdle parameters
(microdualnet.synthetic.cohort.default_effects, or a cohort_config.yaml given with
--cohort-config) at the paper's group sizes 120/46/124; the rejection rate of each planted
contrast is reported at raw and BH-adjusted p < alpha, for the default intensity test and
for the paper's Wald z.

Percent times are drawn as the cohort generator draws them (Bernoulli engagement, Beta
fraction with precision phi, a 1 s minimum per engagement and whole frames), but without
the video timeline, so the busy-video event dropping of the renderer is not reproduced.
Covariate scenarios draw sex with the cohort's group-specific proportions of boys
(0.8 / 0.6 / 0.5), so sex is associated with group as in a real clinical sample.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats
from scipy.optimize import brentq
from scipy.special import expit

from analysis.config import StatsConfig
from analysis.contrasts import contrast_vector
from analysis.design import build_design
from analysis.glm import fit_logit, sandwich_scale
from analysis.hurdle import analyse_part, part_outcome, run_hurdle
from pipeio.atomic import atomic_write_text

SIZES = {"ASD": 120, "PSY": 46, "TDC": 124}
GROUPS = list(SIZES)
P_MALE = {"ASD": 0.8, "PSY": 0.6, "TDC": 0.5}
#: Columns of the null table: the engagement test, then the intensity candidates.
TESTS = ["engagement Wald z", "HC0 z", "HC1 z", "stata z", "HC3 z", "HC3 t(n-p)",
         "HC3 t(BM df)", "score chi2", "permutation"]
DEFAULT_TEST = "permutation"


@dataclass(frozen=True)
class Scenario:
    """A null scenario: common engagement and mean intensity; optional spread for PSY."""

    label: str
    engage: float
    mean: float
    covariates: bool = False
    psy_precision: float | None = None  # PSY's Beta precision, mean matched after the floor


def load_effects(cohort_config: Path | None) -> tuple[list[dict], float, float, float]:
    """Planted effects, Beta precision, video seconds and fps of the synthetic cohort."""
    if cohort_config is not None:
        raw = yaml.safe_load(cohort_config.read_text())
        return raw["effects"], raw["intensity_precision"], raw["seconds"], raw["fps"]
    from microdualnet.synthetic.cohort import CohortConfig  # torch-free module

    cfg = CohortConfig()
    return ([e.model_dump() for e in cfg.effects], cfg.intensity_precision, cfg.seconds,
            cfg.fps)


def draw_percent(rng: np.random.Generator, n: int, engage: float, mean: float, phi: float,
                 seconds: float, fps: float) -> np.ndarray:
    """Percent times of n participants from the cohort's hurdle model."""
    n_frames = round(seconds * fps)
    engaged = rng.random(n) < engage
    frac = rng.beta(mean * phi, (1 - mean) * phi, n)
    frames = np.maximum(np.round(frac * n_frames), round(fps))  # at least 1 s when engaged
    return np.where(engaged, 100.0 * frames / n_frames, 0.0)


def engaged_mean(mean: float, phi: float, seconds: float, fps: float) -> float:
    """Expected fraction among engagers after whole frames and the 1 s floor (exact sum)."""
    n_frames = round(seconds * fps)
    k = np.arange(n_frames + 1)
    edges = np.clip(np.concatenate([[0.0], (k[:-1] + 0.5) / n_frames, [1.0]]), 0, 1)
    prob = np.diff(stats.beta.cdf(edges, mean * phi, (1 - mean) * phi))
    return float(prob @ np.maximum(k, round(fps)) / n_frames)


def cohort_table(rng: np.random.Generator, effects: list[dict], phi: dict[str, float],
                 seconds: float, fps: float, covariates: bool) -> pd.DataFrame:
    """One simulated long table (all effects as actions)."""
    parts = []
    for g, n in SIZES.items():
        ids = [f"{g}{i}" for i in range(n)]
        age = rng.normal(9, 1.8, n)
        sex = np.where(rng.random(n) < P_MALE[g], "M", "F")
        for eff in effects:
            pt = draw_percent(rng, n, eff["engage"][g], eff["intensity"][g], phi[g], seconds,
                              fps)
            frame = pd.DataFrame({"participant_id": ids, "group": g, "action": eff["action"],
                                  "percent_time": pt, "valid_s": seconds})
            if covariates:
                frame = frame.assign(age=age, sex=sex)
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def bell_mccaffrey_p(table: pd.DataFrame, cfg: StatsConfig, contrasts: list[tuple[str, str]]
                     ) -> list[float]:
    """HC3 Wald t with Bell-McCaffrey (Satterthwaite) df, a candidate kept for comparison.

    df = (tr Q)^2 / tr Q^2 for Q = M D M, M = I - hat matrix of W^1/2 X, D = diag(k_i^2 /
    (1 - h_i)^2), k = W^1/2 X (X'WX)^-1 L: the HC3 variance's moments under the working model.
    """
    rows = part_outcome(table, "intensity")
    design = build_design(rows, GROUPS, cfg.covariates)
    y = rows["y"].to_numpy()
    fit = fit_logit(design.x, y, design.names, robust="HC3")
    mu = expit(design.x @ fit.params)
    xt = design.x * np.sqrt(mu * (1 - mu))[:, None]
    bread = np.linalg.inv(xt.T @ xt)
    hat = xt @ bread @ xt.T
    h = np.diag(hat)
    out = []
    for a, b in contrasts:
        vec = contrast_vector(fit, GROUPS[0], a, b)
        d = (xt @ (bread @ vec)) ** 2 / (1 - h) ** 2
        resid_maker = np.eye(len(y)) - hat
        df = (d @ (1 - h)) ** 2 / (d @ (resid_maker**2) @ d)
        t_stat = (vec @ fit.params) / np.sqrt(vec @ fit.cov @ vec)
        out.append(float(2 * stats.t.sf(abs(t_stat), df)))
    return out


def null_counts(scenario: Scenario, nsim: int, phi: float, seconds: float, fps: float,
                alpha: float, permutations: int, seed: int) -> dict[str, np.ndarray]:
    """Per simulation and test: [estimable tests, rejections] (shape nsim x 2)."""
    rng = np.random.default_rng(seed)
    covs = ["age", "sex"] if scenario.covariates else []
    cfg = StatsConfig(covariates=covs, permutations=permutations, permutation_seed=seed)
    cfg0 = StatsConfig(covariates=covs, robust_se="HC0", intensity_test="wald")
    mean_psy = scenario.mean
    phis = dict.fromkeys(GROUPS, phi)
    if scenario.psy_precision is not None:
        target = engaged_mean(scenario.mean, phi, seconds, fps)
        phis["PSY"] = scenario.psy_precision
        mean_psy = brentq(lambda m: engaged_mean(m, scenario.psy_precision, seconds, fps)
                          - target, 1e-4, 0.5)
    effect = [{"action": "null", "engage": dict.fromkeys(GROUPS, scenario.engage),
               "intensity": dict.fromkeys(GROUPS, scenario.mean) | {"PSY": mean_psy}}]
    n_coef = len(GROUPS) + len(covs)
    contrasts = cfg.resolved_contrasts(GROUPS)
    counts = {t: np.zeros((nsim, 2), dtype=int) for t in TESTS}

    def tally(test: str, s: int, pvalues: list[float]) -> None:
        counts[test][s] = len(pvalues), sum(p < alpha for p in pvalues)

    for s in range(nsim):
        table = cohort_table(rng, effect, phis, seconds, fps, scenario.covariates)
        eng = analyse_part("null", table, "engagement", GROUPS, contrasts, cfg)
        tally("engagement Wald z", s, [r["p"] for r in eng if r["estimable"]])
        rows = [r for r in analyse_part("null", table, "intensity", GROUPS, contrasts, cfg)
                if r["estimable"]]
        wald = [r["log_or"] / r["se"] for r in rows]
        tally("HC3 z", s, [2 * stats.norm.sf(abs(z)) for z in wald])
        tally("HC3 t(n-p)", s, [2 * stats.t.sf(abs(z), r["n_model"] - n_coef)
                                for z, r in zip(wald, rows, strict=True)])
        tally("score chi2", s, [2 * stats.norm.sf(abs(r["z"])) for r in rows])
        tally("permutation", s, [r["p"] for r in rows])
        if len(rows) == len(contrasts):  # BM only where every group is usable
            tally("HC3 t(BM df)", s, bell_mccaffrey_p(table, cfg, contrasts))
        rows0 = [r for r in analyse_part("null", table, "intensity", GROUPS, contrasts, cfg0)
                 if r["estimable"]]
        for variant in ("HC0", "HC1", "stata"):
            tally(f"{variant} z", s, [
                2 * stats.norm.sf(abs(r["z"]) / np.sqrt(sandwich_scale(variant, r["n_model"],
                                                                       n_coef)))
                for r in rows0])
    return counts


def rate_and_interval(counts: np.ndarray, alpha: float) -> tuple[float, float, float, int]:
    """Rejection rate, and the 95% Monte Carlo interval of a test whose true rate is alpha.

    Binomial at the number of tests, widened by the design effect of the correlated tests
    within one simulated cohort (estimated from the per-cohort rejection counts).
    """
    n_tests, rejected = counts[:, 0], counts[:, 1]
    total = int(n_tests.sum())
    rate = rejected.sum() / total
    binomial_var = rate * (1 - rate) / total
    cluster_var = np.sum((rejected - rate * n_tests) ** 2) / total**2
    deff = max(1.0, cluster_var / binomial_var) if binomial_var > 0 else 1.0
    half = 1.96 * np.sqrt(alpha * (1 - alpha) * deff / total)
    return float(rate), alpha - half, alpha + half, total


def power_runs(effects: list[dict], nsim: int, phi: float, seconds: float, fps: float,
               permutations: int, seed: int) -> pd.DataFrame:
    """Every contrast's p and p_adj in nsim planted cohorts, for both intensity tests."""
    rng = np.random.default_rng(seed)
    actions = [e["action"] for e in effects]
    phis = dict.fromkeys(GROUPS, phi)
    configs = {"permutation": StatsConfig(permutations=permutations, permutation_seed=seed),
               "wald": StatsConfig(intensity_test="wald")}
    tallies = []
    for _ in range(nsim):
        table = cohort_table(rng, effects, phis, seconds, fps, covariates=False)
        for name, cfg in configs.items():
            res = run_hurdle(table, GROUPS, actions, cfg)
            tallies.append(res[["action", "part", "contrast", "p", "p_adj", "estimable"]]
                           .assign(config=name))
    return pd.concat(tallies)


def power_table(allres: pd.DataFrame, effects: list[dict], alpha: float) -> pd.DataFrame:
    """Rejection rate of each contrast at raw and adjusted p < alpha, per configuration."""
    allres = allres.assign(raw=allres["estimable"] & (allres["p"] < alpha),
                           adj=allres["estimable"] & (allres["p_adj"] < alpha))
    rates = allres.groupby(["action", "part", "contrast", "config"], sort=False)[
        ["raw", "adj"]].mean().unstack("config")
    by_name = {e["action"]: e for e in effects}
    out = []
    for (action, part, contrast), row in rates.iterrows():
        a, b = contrast.split(" vs ")
        key = "engage" if part == "engagement" else "intensity"
        va, vb = by_name[action][key][a], by_name[action][key][b]
        out.append({"action": action, "part": part, "contrast": contrast,
                    "planted": f"{va:g} vs {vb:g}", "true_difference": va != vb,
                    "raw": row[("raw", "permutation")], "adj": row[("adj", "permutation")],
                    "raw_wald": row[("raw", "wald")], "adj_wald": row[("adj", "wald")]})
    return pd.DataFrame(out)


SCENARIOS = [
    Scenario("P(engage) 0.7, mean 10%", 0.7, 0.10),
    Scenario("P(engage) 0.5, mean 5%", 0.5, 0.05),
    Scenario("P(engage) 0.3, mean 5%", 0.3, 0.05),
    Scenario("P(engage) 0.2, mean 5%", 0.2, 0.05),
    Scenario("P(engage) 0.2, mean 10%", 0.2, 0.10),
    Scenario("P(engage) 0.3, mean 5%, PSY precision 5", 0.3, 0.05, psy_precision=5.0),
    Scenario("P(engage) 0.5, mean 5%", 0.5, 0.05, covariates=True),
    Scenario("P(engage) 0.3, mean 5%", 0.3, 0.05, covariates=True),
    Scenario("P(engage) 0.2, mean 5%", 0.2, 0.05, covariates=True),
    Scenario("P(engage) 0.3, mean 5%, PSY precision 10", 0.3, 0.05, psy_precision=10.0),
]


def null_section(results: list[dict[str, np.ndarray]], alpha: float
                 ) -> tuple[list[str], list[str]]:
    """The long table (every scenario x test with its interval) and a wide Markdown table."""
    long = ["| scenario | covariates | part | test | tests | FPR | MC 95% interval | pass |",
            "|---|---|---|---|---:|---:|---|---|"]
    wide = ["| scenario | covariates | PSY engagers | MC 95% interval | "
            + " | ".join(TESTS) + " |", "|---|---|---:|---|" + "---:|" * len(TESTS)]
    for scenario, counts in zip(SCENARIOS, results, strict=True):
        covs = "age, sex" if scenario.covariates else "none"
        cells = []
        for test in TESTS:
            rate, low, high, total = rate_and_interval(counts[test], alpha)
            ok = low <= rate <= high
            part = "engagement" if test.startswith("engagement") else "intensity"
            long.append(f"| {scenario.label} | {covs} | {part} | {test} | {total} | "
                        f"{rate:.4f} | {low:.4f}-{high:.4f} | {'yes' if ok else 'NO'} |")
            cells.append(f"{rate:.3f}" if ok else f"**{rate:.3f}**")
        _, low, high, _ = rate_and_interval(counts[DEFAULT_TEST], alpha)
        wide.append(f"| {scenario.label} | {covs} | {SIZES['PSY'] * scenario.engage:.0f} | "
                    f"{low:.3f}-{high:.3f} | " + " | ".join(cells) + " |")
    return long, wide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsim-null", type=int, default=2000)
    parser.add_argument("--nsim-power", type=int, default=300)
    parser.add_argument("--permutations", type=int, default=999,
                        help="permutations per intensity test (the stage default is 9999)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cohort-config", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    args = parser.parse_args()
    effects, phi, seconds, fps = load_effects(args.cohort_config)
    t0 = time.perf_counter()
    half = args.nsim_power // 2
    with ProcessPoolExecutor(args.jobs) as pool:
        null_jobs = [pool.submit(null_counts, sc, args.nsim_null, phi, seconds, fps,
                                 args.alpha, args.permutations, seed=100 + k)
                     for k, sc in enumerate(SCENARIOS)]
        power_jobs = [pool.submit(power_runs, effects, n, phi, seconds, fps,
                                  args.permutations, seed=7 + k)
                      for k, n in enumerate((half, args.nsim_power - half))]
        results = [job.result() for job in null_jobs]
        allres = pd.concat([job.result() for job in power_jobs])
    long, wide = null_section(results, args.alpha)
    print("\n".join(long), flush=True)

    lines = [f"Group sizes {SIZES}; alpha {args.alpha}; Beta precision {phi:g}; "
             f"{seconds:g} s videos at {fps:g} fps; {args.nsim_null} simulated cohorts per "
             f"scenario; {args.permutations} permutations per test.", "",
             "#### Null: per-test false positive rate", "",
             "Bold: outside the Monte Carlo 95% interval of a test whose true rate is "
             f"{args.alpha} (binomial at the number of estimable tests, widened by the design "
             "effect of the three correlated contrasts per cohort; interval shown for the "
             "permutation test). PSY engagers: expected number.", "", *wide, ""]
    pw = power_table(allres, effects, args.alpha)
    lines += [f"#### Power at the planted effects ({args.nsim_power} simulated cohorts)", "",
              "| action | part | contrast | planted | reject (raw p) | reject (BH p_adj) | "
              "Wald z: raw | Wald z: adj |", "|---|---|---|---|---:|---:|---:|---:|"]
    for row in pw[pw["true_difference"]].itertuples():
        wald = (f"{row.raw_wald:.2f} | {row.adj_wald:.2f}" if row.part == "intensity"
                else "same | same")
        lines.append(f"| {row.action} | {row.part} | {row.contrast} | {row.planted} | "
                     f"{row.raw:.2f} | {row.adj:.2f} | {wald} |")
    nulls = pw[~pw["true_difference"]]
    for part, rows in nulls.groupby("part"):
        lines.append("")
        lines.append(f"Null {part} contrasts inside the same cohorts ({len(rows)}): mean "
                     f"rejection {rows['raw'].mean():.4f} raw, {rows['adj'].mean():.4f} "
                     f"adjusted (Wald z: {rows['raw_wald'].mean():.4f}, "
                     f"{rows['adj_wald'].mean():.4f}).")
    lines += ["", f"Run time {time.perf_counter() - t0:.0f} s with {args.jobs} worker(s)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n#### Every scenario x test\n\n" + "\n".join(long)
                          + "\n")


if __name__ == "__main__":
    main()
