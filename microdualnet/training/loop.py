"""One training run: data, model, SGD with warmup + cosine, per-epoch validation and resume
state, best model by validation F1_mean (Top-1 without a body level), final test report.

Under `torchrun` the processes share every global batch (training/distributed.py); rank 0
alone validates, writes files and shows progress, so the outputs are those of one process.

Output folder layout (the folder itself is the model folder inference reads)::

    model.safetensors, model.json   best epoch's weights; metrics hold val + test results
    labels.tsv                      class index -> dataset label id, name, body id
    provenance.json
    training/config.yaml, log.jsonl, state.pt, curves.png, confusion.png,
             per_class.tsv, table_row.tsv, table_row.md, metrics.json
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from microdualnet.contract import View
from microdualnet.data import sources
from microdualnet.data.dataset import Batch, ClipCache, ClipDataset, ViewSpec, collate
from microdualnet.data.framerate import training_fps
from microdualnet.data.labelmap import LabelMap
from microdualnet.data.records import ClipRecord
from microdualnet.evaluation.metrics import classification_metrics, confusion_matrix
from microdualnet.evaluation.report import write_per_class, write_table
from microdualnet.model.checkpoint import load_checkpoint, save_checkpoint
from microdualnet.model.config import ModelConfig, make_config
from microdualnet.model.losses import compute_loss
from microdualnet.model.network import MicroDualNet
from microdualnet.training import distributed, figures, resumption, runlog, state
from microdualnet.training.badclips import BadClips
from microdualnet.training.config import TrainConfig, config_to_yaml
from microdualnet.training.distributed import Ranks
from microdualnet.training.schedule import lr_at
from pipeio.atomic import atomic_write_text
from pipeio.errors import InputError
from pipeio.provenance import git_commit, write_provenance


@dataclass
class RunData:
    labels: LabelMap
    splits: dict[str, list[ClipRecord]]  # "train", "val", and "test" when configured
    fps: float  # the clips' frame rate, measured (model.json `fps`)


def load_data(cfg: TrainConfig, bad: BadClips) -> RunData:
    d = cfg.data
    labels = sources.label_map(d.format, d.root)
    splits = {}
    for role, name in (("train", d.train_split), ("val", d.val_split), ("test", d.test_split)):
        if name is None:
            continue
        records, problems = sources.read_split(d.format, d.root, name, labels)
        bad.add_all((p.file, str(p)) for p in problems)
        if not records:
            raise InputError(f"{d.root}: split {name!r} has no usable clips")
        if role != "train":  # scores on them would measure nothing
            sources.refuse_dummy_labels(
                records, labels, sources.split_file(d.format, d.root, name),
                f"set data.{role}_split to a split with real labels"
                + (" (null: the test scores are val's)" if role == "test" else ""))
        splits[role] = records
    return RunData(labels, splits, training_fps([r for rs in splits.values() for r in rs]))


def warn_untrained_classes(cfg: TrainConfig, data: RunData) -> None:
    """One `warning:` line naming the classes that val or test clips carry but no training
    clip does (a split list with wrong labels, or every clip of a class unreadable): the
    model cannot learn them, and the scores would otherwise not say why they are missed.
    A warning, not an error: a protocol may hold a class out of training on purpose."""
    trained = {r.label for r in data.splits["train"]}
    lm = data.labels
    for role in ("val", "test"):
        counts: dict[int, int] = {}
        for r in data.splits.get(role, ()):
            if r.label not in trained:
                counts[r.label] = counts.get(r.label, 0) + 1
        if counts:
            named = ", ".join(f"{lm.label_ids[i]} ({lm.names[i]!r}, {n} clips)"
                              for i, n in sorted(counts.items())[:5])
            more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
            split = getattr(cfg.data, f"{role}_split")
            print(f"warning: split {split!r} has clips of {len(counts)} "
                  f"class{'es' if len(counts) > 1 else ''} that the training split "
                  f"{cfg.data.train_split!r} has none of: {named}{more}; the model cannot "
                  "learn them", file=sys.stderr)


# Model fields a training config may not set: the label map gives the classes, and the data
# loaders normalise with ImageNet's statistics only (the model folder records them).
NOT_OVERRIDABLE = {"num_classes": "the number of classes comes from the label map",
                   "pixel_mean": "the loaders normalise with ImageNet's mean and std only",
                   "pixel_std": "the loaders normalise with ImageNet's mean and std only"}


def model_config(cfg: TrainConfig, num_classes: int) -> ModelConfig:
    for key, why in NOT_OVERRIDABLE.items():
        if key in cfg.model.overrides:
            raise InputError(f"model.overrides.{key}: not settable ({why})")
    return make_config(cfg.model.preset, cfg.model.variant, num_classes=num_classes,
                       **cfg.model.overrides)


def pick_device(cfg: TrainConfig, ranks: Ranks = distributed.ONE) -> torch.device:
    """The configured device; under torchrun each process takes the GPU of its local rank."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("device: cuda requested but CUDA is not available")
    kind = cfg.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu" or not ranks.active:
        return torch.device(kind)
    if ranks.local_rank >= torch.cuda.device_count():
        raise InputError(f"LOCAL_RANK={ranks.local_rank}: only {torch.cuda.device_count()} "
                         f"GPUs visible; start at most that many processes per node")
    return torch.device("cuda", ranks.local_rank)


