"""Ablations (Tables I-IV): the same data and schedule through each model variant.

`run_ablation` trains a list of variant specs; `run_table` trains every row of one of the
paper's tables (`paper_tables.TABLES`) and sets our results beside the paper's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from microdualnet.evaluation.report import table_text
from microdualnet.model.config import ModelConfig, config_to_dict, make_config, parse_variant
from microdualnet.training.config import TrainConfig
from microdualnet.training.distributed import ranks_from_env
from microdualnet.training.loop import train
from microdualnet.training.paper_tables import PaperTable, get_table
from pipeio.atomic import atomic_write_text
from pipeio.provenance import write_provenance


def run_ablation(cfg: TrainConfig, out: str | Path, variants: list[str]) -> str:
    """Train each variant into `out/<variant>/` and write `out/ablation.{tsv,md}`.

    Finished variants are not retrained (their resume state is complete), so an interrupted
    ablation continues where it stopped. Returns the Markdown table.
    """
    specs = [parse_variant(v).canonical for v in variants]
    results = _train_all(cfg, Path(out), specs)
    rows = [(spec, results[spec][1]) for spec in specs]
    tsv, md = table_text(rows, label="Variant")
    _write(Path(out), tsv, md, cfg, specs, {"variants": specs})
    return md


def run_table(cfg: TrainConfig, out: str | Path, name: str) -> str:
    """Train every row of the paper's table `name` ("II", "IV-frames", ...) into
    `out/<variant>/` (rows whose variants give the same model share one run) and write
    `out/ablation.{tsv,md}`: our results beside the paper's. Returns the Markdown text."""
    table = get_table(name)
    specs = [parse_variant(row.variant).canonical for row in table.rows]
    results = _train_all(cfg, Path(out), specs)
    tsv, md = paper_table_text(table, [results[s] for s in specs], _describe_data(cfg))
    _write(Path(out), tsv, md, cfg, specs, {"table": name})
    return md


def _write(out: Path, tsv: str, md: str, cfg: TrainConfig, specs: list[str],
           which: dict[str, object]) -> None:
    """The results table and its provenance (the runs' metrics are its inputs), written by
    rank 0 only under torchrun (like every training file)."""
    if ranks_from_env().main:
        atomic_write_text(out / "ablation.tsv", tsv)
        atomic_write_text(out / "ablation.md", md)
        runs = [out / spec / "training" / "metrics.json" for spec in dict.fromkeys(specs)]
        write_provenance(out / "ablation.provenance.json", "train-ablation",
                         {**which, "config": cfg.model_dump(mode="json")}, runs)


def _train_all(cfg: TrainConfig, out: Path, specs: list[str]
               ) -> dict[str, tuple[str, dict[str, float]]]:
    """Train each distinct model once; spec -> (evaluated split, its metrics).

    Every spec is resolved first, so a bad one stops the ablation before any training. Two
    specs that give the same model (e.g. `frames-8` when the config samples 8 frames at the
    same stride) share the run of the first.
    """
    first: dict[str, str] = {}  # resolved model config -> the spec whose run it is
    run_of: dict[str, str] = {}
    for spec in specs:
        key = json.dumps(config_to_dict(_resolve(cfg, spec)), sort_keys=True)
        run_of[spec] = first.setdefault(key, spec)
    results: dict[str, tuple[str, dict[str, float]]] = {}
    for spec in dict.fromkeys(run_of.values()):
        vcfg = cfg.model_copy(update={
            "name": spec, "model": cfg.model.model_copy(update={"variant": spec})})
        metrics = train(vcfg, out / spec)
        results[spec] = (metrics["eval_split"], metrics[metrics["eval_split"]])
    return {spec: results[run] for spec, run in run_of.items()}


def _resolve(cfg: TrainConfig, spec: str) -> ModelConfig:
    """The model config a spec gives under `cfg` (the class count is the data's, the same
    for every spec, so any value compares them)."""
    return make_config(cfg.model.preset, spec, **{**cfg.model.overrides, "num_classes": 2})


def _describe_data(cfg: TrainConfig) -> str:
    return f"{cfg.data.root} ({cfg.data.format} layout)"


def paper_table_text(table: PaperTable, results: list[tuple[str, dict[str, float]]],
                     data: str) -> tuple[str, str]:
    """(TSV, Markdown) of `table`'s rows: the paper's row name, our variant, our Top-1 (and
    F1_mean where the data have a body level) on the evaluated split, then the paper's
    numbers with their data set. The Markdown starts with a line saying what was compared."""
    split = results[0][0]
    ours = [("top1", "Top-1")] + ([("f1_mean", "F1_mean")] if all(
        "f1_mean" in m for _, m in results) else [])
    head = (["Paper row", "Variant"] + [f"ours ({split}) {title}" for _, title in ours]
            + [c.heading for c in table.columns])
    body = []
    for row, (_, metrics) in zip(table.rows, results, strict=True):
        paper = ["-" if v is None else f"{v:.{table.decimals}f}" for v in row.paper]
        body.append([row.label, row.variant] + [f"{metrics[k]:.2f}" for k, _ in ours] + paper)
    tsv = "\t".join(head) + "\n" + "".join("\t".join(r) + "\n" for r in body)
    datasets = ", ".join(dict.fromkeys(c.dataset for c in table.columns))
    md = (f"{table.title}: ours trained on {data}, evaluated on its {split} split; the "
          f"paper's numbers ({datasets}) typed in from the paper, in percent.\n\n"
          + "| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
          + "".join("| " + " | ".join(r) + " |\n" for r in body))
    return tsv, md
