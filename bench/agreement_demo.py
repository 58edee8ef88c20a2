"""Agreement of the demo model with synthetic human coders, by coder noise.

    python bench/agreement_demo.py --workdir . [--participants 36]

Needs a finished model-path demo run in `--workdir` (`demo_data/cohort/` and
`results/demo/windows/`). For each noise level it writes two independent synthetic coders of
`--participants` children (`synth coders`, seeded), runs `python -m analysis agreement` with
the workflow's decision defaults, and prints per planted action the ICC(A,1) of percent time
of the model against each coder, of the coders against each other, and of the model against
the truth (a noiseless coder). Coder noise bounds the model-vs-coder figures: a model equal
to the truth agrees with a noisy coder only as well as the truth does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from analysis.__main__ import main as analysis_main
from microdualnet.cli import main as microdualnet_main
from microdualnet.synthetic.cohort import default_effects

LEVELS = {  # name: (jitter_s, miss, extra_per_min)
    "none": (0.0, 0.0, 0.0),
    "jitter 0.3 s": (0.3, 0.0, 0.0),
    "jitter + 10% missed": (0.3, 0.1, 0.0),
    "default (+0.5 extra/min)": (0.3, 0.1, 0.5),
}


def planted_actions() -> list[str]:
    """Actions with a planted group difference (the demo's principal effects)."""
    out = []
    for eff in default_effects():
        if len(set(eff.engage.values())) > 1 or len(set(eff.intensity.values())) > 1:
            out.append(eff.action)
    return out


def run_level(workdir: Path, tmp: Path, name: str, noise: tuple[float, float, float],
              participants: int, seed: int) -> pd.DataFrame:
    cohort = workdir / "demo_data/cohort"
    out = tmp / name.replace(" ", "_")
    jitter, miss, extra = noise
    assert microdualnet_main(["synth", "coders", "--cohort", str(cohort), "--out", str(out),
                              "--participants", str(participants), "--jitter-s", str(jitter),
                              "--miss", str(miss), "--extra-per-min", str(extra),
                              "--seed", str(seed)]) == 0
    assert analysis_main(["agreement", "--codings", f"coder1={out}/coder1/boris",
                          f"coder2={out}/coder2/elan", "--mapping", str(out / "mapping.yaml"),
                          "--windows", str(workdir / "results/demo/windows"),
                          "--durations", str(out / "durations.tsv"),
                          "--out-dir", str(out / "agreement")]) in (0, None)
    table = pd.read_csv(out / "agreement/agreement.tsv", sep="\t")
    return table.assign(noise=name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("."))
    ap.add_argument("--participants", type=int, default=36)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    started = time.perf_counter()
    planted = planted_actions()
    with tempfile.TemporaryDirectory() as tmp:
        tables = [run_level(args.workdir, Path(tmp), name, noise, args.participants,
                            args.seed) for name, noise in LEVELS.items()]
    rows = pd.concat(tables)
    rows = rows[rows["action"].isin(planted)]
    rows["pair"] = rows["compared"] + " vs " + rows["reference"]
    icc = rows.pivot_table(index="action", columns=["noise", "pair"], values="icc")
    truth = icc[("none", "model vs coder1")].rename("model vs truth")
    print(f"ICC(A,1) of percent time, {args.participants} demo children, planted actions\n")
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
    low = rows[rows["compared"] == "model"].groupby("noise")["icc"].min()
    print("\nlowest model-vs-coder ICC over planted actions: "
          + ", ".join(f"{n} {low[n]:.2f}" for n in LEVELS))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
