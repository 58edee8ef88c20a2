"""What agreement with noisy coders a perfect model could reach: the truth against synthetic coders.

    python bench/coder_noise_power.py [--cohorts 40] [--seconds 60 120 180] [--coded 12 36]
        [--miss 0.1 0.05] [--extra-per-min 0.5] [--jitter-s 0.3] [--threshold 0.85] [--jobs 2]

For each design (video length x coded children x coder noise) and each cohort seed s, the
demo's cohort (`--per-group` children per group, 25 fps, `demo.seed: s`) is drawn without
rendering (`scheduled_events`), and the same children are coded by two synthetic coders
exactly as `synth coders --seed 0 --participants N` codes them (`coded_rows`,
`coder_events`). Per planted action, ICC(A,1) of percent time: the truth against each coder,
and coder2 against coder1. A model equal to the truth scores the truth's figures; a real
model adds its own error.

Printed per design: the median and 10th percentile over cohorts of the lowest planted-action
ICC of the truth against coder1; the share of cohorts in which the truth reaches
`--threshold` against both coders for every planted action (issue 19's acceptance, for a
perfect model); the median lowest coder2-vs-coder1 ICC; and the two actions with the lowest
mean ICC against coder1. Needs no video, model or PyTorch.
"""

from __future__ import annotations

import argparse
import itertools
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from analysis.agreement.stats import icc_a1
from microdualnet.synthetic.coders import CoderNoise, CodersConfig, coded_rows, coder_events
from microdualnet.synthetic.cohort import (
    GROUPS,
    CohortConfig,
    draw_participants,
    planted_actions,
    scheduled_events,
)

RATERS = ("truth", "coder1", "coder2")


def percent_time(events: pd.DataFrame, seconds: float, actions: list[str]) -> np.ndarray:
    """Percent of the video each action's events cover (events of one action never overlap)."""
    covered = (events["end_s"] - events["start_s"]).groupby(events["action"]).sum()
    return np.array([100.0 * covered.get(a, 0.0) / seconds for a in actions])


def one_cohort(seconds: float, per_group: int, coded: int, noise: CoderNoise,
               seed: int) -> dict[tuple[str, str, str], float]:
    """ICC(A,1) per (rater, rater, planted action) on one cohort's coded children."""
    cfg = CohortConfig(groups=dict.fromkeys(GROUPS, per_group), seconds=seconds, fps=25,
                       seed=seed)
    actions = [e.action for e in cfg.effects]
    planted = planted_actions(cfg)
    participants = draw_participants(cfg)
    truth = scheduled_events(cfg, participants)
    coders = CodersConfig(noise=noise, participants=coded, seed=0)
    ratings = {r: [] for r in RATERS}
    for row in coded_rows(len(participants), coders):
        pid = participants[row].participant_id
        ratings["truth"].append(percent_time(truth[truth["participant_id"] == pid], seconds,
                                             actions))
        for k in (1, 2):
            events = coder_events(truth, pid, int(row), k, seconds, actions, coders)
            ratings[f"coder{k}"].append(percent_time(events, seconds, actions))
    table = {r: pd.DataFrame(v, columns=actions) for r, v in ratings.items()}
    return {(a, b, action): icc_a1(np.c_[table[a][action], table[b][action]]).icc
            for a, b in (("truth", "coder1"), ("truth", "coder2"), ("coder2", "coder1"))
            for action in planted}


def summarise(per_seed: list[dict[tuple[str, str, str], float]], threshold: float) -> dict:
    """One design's row of the printed table."""
    frame = pd.DataFrame(per_seed)
    lowest = {pair: frame[[c for c in frame.columns if c[:2] == pair]].min(axis=1)
              for pair in (("truth", "coder1"), ("truth", "coder2"), ("coder2", "coder1"))}
    both = np.minimum(lowest[("truth", "coder1")], lowest[("truth", "coder2")])
    vs_c1 = frame[[c for c in frame.columns if c[:2] == ("truth", "coder1")]].mean()
    weakest = vs_c1.sort_values().index[:2]
    return {
        "lowest vs coder1, median": lowest[("truth", "coder1")].median(),
        "lowest vs coder1, p10": lowest[("truth", "coder1")].quantile(0.1),
        f"P(>= {threshold:g} vs both coders)": float((both >= threshold).mean()),
        "coder2 vs coder1 lowest, median": lowest[("coder2", "coder1")].median(),
        "weakest (mean vs coder1)": ", ".join(f"{c[2]} {vs_c1[c]:.2f}" for c in weakest),
    }


def _job(args: tuple) -> dict[tuple[str, str, str], float]:
    return one_cohort(*args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cohorts", type=int, default=40, help="cohort seeds 0..N-1 per design")
    ap.add_argument("--seconds", type=float, nargs="+", default=[60, 120, 180])
    ap.add_argument("--coded", type=int, nargs="+", default=[12, 36],
                    help="coded children per cohort (the demo codes 12)")
    ap.add_argument("--per-group", type=int, default=12)
    ap.add_argument("--jitter-s", type=float, nargs="+", default=[0.3])
    ap.add_argument("--miss", type=float, nargs="+", default=[0.1, 0.05])
    ap.add_argument("--extra-per-min", type=float, nargs="+", default=[0.5])
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if max(args.coded) > 3 * args.per_group:
        ap.error(f"--coded {max(args.coded)}: the cohort has only {3 * args.per_group} children")
    designs = [(s, n, CoderNoise(jitter_s=j, miss=m, extra_per_min=e))
               for j, m, e in itertools.product(args.jitter_s, args.miss, args.extra_per_min)
               for s, n in itertools.product(args.seconds, args.coded)]
    t0 = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for seconds, coded, noise in designs:
            jobs = [(seconds, args.per_group, coded, noise, seed) for seed in range(args.cohorts)]
            per_seed = list(pool.map(_job, jobs))
            rows.append({"seconds": f"{seconds:g}", "coded": coded,
                         "noise (jitter s, miss, extra/min)":
                             f"{noise.jitter_s:g}, {noise.miss:g}, {noise.extra_per_min:g}",
                         **summarise(per_seed, args.threshold)})
            print(f"  {seconds:g} s, {coded} coded, {noise}: done "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nTruth vs synthetic coders, ICC(A,1) of percent time over the planted actions, "
          f"{args.cohorts} cohorts a design ({3 * args.per_group} children each):\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
