"""Whole-pipeline calibration and power: do the model's errors manufacture group differences,
and does the model path find the planted ones?

    python bench/stats_pipeline_calibration.py --model results/demo/model --seeds 0 1 2 3 4
    python bench/stats_pipeline_calibration.py --model results/demo/model --planted --seeds 1 2 3

For each seed a demo-like cohort with no planted group difference (every action's engagement
probability and intensity the same in ASD, PSY and TDC: the demo's own values averaged over
the groups) is synthesised, run through the real workflow on the model path (OpenPose JSON
pose, windowed inference with `--model`, aggregation, hurdle statistics; `model.train:
false`) and, on the truth path, its true percent time through the same statistics. It prints,
per seed and in total, the share of tests with p < 0.05 and the number of tests surviving
FDR, for the model path beside the truth path. Under the null both shares should be near
0.05 and 0 survivors; a model path far above its truth path means the model's errors differ
by group.

With `--planted` the cohorts keep the demo's planted differences (the synthetic defaults, as
`demo.seed: s` draws them) and the script prints, per seed and path, how many of the
principal effects (`principal_effects`) were found after FDR in the planted direction, which
were missed, and the false discoveries (contrasts without a planted difference surviving
FDR): the demo's power on the model path beside the truth path.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import pandas as pd
import yaml
from workflow_run import run_workflow, workflow_config

from analysis.__main__ import main as analysis_main
from microdualnet.cli import main as microdualnet_main
from microdualnet.synthetic.cohort import CohortConfig, score_planted


def null_cohort_config(per_group: int, seconds: float, seed: int) -> dict:
    """The demo cohort with every planted difference removed (group means kept)."""
    cfg = CohortConfig(groups={g: per_group for g in ("ASD", "PSY", "TDC")}, seconds=seconds,
                       seed=seed)
    data = cfg.model_dump(mode="json")
    for eff in data["effects"]:
        for part in ("engage", "intensity"):
            mean = sum(eff[part].values()) / len(eff[part])
            eff[part] = {g: round(mean, 4) for g in eff[part]}
    return data


def planted_cohort_config(per_group: int, seconds: float, seed: int) -> dict:
    """The demo cohort as `demo.seed: seed` draws it, planted differences kept."""
    return CohortConfig(groups={g: per_group for g in ("ASD", "PSY", "TDC")}, seconds=seconds,
                        seed=seed).model_dump(mode="json")


def found_effects(hurdle: pd.DataFrame, cfg: CohortConfig) -> dict:
    """Principal effects found after FDR in the planted direction, missed, false hits."""
    scored, false = score_planted(hurdle, cfg)
    return {"principal found": f"{scored['found'].sum()}/{len(scored)}",
            "missed": ", ".join(scored.loc[~scored["found"], "action"]) or "-",
            "false discoveries": false}


def run_seed(work: Path, model: Path, seed: int, per_group: int, seconds: float,
             cores: int, planted: bool) -> pd.DataFrame:
    wd = work / f"seed{seed}"
    shutil.rmtree(wd, ignore_errors=True)
    wd.mkdir(parents=True)
    cohort = (planted_cohort_config if planted else null_cohort_config)(per_group, seconds,
                                                                         seed)
    (wd / "cohort.yaml").write_text(yaml.safe_dump(cohort))
    assert microdualnet_main(["synth", "cohort", "--out", str(wd / "cohort"), "--config",
                              str(wd / "cohort.yaml"), "--workers", str(cores)]) == 0
    shutil.copytree(model, wd / "model")
    run_workflow(wd, workflow_config(demo={"enabled": False, "coders": False},
                                     results="results",
                                     participants="cohort/participants.tsv",
                                     percent_time_source="model",
                                     model={"train": False, "path": "model"},
                                     pose={"backend": "openpose",
                                           "openpose_dir": "cohort/openpose"}),
                 ["results/stats/hurdle.tsv"], cores)
    assert analysis_main(["stats", "--percent-time", str(wd / "cohort/truth_percent_time.tsv"),
                          "--participants", str(wd / "cohort/participants.tsv"),
                          "--config", str(wd / "results/stats/stats_config.yaml"),
                          "--out", str(wd / "truth_stats")]) in (0, None)
    rows = []
    for path, name in ((wd / "results/stats/hurdle.tsv", "model"),
                       (wd / "truth_stats/hurdle.tsv", "truth")):
        hurdle = pd.read_csv(path, sep="\t")
        tested = hurdle[hurdle["estimable"].astype(str).str.lower() == "true"]
        row = {"seed": seed, "path": name, "tests": len(tested),
               "p<0.05": int((tested["p"] < 0.05).sum()),
               "fdr survivors": int((tested["p_adj"] < 0.05).sum())}
        if planted:
            row.update(found_effects(hurdle, CohortConfig.model_validate(cohort)))
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="a trained demo model folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--per-group", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("results/bench/pipeline_calibration"))
    ap.add_argument("--planted", action="store_true",
                    help="keep the demo's planted differences: power instead of calibration")
    args = ap.parse_args()
    started = time.perf_counter()
    table = pd.concat([run_seed(args.work, args.model.resolve(), s, args.per_group,
                                args.seconds, args.cores, args.planted) for s in args.seeds])
    print(table.to_markdown(index=False))
    total = table.groupby("path")[["tests", "p<0.05", "fdr survivors"]].sum()
    total["share p<0.05"] = (total["p<0.05"] / total["tests"]).round(3)
    print("\n" + total.to_markdown())
    kind = "planted" if args.planted else "null"
    print(f"\n{len(args.seeds)} {kind} cohorts of {args.per_group} per group x {args.seconds:g} s, "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
