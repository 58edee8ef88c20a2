"""Calibration of the hurdle tests by simulation: false positives under the null, and power.

    python bench/stats_calibration.py --nsim-null 2000 --nsim-power 300 --out calib.md

Null: every group shares the same engagement probability and intensity distribution; the
per-test false positive rate at alpha is reported per part and per sandwich variant, with
its Monte Carlo standard error. Power: percent times drawn from the synthetic cohort's
planted hurdle parameters (microdualnet.synthetic.cohort.default_effects, or a
cohort_config.yaml given with --cohort-config), at the paper's group sizes 120/46/124; the
rejection rate of each planted contrast is reported at raw and BH-adjusted p < alpha.

Percent times are drawn as the cohort generator draws them (Bernoulli engagement, Beta
fraction with precision phi, a 1 s minimum per engagement and whole frames), but without
the video timeline, so the busy-video event dropping of the renderer is not reproduced.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from analysis.config import StatsConfig
from analysis.glm import sandwich_scale
from analysis.hurdle import analyse_part, run_hurdle

SIZES = {"ASD": 120, "PSY": 46, "TDC": 124}
GROUPS = list(SIZES)


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


def cohort_table(rng: np.random.Generator, effects: list[dict], phi: float, seconds: float,
                 fps: float, covariates: bool) -> pd.DataFrame:
    """One simulated long table (all effects as actions)."""
    parts = []
    for g, n in SIZES.items():
        ids = [f"{g}{i}" for i in range(n)]
        age, sex = rng.normal(9, 1.8, n), np.where(rng.random(n) < 0.5, "M", "F")
        for eff in effects:
            pt = draw_percent(rng, n, eff["engage"][g], eff["intensity"][g], phi, seconds, fps)
            frame = pd.DataFrame({"participant_id": ids, "group": g, "action": eff["action"],
                                  "percent_time": pt, "valid_s": seconds})
            if covariates:
                frame = frame.assign(age=age, sex=sex)
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def null_fpr(nsim: int, engage: float, mean: float, phi: float, seconds: float, fps: float,
             covariates: bool, alpha: float, seed: int) -> dict[str, float]:
    """Per-test rejection rates under no group differences, per part and sandwich variant.

    HC1 and stata only rescale HC0, so their z follows from the HC0 fit; HC3 is refitted.
    """
    rng = np.random.default_rng(seed)
    covs = ["age", "sex"] if covariates else []
    cfg0, cfg3 = (StatsConfig(covariates=covs, robust_se=v) for v in ("HC0", "HC3"))
    effect = [{"action": "null", "engage": dict.fromkeys(GROUPS, engage),
               "intensity": dict.fromkeys(GROUPS, mean)}]
    n_coef = len(GROUPS) + len(covs)
    contrasts = cfg0.resolved_contrasts(GROUPS)
    hits: dict[str, list[bool]] = {"engagement": [], "HC0": [], "HC1": [], "stata": [],
                                   "HC3": []}
    for _ in range(nsim):
        table = cohort_table(rng, effect, phi, seconds, fps, covariates)
        for row in analyse_part("null", table, "engagement", GROUPS, contrasts, cfg0):
            if row["estimable"]:  # rates are over estimable tests (n_tests)
                hits["engagement"].append(row["p"] < alpha)
        for row in analyse_part("null", table, "intensity", GROUPS, contrasts, cfg0):
            if row["estimable"]:
                for variant in ("HC0", "HC1", "stata"):
                    z = row["z"] / np.sqrt(sandwich_scale(variant, row["n_model"], n_coef))
                    hits[variant].append(2 * norm.sf(abs(z)) < alpha)
        for row in analyse_part("null", table, "intensity", GROUPS, contrasts, cfg3):
            if row["estimable"]:
                hits["HC3"].append(row["p"] < alpha)
    return {k: float(np.mean(v)) for k, v in hits.items()} | {
        "n_tests": len(hits["engagement"]), "n_tests_int": len(hits["HC0"])}


def power(nsim: int, effects: list[dict], phi: float, seconds: float, fps: float,
          alpha: float, seed: int) -> pd.DataFrame:
    """Rejection rate of every planted (non-null) contrast at raw and adjusted p < alpha."""
    rng = np.random.default_rng(seed)
    cfg = StatsConfig()
    actions = [e["action"] for e in effects]
    tallies = []
    for _ in range(nsim):
        table = cohort_table(rng, effects, phi, seconds, fps, covariates=False)
        res = run_hurdle(table, GROUPS, actions, cfg)
        tallies.append(res[["action", "part", "contrast", "p", "p_adj", "estimable"]])
    allres = pd.concat(tallies)
    allres["raw"] = allres["estimable"] & (allres["p"] < alpha)
    allres["adj"] = allres["estimable"] & (allres["p_adj"] < alpha)
    rates = allres.groupby(["action", "part", "contrast"], sort=False)[["raw", "adj"]].mean()
    by_name = {e["action"]: e for e in effects}
    planted = []
    for (action, part, contrast), row in rates.iterrows():
        a, b = contrast.split(" vs ")
        key = "engage" if part == "engagement" else "intensity"
        va, vb = by_name[action][key][a], by_name[action][key][b]
        planted.append({"action": action, "part": part, "contrast": contrast,
                        "planted": f"{va:g} vs {vb:g}", "true_difference": va != vb,
                        "reject_raw": row["raw"], "reject_adj": row["adj"]})
    return pd.DataFrame(planted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsim-null", type=int, default=2000)
    parser.add_argument("--nsim-power", type=int, default=300)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--cohort-config", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    args = parser.parse_args()
    effects, phi, seconds, fps = load_effects(args.cohort_config)
    lines = [f"Group sizes {SIZES}; alpha {args.alpha}; Beta precision {phi:g}; "
             f"{seconds:g} s videos at {fps:g} fps.", ""]

    t0 = time.perf_counter()
    lines += ["### Null: per-test false positive rate", "",
              "| scenario | covariates | tests (eng/int) | engagement | intensity HC0 | "
              "intensity HC1 | intensity stata | intensity HC3 |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    scenarios = [("P(engage) 0.5, mean 5%", 0.5, 0.05), ("P(engage) 0.2, mean 5%", 0.2, 0.05),
                 ("P(engage) 0.7, mean 10%", 0.7, 0.10)]
    for k, (label, engage, mean) in enumerate(scenarios):
        for covs in (False, True):
            r = null_fpr(args.nsim_null, engage, mean, phi, seconds, fps, covs, args.alpha,
                         seed=100 + 2 * k + covs)
            lines.append(f"| {label} | {'age, sex' if covs else 'none'} | "
                         f"{r['n_tests']}/{r['n_tests_int']} | {r['engagement']:.4f} | "
                         f"{r['HC0']:.4f} | {r['HC1']:.4f} | {r['stata']:.4f} | "
                         f"{r['HC3']:.4f} |")
            print(lines[-1], flush=True)
    mc = np.sqrt(args.alpha * (1 - args.alpha) / (3 * args.nsim_null))
    lines += ["", f"Monte Carlo standard error of one rate: about {mc:.4f} (3 correlated "
              f"contrasts x {args.nsim_null} simulations; a little larger in truth).", ""]

    pw = power(args.nsim_power, effects, phi, seconds, fps, args.alpha, seed=7)
    lines += [f"### Power at the planted effects ({args.nsim_power} simulated cohorts)", "",
              "| action | part | contrast | planted | reject (raw p) | reject (BH p_adj) |",
              "|---|---|---|---|---:|---:|"]
    for row in pw[pw["true_difference"]].itertuples():
        lines.append(f"| {row.action} | {row.part} | {row.contrast} | {row.planted} | "
                     f"{row.reject_raw:.2f} | {row.reject_adj:.2f} |")
    nulls = pw[~pw["true_difference"]]
    lines += ["", f"Null contrasts inside the same simulated cohorts ({len(nulls)}): mean "
              f"rejection {nulls['reject_raw'].mean():.4f} raw, {nulls['reject_adj'].mean():.4f} "
              "adjusted.", "", f"Run time {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
