"""Evaluate a trained model folder on a labelled split, as `train` evaluates its test split.

The model's own contract (model.json: frames, stride, input size, view, normalisation, the
training clips' frame rate) decides how clips become input, never options here; the clips
go through the same dataset, loader and forward pass as training's evaluation, so a
model evaluated on its own test split reproduces the metrics `train` recorded (when training
read the clips without `data.cache`, which samples from frames kept at the stride).

Output folder (written whole, atomically)::

    metrics.json      the split, the model's digest, clip counts and the metrics
    per_class.tsv     index, label_id, name, n, correct, accuracy
    confusion.png     row-normalised confusion matrix with counts
    table_row.tsv/.md the Table I row (MA-52 columns with a body level, else Top-1/Top-5)
    predictions.tsv   clip, label_id, predicted_id, p_label, p_predicted
    provenance.json   parameters (model digest, split), input hashes, versions
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from microdualnet.contract import ModelContract, read_contract
from microdualnet.data import sources
from microdualnet.data.dataset import ClipDataset, ViewSpec
from microdualnet.data.framerate import TOLERANCE, training_fps
from microdualnet.data.labelmap import LabelMap
from microdualnet.data.personcrop import MIN_CONF
from microdualnet.data.records import ClipRecord
from microdualnet.evaluation.metrics import classification_metrics, confusion_matrix
from microdualnet.evaluation.report import write_per_class, write_table
from microdualnet.inference.runner import resolve_device
from microdualnet.model.checkpoint import load_checkpoint
from microdualnet.training import figures
from microdualnet.training.badclips import BadClips
from microdualnet.training.loop import make_loader, predict, warn_if_oversubscribed
from pipeio.atomic import atomic_write_text, staged_directory
from pipeio.errors import InputError
from pipeio.modelfiles import META_FILE, check_model_folder, model_digest
from pipeio.provenance import write_provenance

FORMATS = ("ma52", "imigue", "synthetic")


@dataclass(frozen=True)
class EvalOptions:
    """How to run, not what the model sees (that is the model's contract)."""

    batch_size: int = 32
    workers: int = 2
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False  # float16 autocast on CUDA: faster, metrics may move in the last digits
    threads: int | None = None
    progress: bool = True
    max_bad_clips: int = 0
    name: str | None = None  # method name in the Table I row (default: the model folder's)
    model_fps: float | None = None  # a format-1 model folder's training clip rate
    overwrite: bool = False


def label_source(fmt: str, root: Path) -> str:
    """Where the split's class table comes from, for error messages."""
    if fmt == "imigue":
        return "the iMiGUE class table"
    path = root / "label_map.tsv"
    return str(path) if path.is_file() else "the MA-52 class table"


def data_labels(fmt: str, root: Path) -> LabelMap:
    """The split's class table; the synthetic layout must bring its own label map."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not known (known: {', '.join(FORMATS)})")
    if fmt == "synthetic" and root.is_dir() and not (root / "label_map.tsv").is_file():
        raise InputError(f"{root}: no label_map.tsv, which synthetic clip folders carry "
                         "(an MA-52 folder is --format ma52)")
    return sources.label_map(fmt, root)


def check_classes(contract: ModelContract, labels: LabelMap, fmt: str, root: Path) -> None:
    """The model's classes are the data's, in the same order, or a one-line error naming both."""
    model_names, data_names = contract.class_names, labels.names
    source = label_source(fmt, root)
    where = f"model {contract.folder} has {len(model_names)} classes, {source} has " \
            f"{len(data_names)}"
    if len(model_names) != len(data_names):
        raise InputError(f"{where}: the model was trained on other classes (model: "
                         f"{_preview(model_names)}; data: {_preview(data_names)})")
    for i, (mine, theirs) in enumerate(zip(model_names, data_names, strict=True)):
        if mine != theirs:
            raise InputError(f"{where}: class {i} is {mine!r} in the model and {theirs!r} "
                             "in the data")
    recorded = contract.meta.get("metrics") or {}
    if not isinstance(recorded, dict):  # hand-edited: .get would end in a traceback
        raise InputError(f"{contract.folder / META_FILE}: key 'metrics' must be an object, "
                         f"got {recorded!r}")
    ids = recorded.get("label_ids")
    if ids is not None and not (isinstance(ids, list) and len(ids) == len(model_names) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        # Checked first: a damaged list would end in a traceback or blame a matching class.
        raise InputError(f"{contract.folder / META_FILE}: key 'metrics.label_ids' must list "
                         f"one label id per class ({len(model_names)}), got {ids!r}")
    if ids is not None and ids != list(labels.label_ids):
        pairs = enumerate(zip(ids, labels.label_ids, strict=False))
        first = next((i for i, (a, b) in pairs if a != b), 0)
        raise InputError(f"{where}: class {first} ({model_names[first]!r}) has label id "
                         f"{ids[first]} in the model and {labels.label_ids[first]} in the data")


def _preview(names: tuple[str, ...], shown: int = 4) -> str:
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def clip_stride(contract: ModelContract, fps: float, listing: Path) -> int:
    """The model's stride in the split's frames: the time between its frames in training
    (`frame_stride / fps`) where that is a whole number of the split's frames; otherwise
    refused, as the model would see another time span than in training."""
    ratio = fps / contract.fps
    stride = round(contract.frame_stride * ratio)
    if stride < 1 or abs(stride - contract.frame_stride * ratio) > TOLERANCE * stride:
        raise InputError(f"{listing}: clips at {fps:g} fps; model {contract.folder} was trained "
                         f"on clips at {contract.fps:g} fps with frame_stride "
                         f"{contract.frame_stride}, which is no whole number of frames at "
                         f"{fps:g} fps; re-encode the clips at {contract.fps:g} fps")
    return stride


def eval_dataset(contract: ModelContract, uses_keypoints: bool, records: list[ClipRecord],
                 stride: int) -> ClipDataset:
    """The clips as training's evaluation shows them to the model, from the contract alone."""
    need_pose = uses_keypoints or contract.view.kind == "person"
    spec = ViewSpec(contract.frames, stride, contract.input_size, need_pose, train=False,
                    view=contract.view.kind, margin=contract.view.margin,
                    source_short=contract.view.source_short_side)
    return ClipDataset(records, spec)


def evaluate(model_dir: str | Path, root: str | Path, fmt: str, split: str, out: str | Path,
             opts: EvalOptions = EvalOptions()) -> dict[str, Any]:
    """Evaluate `model_dir` on split `split` of the data set at `root`; write `out`; return
    the metrics.json contents."""
    model_dir, root, out = Path(model_dir), Path(root), Path(out)
    check_model_folder(model_dir)
    contract = read_contract(model_dir, opts.model_fps)
    if contract.view.kind == "person" and contract.view.min_joint_confidence != MIN_CONF:
        raise InputError(f"{model_dir / META_FILE}: key 'view.min_joint_confidence' is "
                         f"{contract.view.min_joint_confidence}; clip evaluation crops with "
                         f"{MIN_CONF} only")
    labels = data_labels(fmt, root)
    check_classes(contract, labels, fmt, root)
    listing = sources.split_file(fmt, root, split)
    bad = BadClips(opts.max_bad_clips, setting="--max-bad-clips")
    records, problems = sources.read_split(fmt, root, split, labels)
    bad.add_all((p.file, str(p)) for p in problems)
    if not records:
        raise InputError(f"{listing}: split {split!r} has no usable clips")
    sources.refuse_dummy_labels(records, labels, listing,
                                "evaluate a split with real labels, e.g. --split val")
    fps = training_fps(records)
    stride = clip_stride(contract, fps, listing)

    if opts.threads:
        torch.set_num_threads(opts.threads)
        warn_if_oversubscribed("--threads", opts.threads)
    device = resolve_device(opts.device)
    amp = opts.amp and device.type == "cuda"
    model = load_checkpoint(model_dir, device=device).model
    dataset = eval_dataset(contract, model.cfg.uses_keypoints, records, stride)
    loader = make_loader(dataset, opts.batch_size, opts.workers, False, 0)
    scores, y, index = predict(model, _progress(loader, split, opts.progress), device, amp,
                               bad, split, records)
    result = classification_metrics(scores, y, labels.body_ids)
    cm = confusion_matrix(y, scores.argmax(1), labels.num_classes)
    name = opts.name or model_dir.resolve().name
    report = {
        "model": str(model_dir), "model_digest": model_digest(model_dir),
        "data_root": str(root), "format": fmt, "split": split, "split_list": str(listing),
        "clips_listed": len(records) + len(problems), "clips_evaluated": int(len(y)),
        "bad_clips": bad.count, "clip_fps": fps, "frame_stride": stride,
        "device": device.type, "amp": amp, "metrics": result,
    }
    params = {k: report[k] for k in ("model", "model_digest", "data_root", "format", "split")}
    params.update(batch_size=opts.batch_size, device=device.type, amp=amp,
                  max_bad_clips=opts.max_bad_clips, name=name)
    with staged_directory(out, overwrite=opts.overwrite) as stage:
        atomic_write_text(stage / "metrics.json", json.dumps(report, indent=2) + "\n")
        write_per_class(stage / "per_class.tsv", labels.names, labels.label_ids, cm)
        figures.plot_confusion(cm, labels.names, stage / "confusion.png",
                               f"{name}: {split} split, Top-1 {result['top1']:.1f}%")
        write_table(stage, "table_row", [(f"{name} ({split})", result)])  # as train names it
        write_predictions(stage / "predictions.tsv", [records[i].name for i in index], y,
                          scores, labels)
        write_provenance(stage / "provenance.json", "evaluate", params=params,
                         inputs=[listing, root / "label_map.tsv", model_dir / META_FILE])
    return report
def write_predictions(path: Path, clips: list[str], labels: np.ndarray, scores: np.ndarray,
                      lm: LabelMap) -> None:
    """One row per evaluated clip: its label, the predicted class and both probabilities,
    for looking at the errors behind the metrics."""
    preds = scores.argmax(1)
    rows = ["clip\tlabel_id\tpredicted_id\tp_label\tp_predicted"] + [
        f"{clip}\t{lm.label_ids[t]}\t{lm.label_ids[p]}\t{s[t]:.6f}\t{s[p]:.6f}"
        for clip, t, p, s in zip(clips, labels, preds, scores, strict=True)]
    atomic_write_text(path, "\n".join(rows) + "\n")


def _progress(loader, split: str, enabled: bool):
    """The loader behind a tqdm bar on stderr (batches)."""
    from tqdm import tqdm

    return tqdm(loader, total=len(loader), desc=f"evaluate {split}", unit="batch",
                disable=not enabled, leave=False, file=sys.stderr)
