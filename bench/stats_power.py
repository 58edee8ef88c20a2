"""Power of the demo to find its principal planted effects after FDR, by cohort design.

    python bench/stats_power.py --nsim 100 --jobs 1

The truth path: for each design (participants per group x seconds per video) and each seed,
the demo cohort's events are drawn exactly as `synth cohort` draws them
(`microdualnet.synthetic.cohort.draw_participants` and `schedule_events` with the
participant's own stream, including the dropping of events from over-full videos), turned
into true percent time, and analysed as the demo's `stats:` section analyses it (preset
recommended: top 10 actions by mean percent time, engagement Wald z, intensity permutation
test, one BH family over all tests). Seed s is the cohort of `demo.seed: s`; seed 0 at 12
per group and 60 s is the shipped demo's own truth.

A principal effect is, for each action and part with a planted group difference, the
contrast with the largest planted difference on the logit scale (the effects of
`microdualnet.synthetic.cohort.default_effects`, or of a cohort_config.yaml given with
--cohort-config). It counts as found when the action is among the analysed ten, p_adj <
alpha, and the estimated direction is the planted one. The script prints per design: the
smallest power over the principal effects, their mean, the share of runs that find all of
them, and the mean number of null contrasts (no planted difference) surviving FDR; then the
power of each principal effect per design, and how often its action was among the ten
analysed (the top 10 by mean percent time out of the cohort's 13 actions). `--out` keeps
every run's rows; `--summarise` prints the tables again from such files (several may be
given) without simulating.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

from analysis.config import StatsConfig
from analysis.hurdle import run_hurdle
from analysis.selection import select_actions
from microdualnet.synthetic.cohort import (
    CohortConfig,
    principal_effects,
    scheduled_truth,
    score_planted,
)
from pipeio.atomic import atomic_path

GROUPS = ["ASD", "PSY", "TDC"]
PER_GROUP = (12, 16, 20, 24, 30)
SECONDS = (60, 90, 120)
DEMO = (12, 60)  # the shipped demo's design
COLUMNS = ["per_group", "seconds", "seed", "action", "part", "contrast", "planted", "analysed",
           "found", "false_discoveries"]  # one row per seed x principal effect (--out)


def base_config(cohort_config: Path | None) -> CohortConfig:
    """The demo cohort's generator settings (effects, precision, fps 25 as config.yaml)."""
    if cohort_config is not None:
        return CohortConfig.model_validate(yaml.safe_load(cohort_config.read_text()))
    return CohortConfig(fps=25)


def run_design(base: CohortConfig, per_group: int, seconds: int, seeds: list[int],
               permutations: int, alpha: float) -> pd.DataFrame:
    """One row per seed x principal effect (found or not), plus the false discoveries."""
    stats_cfg = StatsConfig(groups=GROUPS, permutations=permutations)
    out = []
    for seed in seeds:
        cfg = base.model_copy(update={"groups": dict.fromkeys(GROUPS, per_group),
                                      "seconds": float(seconds), "seed": seed})
        table = scheduled_truth(cfg)
        actions = select_actions(table, stats_cfg.top_k, stats_cfg.actions)
        scored, false = score_planted(run_hurdle(table, GROUPS, actions, stats_cfg), cfg,
                                      alpha)
        out.append(scored.assign(
            per_group=per_group, seconds=seconds, seed=seed,
            analysed=scored["action"].isin(actions), false_discoveries=false)[COLUMNS])
    return pd.concat(out, ignore_index=True)


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per design: min and mean power over the principal effects, P(all found), false hits."""
    rows = []
    for (n, s), d in runs.groupby(["per_group", "seconds"]):
        power = d.groupby(["action", "part"])["found"].mean()
        per_seed = d.groupby("seed")
        rows.append({"per_group": n, "seconds": s, "runs": per_seed.ngroups,
                     "min_power": power.min(), "weakest": " / ".join(power.idxmin()),
                     "mean_power": power.mean(),
                     "all_found": per_seed["found"].all().mean(),
                     "false_discoveries": per_seed["false_discoveries"].first().mean(),
                     "video_s": 3 * n * s})
    return pd.DataFrame(rows)


def effect_table(runs: pd.DataFrame, column: str) -> list[str]:
    """Markdown rows: one principal effect per row, one design per column."""
    table = runs.groupby(["action", "part", "contrast", "planted", "per_group", "seconds"],
                         sort=False)[column].mean().unstack(["per_group", "seconds"])
    table = table[sorted(table.columns)]
    lines = ["| effect | " + " | ".join(f"{n}/{s}" for n, s in table.columns) + " |",
             "|---|" + "---:|" * len(table.columns)]
    for (action, part, contrast, planted), row in table.iterrows():
        label = f"{action} {'Prob.' if part == 'engagement' else '%'} {contrast} ({planted})"
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return lines


def report(runs: pd.DataFrame) -> None:
    """Print the design summary and the per-effect tables."""
    demo_video_s = 3 * DEMO[0] * DEMO[1]
    print("\n| per group | seconds | runs | video time vs demo | min power | weakest | "
          "mean power | all found | false discoveries / run |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in summary(runs).sort_values(["per_group", "seconds"]).itertuples():
        print(f"| {r.per_group} | {r.seconds} | {r.runs} | {r.video_s / demo_video_s:.2f}x | "
              f"{r.min_power:.2f} | {r.weakest} | {r.mean_power:.2f} | {r.all_found:.2f} | "
              f"{r.false_discoveries:.2f} |")
    print("\nPower per principal effect (found after FDR with the planted direction), "
          "columns per group/seconds\n")
    print("\n".join(effect_table(runs, "found")))
    print("\nShare of runs in which the effect's action was among the ten analysed\n")
    print("\n".join(effect_table(runs, "analysed")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsim", type=int, default=100, help="seeds per design")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--per-group", type=int, nargs="+", default=list(PER_GROUP))
    parser.add_argument("--seconds", type=int, nargs="+", default=list(SECONDS))
    parser.add_argument("--permutations", type=int, default=1999,
                        help="per intensity test (the stage: 9999; 1999 keeps the smallest "
                        "p at 0.0005, below what BH over 60 tests needs at rank 1)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cohort-config", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="write every run's rows here (TSV) for later summaries")
    parser.add_argument("--summarise", type=Path, nargs="+", default=None,
                        help="print the tables from these --out files instead of simulating")
    args = parser.parse_args()
    if args.summarise:
        report(pd.concat([pd.read_csv(p, sep="\t") for p in args.summarise],
                         ignore_index=True))
        return
    base = base_config(args.cohort_config)
    seeds = list(range(args.first_seed, args.first_seed + args.nsim))
    designs = [(n, s) for n in args.per_group for s in args.seconds]
    chunks = [seeds[i::max(1, args.jobs)] for i in range(max(1, args.jobs))]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_design, base, n, s, chunk, args.permutations, args.alpha)
                for n, s in designs for chunk in chunks if chunk]
        runs = pd.concat([j.result() for j in jobs], ignore_index=True)
    if args.out:
        with atomic_path(args.out) as tmp:
            runs.to_csv(tmp, sep="\t", index=False)
    print(f"Truth path, preset recommended ({args.permutations} permutations per intensity "
          f"test), alpha {args.alpha}, seeds {seeds[0]}-{seeds[-1]} ({args.nsim} cohorts per "
          "design). Principal effects:")
    for eff in principal_effects(base).itertuples():
        print(f"  {eff.action} {eff.part} {eff.contrast} (planted {eff.planted})")
    report(runs)
    print(f"\n{time.perf_counter() - t0:.0f} s with {args.jobs} worker(s)")


if __name__ == "__main__":
    main()
