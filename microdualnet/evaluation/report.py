"""Result files: the Table-I style row (TSV + Markdown) and per-class accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeio.atomic import atomic_write_text

# (metric key, Table I column) in the paper's order.
MA52_COLUMNS = (
    ("body_top1", "Body Top-1"), ("top1", "Action Top-1"), ("top5", "Action Top-5"),
    ("f1_body_macro", "Body F1 Macro"), ("f1_body_micro", "Body F1 Micro"),
    ("f1_action_macro", "Action F1 Macro"), ("f1_action_micro", "Action F1 Micro"),
    ("f1_mean", "F1_mean"),
)
TOPK_COLUMNS = (("top1", "Top-1"), ("top5", "Top-5"))


def table_columns(metrics: dict[str, float]) -> tuple[tuple[str, str], ...]:
    """MA-52 columns when the metrics have a body level, else iMiGUE's Top-1/Top-5."""
    return MA52_COLUMNS if "f1_mean" in metrics else TOPK_COLUMNS


def table_text(rows: Sequence[tuple[str, dict[str, float]]], label: str = "Method"
               ) -> tuple[str, str]:
    """(TSV, Markdown) of one row per (name, metrics), values in percent with 2 decimals."""
    cols = table_columns(rows[0][1])
    head = [label] + [title for _, title in cols]
    body = [[name] + [f"{m[key]:.2f}" for key, _ in cols] for name, m in rows]
    tsv = "\t".join(head) + "\n" + "".join("\t".join(r) + "\n" for r in body)
    md = ("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
          + "".join("| " + " | ".join(r) + " |\n" for r in body))
    return tsv, md


def write_table(folder: Path, stem: str, rows: Sequence[tuple[str, dict[str, float]]],
                label: str = "Method") -> None:
    tsv, md = table_text(rows, label)
    atomic_write_text(folder / f"{stem}.tsv", tsv)
    atomic_write_text(folder / f"{stem}.md", md)


def write_per_class(path: Path, names: Sequence[str], label_ids: Sequence[int],
                    cm: np.ndarray) -> None:
    """class index, label id, name, test clips, correct, accuracy (%)."""
    lines = ["index\tlabel_id\tname\tn\tcorrect\taccuracy"]
    for i, (lab, name) in enumerate(zip(label_ids, names, strict=True)):
        n, correct = int(cm[i].sum()), int(cm[i, i])
        acc = f"{100 * correct / n:.2f}" if n else "NA"
        lines.append(f"{i}\t{lab}\t{name}\t{n}\t{correct}\t{acc}")
    atomic_write_text(path, "\n".join(lines) + "\n")
