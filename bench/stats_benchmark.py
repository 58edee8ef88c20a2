"""Run-time benchmark of the whole statistics stage: stats + plots CLIs, as the workflow runs them.

    python bench/stats_benchmark.py [--repeats 3]

A cohort of 290 participants (120/46/124) and 13 actions with planted effects is written to
a temporary folder; `python -m analysis stats` (top 10 actions, age + sex covariates) and
`python -m analysis plots` run as separate processes, so interpreter start-up and imports
are included. Budget from issue 6: under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = {"ASD": 120, "PSY": 46, "TDC": 124}
REPO = Path(__file__).resolve().parents[1]


def write_inputs(folder: Path, n_actions: int = 13, seed: int = 0) -> tuple[Path, Path]:
    """A seeded hurdle cohort: group-specific engagement and Beta intensities."""
    rng = np.random.default_rng(seed)
    engage = rng.uniform(0.3, 0.8, (n_actions, len(SIZES)))
    mean = rng.uniform(0.03, 0.12, (n_actions, len(SIZES)))
    sheet, rows = [], []
    for gi, (g, n) in enumerate(SIZES.items()):
        for i in range(n):
            pid = f"sub-{g}{i:03d}"
            age, sex = round(float(rng.normal(9, 1.8)), 2), str(rng.choice(["F", "M"]))
            sheet.append({"participant_id": pid, "group": g, "video": f"{pid}.mp4",
                          "age": age, "sex": sex})
            for a in range(n_actions):
                m = mean[a, gi]
                pt = 100 * rng.beta(20 * m, 20 * (1 - m)) if rng.random() < engage[a, gi] else 0
                rows.append({"participant_id": pid, "group": g, "age": age, "sex": sex,
                             "action": f"action {a:02d}", "percent_time": pt, "valid_s": 600})
    table_path, sheet_path = folder / "percent_time.tsv", folder / "participants.tsv"
    pd.DataFrame(rows).to_csv(table_path, sep="\t", index=False, float_format="%.6f")
    pd.DataFrame(sheet).to_csv(sheet_path, sep="\t", index=False)
    return table_path, sheet_path


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table, sheet = write_inputs(folder)
        config = folder / "config.yaml"
        config.write_text("stats:\n  covariates: [age, sex]\n  top_k: 10\n")
        py = [sys.executable, "-m", "analysis"]
        for r in range(args.repeats):
            out, figs = folder / f"stats{r}", folder / f"figures{r}"
            t_stats = timed([*py, "stats", "--percent-time", str(table), "--participants",
                             str(sheet), "--config", str(config), "--out", str(out)])
            t_plots = timed([*py, "plots", "--percent-time", str(table), "--hurdle",
                             str(out / "hurdle.tsv"), "--config", str(config), "--out",
                             str(figs)])
            n_figs = len(list(figs.glob("*.p*")))
            print(f"run {r + 1}: stats {t_stats:.2f} s, plots {t_plots:.2f} s "
                  f"({n_figs} figure files), total {t_stats + t_plots:.2f} s "
                  f"on {os.cpu_count()} CPUs", flush=True)


if __name__ == "__main__":
    main()
