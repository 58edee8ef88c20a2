"""The MA-52 metrics: MANet's F1_mean, sklearn's documented examples, and an independent
per-class count implementation on random predictions."""

from __future__ import annotations

import numpy as np
import pytest

from microdualnet.evaluation.metrics import (
    classification_metrics,
    confusion_matrix,
    f1_mean,
    f1_micro_macro,
    top_k,
)


def test_manet_f1_mean_from_its_four_values():
    # Table I: body macro 72.87, body micro 78.95, action macro 49.22, action micro 61.33.
    assert round(f1_mean([72.87, 78.95, 49.22, 61.33]), 2) == 65.59


def test_sklearn_documented_example():
    # sklearn f1_score docs: y_true=[0,1,2,0,1,2], y_pred=[0,2,1,0,0,1]
    # average='macro' -> 0.2666..., 'micro' -> 0.3333...
    micro, macro = f1_micro_macro(np.array([0, 1, 2, 0, 1, 2]), np.array([0, 2, 1, 0, 0, 1]))
    assert macro == pytest.approx(0.26666666, abs=1e-7)
    assert micro == pytest.approx(0.33333333, abs=1e-7)


def _reference_f1(y_true: list[int], y_pred: list[int]) -> tuple[float, float]:
    """Per-class TP/FP/FN counted one sample at a time, sklearn's label set and zero rule."""
    labels = sorted(set(y_true) | set(y_pred))
    scores, tp_all, fp_all, fn_all = [], 0, 0, 0
    for c in labels:
        tp = fp = fn = 0
        for t, p in zip(y_true, y_pred, strict=True):
            tp += t == c and p == c
            fp += t != c and p == c
            fn += t == c and p != c
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    p_micro, r_micro = tp_all / (tp_all + fp_all), tp_all / (tp_all + fn_all)
    return 2 * p_micro * r_micro / (p_micro + r_micro), sum(scores) / len(scores)


@pytest.mark.parametrize("seed", range(5))
def test_matches_independent_counts_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(3, 12))
    y_true = rng.integers(0, n_classes, 200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, n_classes + 2, 200))
    micro, macro = f1_micro_macro(y_true, y_pred)
    ref_micro, ref_macro = _reference_f1(y_true.tolist(), y_pred.tolist())
    assert micro == pytest.approx(ref_micro, abs=1e-12)
    assert macro == pytest.approx(ref_macro, abs=1e-12)
    assert micro == pytest.approx(np.mean(y_true == y_pred))  # single-label: micro = accuracy


def test_full_metrics_body_level_and_topk():
    body_map = [0, 0, 1, 1, 2]
    labels = np.array([0, 1, 2, 3, 4, 4])
    scores = np.full((6, 5), 0.01)
    preds = [1, 1, 2, 2, 4, 0]  # action right 3/6; body right 5/6
    scores[np.arange(6), preds] = 0.9
    scores[np.arange(6), labels] += 0.05  # the label is always in the top 2
    m = classification_metrics(scores, labels, body_map)
    assert m["top1"] == pytest.approx(100 * 3 / 6)
    assert m["body_top1"] == pytest.approx(100 * 5 / 6)  # only the last: body 2 vs 0
    assert m["top5"] == 100.0
    a_micro, a_macro = _reference_f1(labels.tolist(), preds)
    # micro = accuracy 3/6; macro: 3 of the 5 classes have F1 2/3, the others 0.
    assert (a_micro, a_macro) == pytest.approx((3 / 6, 2 / 5))
    assert m["f1_action_micro"] == pytest.approx(100 * a_micro)
    assert m["f1_action_macro"] == pytest.approx(100 * a_macro)
    b_micro, b_macro = _reference_f1([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 0])
    assert m["f1_body_micro"] == pytest.approx(100 * b_micro)
    assert m["f1_body_macro"] == pytest.approx(100 * b_macro)
    assert b_micro != pytest.approx(b_macro)
    assert m["f1_mean"] == pytest.approx(np.mean([m["f1_body_macro"], m["f1_body_micro"],
                                                  m["f1_action_macro"], m["f1_action_micro"]]))
    assert top_k(scores, labels, 2) == 1.0
    assert m["n"] == 6
    # The body map as an array (e.g. read with numpy) gives the same metrics.
    assert classification_metrics(scores, labels, np.array(body_map)) == m


def test_top_k_counts_the_label_rank_by_hand():
    # 8 classes; each row's scores fall with the class index rotated so that the label sits
    # at rank 1, 2, ..., 8: top-k is then k of 8 rows.
    n = 8
    labels = np.arange(n)
    scores = np.zeros((n, n))
    for row in range(n):
        order = [(labels[row] - row + j) % n for j in range(n)]  # label at position `row`
        scores[row, order] = np.linspace(1.0, 0.1, n)
    assert [top_k(scores, labels, k) for k in (1, 2, 5)] == [1 / 8, 2 / 8, 5 / 8]
    m = classification_metrics(scores, labels)
    assert (m["top1"], m["top5"]) == pytest.approx((100 / 8, 500 / 8))


def test_without_body_map_only_topk_and_action_f1():
    m = classification_metrics(np.eye(3), np.array([0, 1, 1]))
    assert "f1_mean" not in m and m["top1"] == pytest.approx(200 / 3)
    # Top-5 of 3 classes takes all 3: every label is in it, even one ranked last.
    assert m["top5"] == 100.0