def warn_if_oversubscribed(what: str, count: int) -> None:
    """One line on stderr when `count` threads or worker processes exceed this machine's
    usable cores: torch slows down many times over (64 threads on 2 cores: 19x) silently."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if count > cores:
        print(f"warning: {what}={count} is more than the {cores} CPU cores available; "
              f"expect a slower run (at most {cores} is usually fastest)", file=sys.stderr)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False


def forward(model: torch.nn.Module, batch, device: torch.device, amp: bool,
            mcfg: ModelConfig | None = None):
    """The model's output on a batch; `mcfg` is needed when `model` wraps the network (DDP)."""
    mcfg = mcfg or model.cfg
    video = batch.video.to(device, non_blocking=True) if mcfg.uses_cnn else None
    kp = batch.keypoints.to(device, non_blocking=True) if mcfg.uses_keypoints else None
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
        return model(video, kp)


def make_optimizer(model: MicroDualNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum,
                           weight_decay=o.weight_decay)


def make_loader(ds: ClipDataset, batch_size: int, workers: int, train: bool,
                seed: int) -> DataLoader:
    gen = torch.Generator()
    gen.manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=train, drop_last=train,
                      num_workers=workers, collate_fn=collate, generator=gen,
                      pin_memory=False)


def predict(model: MicroDualNet, loader: Iterable[Batch], device: torch.device, amp: bool,
            bad: BadClips, key: str, records: Sequence[ClipRecord] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax scores `[N, C]`, labels `[N]` and dataset indices `[N]` of every readable clip
    (unreadable ones are added to `bad` under `key`). `records` (the dataset's, by index)
    name a clip the model scores NaN as its user knows it, not by its index."""
    model.eval()
    scores, labels, index = [], [], []
    with torch.inference_mode():
        for batch in loader:
            bad.add_all((f"{key}:{f.index}", f.reason) for f in batch.failures)
            if len(batch):
                logits = forward(model, batch, device, amp).logits.float()
                if amp and not bool(torch.isfinite(logits).all()):  # float16 overflowed
                    logits = forward(model, batch, device, False).logits.float()
                broken = (~torch.isfinite(logits).all(dim=1)).nonzero().flatten().cpu()
                if len(broken):
                    # softmax would give NaN scores, which every metric counts as the first
                    # class predicted: the best epoch would be chosen on made-up numbers.
                    # With AMP these are float32's already, so running without it won't help.
                    first = int(batch.indices[broken[0]])
                    clip = (f"{records[first].name} in {records[first].video}" if records
                            else f"{first} of the split")
                    raise InputError(f"{key} split: the model gives NaN or infinite scores "
                                     f"{'(in float32 too) ' if amp else ''}for {len(broken)} "
                                     f"of {len(batch)} clips of a batch (first: clip {clip})")
                scores.append(torch.softmax(logits, dim=1).cpu().numpy())
                labels.append(batch.labels.numpy())
                index.append(batch.indices.numpy())
    if not scores:
        raise InputError(f"{key} split: no readable clips to evaluate")
    return np.concatenate(scores), np.concatenate(labels), np.concatenate(index)


def build_datasets(cfg: TrainConfig, data: RunData, mcfg: ModelConfig
                   ) -> tuple[dict[str, ClipDataset], int]:
    """The clip datasets of every split in the model's view, and the DataLoader workers."""
    d = cfg.data
    need_pose = mcfg.uses_keypoints or d.view == "person"
    view = model_view(cfg, mcfg)
    specs = {role: ViewSpec(mcfg.num_frames, mcfg.frame_stride, mcfg.input_size, need_pose,
                            train=role == "train", scale=d.scale, flip_p=d.flip_p, view=d.view,
                            margin=d.margin, shift=d.shift, source_short=view.source_short_side)
             for role in data.splits}
    cache_short = view.source_short_side or mcfg.input_size
    out = {}
    for role, records in data.splits.items():
        cache = None
        if d.cache:
            cache = ClipCache.build(records, mcfg.frame_stride, cache_short, need_pose,
                                    d.workers)
        out[role] = ClipDataset(records, specs[role], seed=cfg.seed, cache=cache)
    return out, 0 if d.cache else d.workers


def model_view(cfg: TrainConfig, mcfg: ModelConfig) -> View:
    """How frames become model input, for inference to repeat (model.json `view`). The
    person view crops a part of the frame, so it starts from frames at twice the input
    size (the clip cache keeps them so; without the cache they are brought there first)."""
    d = cfg.data
    if d.view == "person":
        return View("person", d.margin, source_short_side=2 * mcfg.input_size)
    return View("full")


def _selection_score(metrics: dict[str, float]) -> float:
    return metrics.get("f1_mean", metrics["top1"])


def _flat(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": round(float(v), 4) for k, v in metrics.items() if k != "n"}


def train(cfg: TrainConfig, out: str | Path, resume: bool = True,
          stop_after_epoch: int | None = None,
          restart_if_changed: bool = False) -> dict[str, Any]:
    """Run (or continue) training into `out`; returns the final metrics and
    `train_seconds` (on every rank).

    A resume state written for another config or other data is refused, unless
    `restart_if_changed` (the workflow: Snakemake already decided the model must be made
    again) starts over. `stop_after_epoch` ends the run after that epoch as an interruption
    would (tests).
    """
    ranks = distributed.ranks_from_env()
    device = pick_device(cfg, ranks)
    distributed.join(ranks, device)
    return _run(cfg, Path(out), resume, stop_after_epoch, ranks, device, restart_if_changed)


def _wrap(model: MicroDualNet, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """DDP around the model when several processes train it. On GPUs BatchNorm becomes
    SyncBatchNorm, so its statistics cover the global batch as in one process (PyTorch
    synchronises BatchNorm on GPUs only; CPU processes normalise over their own clips)."""
    if not ranks.active:
        return model
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return torch.nn.parallel.DistributedDataParallel(model)


def _run(cfg: TrainConfig, out: Path, resume: bool, stop_after_epoch: int | None,
         ranks: Ranks, device: torch.device, restart_if_changed: bool) -> dict[str, Any]:
    tdir = out / "training"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
        if ranks.main:
            warn_if_oversubscribed("threads", cfg.threads)
    seed_everything(cfg.seed)
    amp = cfg.amp and device.type == "cuda"
    bad = BadClips(cfg.data.max_bad_clips)
    data = load_data(cfg, bad)
    if ranks.main:
        warn_untrained_classes(cfg, data)
    # before the other ranks drop val and test
    data_digest = resumption.data_digest(cfg, data.splits, data.fps)
    mcfg = model_config(cfg, data.labels.num_classes)
    model = MicroDualNet(mcfg)
    if cfg.model.pretrained is not None:
        from microdualnet.model.pretrained import load_backbone_weights

        if not mcfg.uses_cnn:
            raise InputError("model.pretrained: the pose-only variant has no backbone")
        report = load_backbone_weights(model.backbone, cfg.model.pretrained)
        if ranks.main:
            print(f"pretrained {cfg.model.pretrained}: {report.summary()}", file=sys.stderr)
    model.to(device)
    if not ranks.main:  # only rank 0 validates and tests
        data = RunData(data.labels, {"train": data.splits["train"]}, data.fps)
    datasets, workers = build_datasets(cfg, data, mcfg)
    o = cfg.optim
    distributed.per_process_batch(o.batch_size, ranks.world)
    optimizer = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    steps_per_epoch = len(datasets["train"]) // o.batch_size
    if steps_per_epoch < 1:
        raise InputError(f"optim.batch_size={o.batch_size} is larger than the training set "
                         f"({len(datasets['train'])} clips)")

    state_path, log_path = tdir / "state.pt", tdir / "log.jsonl"
    if ranks.main:  # only now: bad data or settings leave no output folder behind
        tdir.mkdir(parents=True, exist_ok=True)
        if not resume and state_path.is_file():
            # --no-resume: the old run's model and state are no model of this one; left in
            # place, an interrupted new run would leave a folder that looks finished.
            print(f"starting over (--no-resume): removing the previous run's model and "
                  f"{state_path}", file=sys.stderr)
            resumption.remove_checkpoints(out)
            state_path.unlink()
    distributed.barrier(ranks)
    start_epoch, best, best_epoch, rows = 1, float("-inf"), 0, []
    best_metrics: dict[str, Any] | None = None
    sessions: list[dict[str, Any]] = []  # each invocation that trained: first epoch, code
    saved = state.load_state(state_path) if resume and state_path.is_file() else None
    best_dir = tdir / resumption.BEST_DIR
    why = resumption.unresumable(saved, cfg, data_digest, best_dir) if saved else None
    if why and not restart_if_changed:
        raise InputError(f"{state_path} {why}; use --no-resume or another output folder")
    if why:
        if ranks.main:
            print(f"starting over: {state_path} {why}", file=sys.stderr)
            resumption.remove_checkpoints(out)  # the old run's model is no model of this one
        saved = None
    if saved and ranks.main and resumption.best_source(best_dir) == out:
        resumption.copy_checkpoint(out, best_dir)  # a run from before training/best existed
    if saved:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if saved["scaler"] or not scaler.is_enabled():
            scaler.load_state_dict(saved["scaler"])
        # else: saved without mixed precision (a CPU run) and resumed with it: fresh scaler
        rank_rng = saved.get("rank_rng", [saved["rng"]])
        if len(rank_rng) == ranks.world:
            state.restore_rng(rank_rng[ranks.rank])
        else:  # resumed with another number of processes
            state.restore_rng(saved["rng"])
            if ranks.rank:
                torch.manual_seed(cfg.seed * 1_000 + ranks.rank + 100_003 * saved["epoch"])
        start_epoch, best, best_epoch = saved["epoch"] + 1, saved["best"], saved["best_epoch"]
        best_metrics = saved.get("best_metrics")
        sessions = list(saved.get("sessions", []))
        bad.reasons.update(saved["bad"])
        rows = [r for r in runlog.read_log(log_path) if r["epoch"] <= saved["epoch"]]
        if ranks.main:
            print(f"resuming after epoch {saved['epoch']} from {state_path}", file=sys.stderr)
    elif ranks.rank:  # the same initial weights everywhere, dropout masks of its own
        torch.manual_seed(cfg.seed * 1_000 + ranks.rank)
    if start_epoch <= o.epochs:
        sessions.append({"first_epoch": start_epoch, "git_commit": git_commit(),
                         "torch": str(torch.__version__)})  # not TorchVersion: weights_only
    net = _wrap(model, ranks, device)
    if ranks.main:
        atomic_write_text(tdir / "config.yaml", config_to_yaml(cfg))
    meta = {"class_names": list(data.labels.names), "body_map": data.labels.body_ids,
            "fps": data.fps, "view": model_view(cfg, mcfg)}
    if saved and ranks.main and resumption.best_is_behind(saved, best_dir):
        # stopped after the state of a new best epoch was written, before training/best:
        # the state's weights are that epoch's
        save_checkpoint(model, best_dir, **meta, metrics=saved["best_metrics"])

    for epoch in range(start_epoch, o.epochs + 1):
        row = _train_epoch(net, datasets["train"], optimizer, scaler, cfg, epoch,
                           steps_per_epoch, workers, device, amp, bad, ranks)
        for reasons in distributed.gather_objects(dict(bad.reasons), ranks):
            bad.reasons.update(reasons)
        rank_rng = distributed.gather_objects(state.capture_rng(), ranks)
        if ranks.main:
            best, best_epoch, val = _end_epoch(model, out, cfg, data, datasets, workers,
                                               device, amp, bad, row, rows, best, best_epoch)
            if best_epoch == epoch:
                best_metrics = {"best_epoch": epoch, "val": val,
                                "label_ids": list(data.labels.label_ids)}
            saved = {"epoch": epoch, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                     "rng": rank_rng[0], "best": best, "best_epoch": best_epoch,
                     "best_metrics": best_metrics, "sessions": sessions,
                     "bad": dict(bad.reasons),
                     "config": config_to_yaml(cfg), "data": data_digest}
            if ranks.active:
                saved["rank_rng"] = rank_rng
            state.save_state(state_path, saved)
            # The state first: stopped before training/best is written, the resumed run
            # writes it from the state. The other way round, a run stopped while writing
            # the state left this epoch's weights as the best model of a run that resumed
            # from the epoch before and, on a GPU, need not reach them again.
            if best_epoch == epoch:
                save_checkpoint(model, best_dir, **meta, metrics=best_metrics)
        distributed.barrier(ranks)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            return {"stopped_after_epoch": epoch}

    metrics = None
    if ranks.main:
        figures.plot_curves(rows, tdir / "curves.png")
        run = {"device": device.type if device.type == "cpu"
                   else f"{device} ({torch.cuda.get_device_name(device)})",
               "amp": amp, "processes": ranks.world, "threads": torch.get_num_threads(),
               "epochs_run": rows[-1]["epoch"] if rows else 0, "sessions": sessions,
               "clips": {role: len(records) for role, records in data.splits.items()},
               "data_digest": data_digest, "fps": data.fps}
        metrics = _final_report(cfg, out, data, datasets, workers, device, amp, bad, rows, run)
    return distributed.from_main(metrics, ranks)


def _end_epoch(model: MicroDualNet, out: Path, cfg: TrainConfig, data: RunData, datasets,
               workers: int, device: torch.device, amp: bool, bad: BadClips,
               row: dict[str, Any], rows: list[dict[str, Any]], best: float,
               best_epoch: int) -> tuple[float, int, dict[str, float]]:
    """Validate and log the epoch (rank 0); returns the best score and epoch so far and the
    validation metrics (the caller keeps the model when this epoch is the best)."""
    o = cfg.optim
    val_loader = make_loader(datasets["val"], o.eval_batch_size, workers, False, cfg.seed)
    scores, labels, _ = predict(model, val_loader, device, amp, bad, "val",
                                datasets["val"].records)
    val = classification_metrics(scores, labels, data.labels.body_ids)
    row.update(_flat("val", val), bad_clips=bad.count)
    if _selection_score(val) > best:
        best, best_epoch = _selection_score(val), row["epoch"]
    row["best_epoch"] = best_epoch
    rows.append(row)
    runlog.write_log(out / "training" / "log.jsonl", rows)
    print(f"epoch {row['epoch']}/{o.epochs}: loss {row['train_loss']:.3f} train top1 "
          f"{row['train_top1']:.1f} val top1 {val['top1']:.1f}"
          + (f" F1_mean {val['f1_mean']:.1f}" if "f1_mean" in val else "")
          + f" ({row['seconds']:.0f}s)", file=sys.stderr)
    return best, best_epoch, val


def _train_loader(ds: ClipDataset, cfg: TrainConfig, epoch: int, workers: int,
                  ranks: Ranks) -> DataLoader:
    """One process: the shuffled loader as always; several: this rank's share of the same
    global batches."""
    seed = cfg.seed * 100_003 + epoch
    if not ranks.active:
        return make_loader(ds, cfg.optim.batch_size, workers, True, seed)
    share = distributed.RankShare(len(ds), cfg.optim.batch_size, seed, ranks)
    return DataLoader(ds, batch_sampler=share, num_workers=workers, collate_fn=collate,
                      pin_memory=False)


# Mixed precision gives up below this loss scale: a step skipped (gradients not finite in
# float16) when the scale was already at most 1, i.e. with the loss not magnified at all,
# is one no scale can rescue, and every halving after it only flushes more gradients to 0.
# GradScaler starts at 2**16 and halves per skipped step, so warm-up gets here only after
# 16 skipped steps in a row; it skips until the largest scaled gradient of the float16
# backward fits (65504), about log2(max |gradient|) steps: a handful. A loss NaN at every step
# stops at step 17; float16 overflows in some batches stop once their skips outnumber the
# scaler's doublings (one per 2000 clean steps) by 16.
AMP_MIN_SCALE = 1.0


def _diverged(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int, lr: float,
              what: str, amp: bool = False) -> InputError:
    """The one-line error of a run whose loss or weights stopped being finite: it names the
    step and keeps the last finished epoch's files (nothing of this epoch is saved)."""
    where = (f"step {step + 1} of {steps_per_epoch}" if step < steps_per_epoch
             else "by its end")
    kept = (f"training/state.pt still holds epoch {epoch - 1}, training/best/ the best epoch "
            "before it" if epoch > 1 else "no epoch was saved")
    return InputError(f"training diverged in epoch {epoch}, {where} (learning rate "
                      f"{lr:.4g}): {what}; {kept}. "
                      + ("Set amp: false (float32, no mixed precision) or lower optim.lr, "
                         if amp else "Lower optim.lr (or lengthen optim.warmup_epochs) ")
                      + "and start over with --no-resume")


def _train_epoch(net: torch.nn.Module, ds: ClipDataset, optimizer, scaler, cfg: TrainConfig,
                 epoch: int, steps_per_epoch: int, workers: int, device, amp: bool,
                 bad: BadClips, ranks: Ranks) -> dict[str, Any]:
    from tqdm import tqdm

    o = cfg.optim
    model = net.module if ranks.active else net
    net.train()
    ds.set_epoch(epoch)
    loader = _train_loader(ds, cfg, epoch, workers, ranks)
    sums = {"loss": 0.0, "ce": 0.0, "mac": 0.0, "correct": 0, "n": 0}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch}/{o.epochs}",
               disable=not (cfg.progress and ranks.main), leave=False, file=sys.stderr)
    lr = o.lr
    for step, batch in enumerate(bar):
        bad.add_all((f"train:{f.index}", f.reason) for f in batch.failures)
        n = len(batch)
        # Several processes: each rank's loss is weighted by its share of the readable clips,
        # so DDP's gradient average is the mean over the global batch (weight 1 without
        # unreadable clips); a step where some rank has none is skipped by all.
        counts = distributed.sum_over_ranks([float(n), float(n == 0)], ranks, device)
        if counts[1]:
            continue
        weight = n * ranks.world / counts[0]
        lr = lr_at((epoch - 1) * steps_per_epoch + step, steps_per_epoch, o.epochs, o.lr,
                   o.warmup_epochs, o.warmup_start_lr, o.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        out = forward(net, batch, device, amp, model.cfg)
        labels = batch.labels.to(device)
        terms = compute_loss(out, labels, model.cfg)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(terms.total * weight if weight != 1 else terms.total).backward()
        norm = None
        if o.grad_clip is not None:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        elif not amp:
            norm = torch.nn.utils.get_total_norm(
                [p.grad for p in model.parameters() if p.grad is not None])
        if norm is not None and not amp and not math.isfinite(float(norm)):
            # AMP's scaler skips such a step itself; without it the step would make every
            # weight NaN and the run would go on for all its epochs (averaged by DDP, the
            # norm is the same on every rank, so all of them stop here).
            raise _diverged(cfg, epoch, step, steps_per_epoch, lr,
                            f"the loss is {float(terms.total.detach()):.4g} and its gradient "
                            f"norm {float(norm):.4g}")
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        if scaler.get_scale() < scale and scale <= AMP_MIN_SCALE:
            # The scaler skipped the step (it halves its scale exactly then) at a scale that
            # no longer helps: the run would go on to its end without learning. The scale is
            # the same on every rank (DDP averages the gradients it checks), so all stop.
            raise _diverged(cfg, epoch, step, steps_per_epoch, lr,
                            f"the loss is {float(terms.total.detach()):.4g} and mixed "
                            f"precision skipped the step with its loss scale down to "
                            f"{scale:.4g} (float16 overflows, or the gradients are NaN)",
                            amp=True)
        sums["loss"] += float(terms.total.detach()) * n
        sums["ce"] += float(terms.ce.detach()) * n
        sums["mac"] += float(terms.mac.detach()) * n
        sums["correct"] += int((out.logits.argmax(1) == labels).sum())
        sums["n"] += n
        bar.set_postfix(loss=f"{float(terms.total.detach()):.3f}",
                        clips_s=f"{sums['n'] * ranks.world / (time.perf_counter() - t0):.1f}")
    bar.close()
    seconds = time.perf_counter() - t0
    # A huge but finite last update (or one AMP let through) can leave weights that are not
    # finite: validated and saved, they would become the best model and the resume state.
    broken = next((name for name, p in (*model.named_parameters(), *model.named_buffers())
                   if not bool(torch.isfinite(p.detach()).all())), None)
    if broken is not None:
        raise _diverged(cfg, epoch, steps_per_epoch, steps_per_epoch, lr,
                        f"weight {broken!r} holds NaN or infinite values")
    keys = ("loss", "ce", "mac", "correct", "n")
    total = dict(zip(keys, distributed.sum_over_ranks([sums[k] for k in keys], ranks, device),
                     strict=True))
    n = max(total["n"], 1)
    row = {"epoch": epoch, "lr": lr, "train_loss": total["loss"] / n,
           "train_ce": total["ce"] / n, "train_mac": total["mac"] / n,
           "train_top1": 100 * total["correct"] / n, "seconds": round(seconds, 2),
           "clips_per_s": round(total["n"] / seconds, 2)}
    if device.type == "cuda":
        row["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return row


def _final_report(cfg: TrainConfig, out: Path, data: RunData, datasets, workers: int,
                  device, amp: bool, bad: BadClips, rows, run: dict[str, Any]
                  ) -> dict[str, Any]:
    """Evaluate the best model on the test split (val when there is none) and write results;
    `run` is what the provenance records beside the config (device, AMP, sessions, data).
    Returns the metrics and the training loop's seconds (`train_seconds`)."""
    tdir = out / "training"
    best = load_checkpoint(tdir / resumption.BEST_DIR, device=device)
    role = "test" if "test" in datasets else "val"
    loader = make_loader(datasets[role], cfg.optim.eval_batch_size, workers, False, cfg.seed)
    scores, labels, _ = predict(best.model, loader, device, amp, bad, role,
                                datasets[role].records)
    lm = data.labels
    result = classification_metrics(scores, labels, lm.body_ids)
    cm = confusion_matrix(labels, scores.argmax(1), lm.num_classes)
    figures.plot_confusion(cm, lm.names, tdir / "confusion.png",
                           f"{cfg.name}: {role} split, Top-1 {result['top1']:.1f}%")
    write_per_class(tdir / "per_class.tsv", lm.names, lm.label_ids, cm)
    # The split in the name: with no test split the row is scored on val, which also chose
    # the epoch, so it must not pass for a held-out score.
    write_table(tdir, "table_row", [(f"{cfg.name} ({role})", result)])
    # No wall-clock time here: model.json is the model's identity (its digest is in every
    # windows file), the same for a rerun of the same config; the time goes to provenance.
    metrics = dict(best.meta["metrics"], **{role: result, "eval_split": role,
                                            "bad_clips": bad.count})
    seconds = round(sum(r["seconds"] for r in rows), 1)
    save_checkpoint(best.model, out, class_names=list(lm.names), body_map=lm.body_ids,
                    fps=data.fps, view=model_view(cfg, best.model.cfg), metrics=metrics)
    _write_labels(out / "labels.tsv", lm)
    atomic_write_text(tdir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    # The initial backbone weights are an input like the data: the config names only a path.
    pretrained = [cfg.model.pretrained] if cfg.model.pretrained is not None else []
    write_provenance(out / "provenance.json", "train", params=cfg.model_dump(mode="json"),
                     inputs=resumption.data_listings(cfg) + pretrained,
                     extra={"run": {**run, "train_seconds": seconds}})
    return {**metrics, "train_seconds": seconds}


def _write_labels(path: Path, lm: LabelMap) -> None:
    rows = lm.to_rows()
    text = "index\tlabel_id\tname\tbody_id\n" + "".join(
        f"{r['index']}\t{r['label_id']}\t{r['name']}\t{r['body_id']}\n" for r in rows)
    atomic_write_text(path, text)
