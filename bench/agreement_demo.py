"""Agreement of the demo model with synthetic human coders, by coder noise.

    python bench/agreement_demo.py --workdir . [--participants 36]
    python bench/agreement_demo.py --workdir DIR --model results/demo/model \
        --cohort-seconds 180 --cohort-seed 1

The first form needs a finished model-path demo run in `--workdir` (`demo_data/cohort/` and
`results/demo/windows/`). The second makes that run itself in `--workdir`: the demo's
config.yaml with the cohort's length and seed changed and `--model` as the trained model (no
training), run by Snakemake up to percent time (`--cores`). For each noise level it writes
two independent synthetic coders of `--participants` children (`synth coders`, seeded), runs
`python -m analysis agreement` with the workflow's decision defaults (`--credit` chooses the
span a window covers, docs/inference.md), and prints per planted action the ICC(A,1) of
percent time of the model against each coder, of the coders against each other, and of the
model against the truth (a noiseless coder). Coder noise bounds the
model-vs-coder figures: a model equal to the truth agrees with a noisy coder only as well as
the truth does, which the last table shows beside the model's figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from workflow_run import run_workflow, workflow_config

from analysis.__main__ import main as analysis_main
from analysis.aggregate import CREDITS
from microdualnet.cli import main as microdualnet_main
from microdualnet.synthetic.cohort import CohortConfig, planted_actions

LEVELS = {  # name: (jitter_s, miss, extra_per_min)
    "none": (0.0, 0.0, 0.0),
    "jitter 0.3 s": (0.3, 0.0, 0.0),
    "jitter + 10% missed": (0.3, 0.1, 0.0),
    "default (+0.5 extra/min)": (0.3, 0.1, 0.5),
}


ACCEPT_ICC = 0.85  # issue 19: model vs the demo's coders, every planted action
CODERS = ("coder1", "coder2")


def make_run(workdir: Path, model: Path, seconds: float, seed: int, cores: int,
             credit: str) -> None:
    """The model path of the demo on a cohort of `seconds`-long videos from `seed`."""
    if not (model / "model.json").is_file():
        sys.exit(f"--model {model}: no model.json there (a trained model folder is needed)")
    config = workflow_config(demo={"seconds": seconds, "seed": seed},
                             model={"train": False, "path": str(model.resolve())},
                             inference={"credit": credit})
    run_workflow(workdir, config, [Path(config["results"]) / "percent_time.tsv"], cores)


def run_level(workdir: Path, tmp: Path, name: str, noise: tuple[float, float, float],
              participants: int, seed: int, truth: Path | None, credit: str) -> pd.DataFrame:
    """One noise level's agreement table; `truth` (a noiseless coding) joins as a third
    coder, so the table also holds how well the truth itself agrees with the noisy coders."""
    cohort = workdir / "demo_data/cohort"
    out = tmp / name.replace(" ", "_")
    jitter, miss, extra = noise
    assert microdualnet_main(["synth", "coders", "--cohort", str(cohort), "--out", str(out),
                              "--participants", str(participants), "--jitter-s", str(jitter),
                              "--miss", str(miss), "--extra-per-min", str(extra),
                              "--seed", str(seed)]) == 0
    truth_arg = [f"truth={truth}"] if truth is not None else []
    assert analysis_main(["agreement", "--codings", f"coder1={out}/coder1/boris",
                          f"coder2={out}/coder2/elan", *truth_arg,
                          "--mapping", str(out / "mapping.yaml"),
                          "--windows", str(workdir / "results/demo/windows"),
                          "--durations", str(out / "durations.tsv"),
                          "--out-dir", str(out / "agreement"), "--credit", credit]) in (0, None)
    table = pd.read_csv(out / "agreement/agreement.tsv", sep="\t")
    return table.assign(noise=name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument("--participants", type=int, default=36)
    ap.add_argument("--seed", type=int, default=0, help="the coders' noise")
    ap.add_argument("--model", type=Path, help="make the run in --workdir with this model")
    ap.add_argument("--cohort-seconds", type=float, default=60.0)
    ap.add_argument("--cohort-seed", type=int, default=0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--credit", choices=CREDITS, default=workflow_config()["inference"]["credit"],
                    help="the span a window's probabilities cover (default: config.yaml's)")
    args = ap.parse_args()
    started = time.perf_counter()
    if args.model is not None:
        make_run(args.workdir, args.model, args.cohort_seconds, args.cohort_seed, args.cores,
                 args.credit)
    planted = planted_actions(CohortConfig())
    with tempfile.TemporaryDirectory() as tmp:
        truth = Path(tmp) / "none/coder1/boris"  # written by the first level, noiseless
        tables = [run_level(args.workdir, Path(tmp), name, noise, args.participants,
                            args.seed, truth if name != "none" else None, args.credit)
                  for name, noise in LEVELS.items()]
    rows = pd.concat(tables)
    every = rows[(rows["noise"] == "none") & (rows["compared"] == "model")
                 & (rows["reference"] == "coder1")].set_index("action")  # coder1: the truth
    rows = rows[rows["action"].isin(planted)]
    rows["pair"] = rows["compared"] + " vs " + rows["reference"]
    icc = rows.pivot_table(index="action", columns=["noise", "pair"], values="icc")
    truth = icc[("none", "model vs coder1")].rename("model vs truth")
    print(f"ICC(A,1) of percent time, {args.participants} demo children, planted actions, "
          f"credit {args.credit}\n")
    print("| action | model vs truth | " + " | ".join(
        f"{n}: model vs coder1 | {n}: model vs coder2 | {n}: coder2 vs coder1"
        for n in list(LEVELS)[1:]) + " |")
    print("|---|---:|" + "---:|" * (3 * (len(LEVELS) - 1)))
    for action in planted:
        cells = [f"{truth[action]:.2f}"]
        for n in list(LEVELS)[1:]:
            cells += [f"{icc.loc[action, (n, p)]:.2f}" for p in
                      ("model vs coder1", "model vs coder2", "coder2 vs coder1")]
        print(f"| {action} | " + " | ".join(cells) + " |")
    vs_coders = rows[(rows["compared"] == "model") & rows["reference"].isin(CODERS)]
    low = vs_coders.groupby("noise")["icc"].min()
    print("\nlowest model-vs-coder ICC over planted actions: "
          + ", ".join(f"{n} {low[n]:.2f}" for n in LEVELS))
    demo_level = list(LEVELS)[-1]
    print(f"lowest model-vs-truth ICC over all {len(every)} actions: "
          f"{every['icc'].min():.2f} ({every['icc'].idxmin()})")
    print(f"\nAt the demo's noise ({demo_level}), the model against the truth's own agreement "
          "with the same coders (a model equal to the truth scores the truth's column):\n")
    print("| action | model vs coder1 | truth vs coder1 | model vs coder2 | truth vs coder2 |")
    print("|---|---:|---:|---:|---:|")
    for action in planted:
        cells = [f"{icc.loc[action, (demo_level, f'{who} vs {c}')]:.2f}"
                 for c in CODERS for who in ("model", "truth")]
        print(f"| {action} | " + " | ".join(cells) + " |")
    demo = vs_coders[vs_coders["noise"] == demo_level]
    short = sorted(set(demo.loc[demo["icc"] < ACCEPT_ICC, "action"]))
    print(f"\nacceptance (ICC >= {ACCEPT_ICC} against both demo coders, every planted action): "
          + ("met" if not short else "not met: " + ", ".join(short)))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
