"""Figures of a run: loss/metric curves per epoch and the test confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeio.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Training loss (total, CE, MAC), validation Top-1 / F1_mean, and the learning rate."""
    plt = _pyplot()
    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key, label in (("train_loss", "total"), ("train_ce", "CE"), ("train_mac", "MAC")):
        axes[0].plot(ep, [r[key] for r in rows], marker=".", label=label)
    axes[0].set(title="training loss", xlabel="epoch")
    axes[0].legend()
    axes[1].plot(ep, [r["train_top1"] for r in rows], marker=".", label="train Top-1")
    axes[1].plot(ep, [r["val_top1"] for r in rows], marker=".", label="val Top-1")
    if all("val_f1_mean" in r for r in rows):
        axes[1].plot(ep, [r["val_f1_mean"] for r in rows], marker=".", label="val F1_mean")
    axes[1].set(title="accuracy (%)", xlabel="epoch", ylim=(0, 100))
    axes[1].legend()
    axes[2].plot(ep, [r["lr"] for r in rows], marker=".")
    axes[2].set(title="learning rate (end of epoch)", xlabel="epoch")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (recall per true class), counts in the cells."""
    plt = _pyplot()
    n = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    side = max(4.0, 0.42 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    if n <= 40:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
