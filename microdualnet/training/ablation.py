"""Ablations (Tables II-III): the same data and schedule through each model variant."""

from __future__ import annotations

from pathlib import Path

from microdualnet.evaluation.report import table_text
from microdualnet.model.config import VARIANTS
from microdualnet.training.config import TrainConfig
from microdualnet.training.loop import train
from pipeio.atomic import atomic_write_text
from pipeio.errors import InputError


def run_ablation(cfg: TrainConfig, out: str | Path, variants: list[str]) -> str:
    """Train each variant into `out/<variant>/` and write `out/ablation.{tsv,md}`.

    Finished variants are not retrained (their resume state is complete), so an interrupted
    ablation continues where it stopped. Returns the Markdown table.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise InputError(f"unknown variant {unknown[0]!r}; expected some of {sorted(VARIANTS)}")
    out = Path(out)
    rows = []
    for variant in variants:
        vcfg = cfg.model_copy(update={
            "name": variant, "model": cfg.model.model_copy(update={"variant": variant})})
        metrics = train(vcfg, out / variant)
        rows.append((variant, metrics[metrics["eval_split"]]))
    tsv, md = table_text(rows, label="Variant")
    atomic_write_text(out / "ablation.tsv", tsv)
    atomic_write_text(out / "ablation.md", md)
    return md