def test_no_samples_and_a_wrong_f1_count_are_refused():
    with pytest.raises(ValueError, match="no samples to evaluate"):
        classification_metrics(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="exactly four"):
        f1_mean([50.0, 60.0, 70.0])
    with pytest.raises(ValueError, match="exactly four"):
        f1_mean([50.0, 60.0, 70.0, 80.0, 90.0])
    # No samples at all: no class has a count, and both F1 values are 0 (zero_division=0).
    assert f1_micro_macro(np.zeros(0, np.int64), np.zeros(0, np.int64)) == (0.0, 0.0)


def test_confusion_matrix_rows_are_the_true_class():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]


def test_table_columns_show_the_metric_their_title_names(tmp_path):
    """Each Table I column of table_row.tsv/.md holds its own metric (distinct values here,
    so two swapped columns show)."""
    from microdualnet.evaluation.report import write_table

    titles = {"Body Top-1": "body_top1", "Action Top-1": "top1", "Action Top-5": "top5",
              "Body F1 Macro": "f1_body_macro", "Body F1 Micro": "f1_body_micro",
              "Action F1 Macro": "f1_action_macro", "Action F1 Micro": "f1_action_micro",
              "F1_mean": "f1_mean"}
    metrics = {key: 10.0 + i + i / 8 for i, key in enumerate(sorted(titles.values()))}
    write_table(tmp_path, "row", [("ours", metrics)])
    header, body = (tmp_path / "row.tsv").read_text().splitlines()
    assert header.split("\t") == ["Method", *titles]
    row = dict(zip(header.split("\t"), body.split("\t"), strict=True))
    assert row["Method"] == "ours"
    for title, key in titles.items():
        assert row[title] == f"{metrics[key]:.2f}", title
    md_head, _, md_body = (tmp_path / "row.md").read_text().splitlines()
    cells = [c.strip() for c in md_body.strip("| ").split(" | ")]
    assert dict(zip([c.strip() for c in md_head.strip("| ").split(" | ")], cells,
                    strict=True)) == row
    write_table(tmp_path, "topk", [("ours", {"top1": 12.5, "top5": 40.25})])
    assert (tmp_path / "topk.tsv").read_text() == "Method\tTop-1\tTop-5\nours\t12.50\t40.25\n"


def test_per_class_file_gives_each_class_recall_and_na_without_test_clips(tmp_path):
    """The per-class accuracy of `per_class.tsv` (the only per-class recall computed)."""
    from microdualnet.evaluation.report import write_per_class

    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 4)
    write_per_class(tmp_path / "p.tsv", ["a", "b", "c", "d"], [5, 6, 7, 8], cm)
    rows = [line.split("\t") for line in (tmp_path / "p.tsv").read_text().splitlines()[1:]]
    assert [r[3:] for r in rows] == [["2", "1", "50.00"], ["1", "1", "100.00"],
                                     ["1", "0", "0.00"], ["0", "0", "NA"]]


def test_macro_f1_leaves_out_classes_of_neither_labels_nor_predictions():
    # 5 classes; 2 and 4 neither occur nor are predicted, 3 is predicted but absent.
    labels, preds = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 3])
    micro, macro = f1_micro_macro(labels, preds)
    # class 0: F1 1; class 1: TP 1, FN 1 -> 2/3; class 3: FP 1 -> 0; averaged over 3 classes
    assert macro == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert micro == pytest.approx(3 / 4)
    scores = np.eye(5)[preds]
    m = classification_metrics(scores, labels, [0, 0, 1, 1, 2])
    assert m["f1_action_macro"] == pytest.approx(100 * 5 / 9)
    # body level: labels 0 0 0 0, predictions 0 0 0 1 -> body 0: 2*3/(6+1) = 6/7, body 1: 0
    assert m["f1_body_macro"] == pytest.approx(100 * (6 / 7) / 2)


def _rank_with_lower_index_first(row: np.ndarray, label: int) -> int:
    """The label's 0-based rank: classes scored higher, and tied classes of lower index."""
    return sum(1 for c, s in enumerate(row) if s > row[label] or (s == row[label] and c < label))


@pytest.mark.parametrize("seed", range(4))
def test_tied_scores_rank_the_lower_index_first_and_top1_is_argmax_accuracy(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 9))
    scores = rng.integers(0, 3, (300, n_classes)).astype(np.float32)  # many ties
    labels = rng.integers(0, n_classes, 300)
    ranks = np.array([_rank_with_lower_index_first(s, t) for s, t in zip(scores, labels,
                                                                          strict=True)])
    for k in (1, 2, 5):
        assert top_k(scores, labels, k) == pytest.approx(np.mean(ranks < k)), k
    m = classification_metrics(scores, labels)
    accuracy = 100 * np.mean(scores.argmax(1) == labels)
    assert m["top1"] == pytest.approx(accuracy) and m["f1_action_micro"] == pytest.approx(accuracy)
    cm = confusion_matrix(labels, scores.argmax(1), n_classes)
    assert 100 * np.trace(cm) / cm.sum() == pytest.approx(m["top1"])


def test_softmax_zeros_tie_at_the_bottom_of_top5():
    # A saturated softmax: one class takes all the probability, the other classes tie at 0.
    scores = np.zeros((3, 52), np.float32)
    scores[:, 10] = 1.0
    labels = np.array([3, 4, 30])  # ranks 4, 5 and 30 among the tied zeros (lower index first)
    assert top_k(scores, labels, 5) == pytest.approx(1 / 3)
