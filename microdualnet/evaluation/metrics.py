"""Classification metrics as MA-52's official evaluation defines them (numpy only).

F1 follows sklearn's `f1_score` with its default label set: per-class F1 = 2TP / (2TP + FP +
FN); macro averages over the classes that occur in the labels or the predictions, so a class
of the split never predicted, or predicted but absent from the split, counts 0, and a class
in neither is left out (each averaged class has a count, so `zero_division` never applies);
micro pools the counts (equal to accuracy for single-label data). Body-level predictions are
the body map of the predicted action, as in the official code. Tied scores rank the lower
class index first, as `argmax` does, so Top-1 is the accuracy of the predicted classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

F1_KEYS = ("f1_body_macro", "f1_body_micro", "f1_action_macro", "f1_action_micro")


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """`[true, predicted]` counts."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(preds)), 1)
    return cm


def f1_micro_macro(labels: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    """(micro F1, macro F1) over the classes present in labels or predictions."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    classes = np.union1d(labels, preds)
    tp = np.array([np.sum((preds == c) & (labels == c)) for c in classes], np.float64)
    fp = np.array([np.sum((preds == c) & (labels != c)) for c in classes], np.float64)
    fn = np.array([np.sum((preds != c) & (labels == c)) for c in classes], np.float64)
    denom = 2 * tp + fp + fn
    per_class = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    micro_denom = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / micro_denom) if micro_denom else 0.0
    return micro, float(per_class.mean()) if len(classes) else 0.0


def top_k(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the k highest scores (ties: lower index
    first, so k=1 agrees with `argmax`)."""
    k = min(k, scores.shape[1])
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(best == np.asarray(labels)[:, None], axis=1)))


def f1_mean(values: Sequence[float]) -> float:
    """MA-52's F1_mean: the plain mean of body/action micro/macro F1."""
    if len(values) != 4:
        raise ValueError("F1_mean averages exactly four F1 values")
    return float(np.mean(values))


def classification_metrics(scores: np.ndarray, labels: np.ndarray,
                           body_map: Sequence[int] | None = None) -> dict[str, float]:
    """Top-1/Top-5 (percent) and, with a body map, the four F1 values and F1_mean (percent)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("no samples to evaluate")
    preds = scores.argmax(axis=1)
    out = {"top1": 100 * top_k(scores, labels, 1), "top5": 100 * top_k(scores, labels, 5),
           "n": int(len(labels))}
    a_micro, a_macro = f1_micro_macro(labels, preds)
    out.update(f1_action_micro=100 * a_micro, f1_action_macro=100 * a_macro)
    if body_map is not None:
        bmap = np.asarray(body_map)
        b_true, b_pred = bmap[labels], bmap[preds]
        b_micro, b_macro = f1_micro_macro(b_true, b_pred)
        out.update(body_top1=100 * float(np.mean(b_true == b_pred)),
                   f1_body_micro=100 * b_micro, f1_body_macro=100 * b_macro)
        out["f1_mean"] = f1_mean([out[k] for k in F1_KEYS])
    return out
