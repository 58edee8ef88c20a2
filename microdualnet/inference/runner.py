"""Windowed inference over one whole video: model folder + video + pose file -> windows table.

A window is classified only when at least `min_pose_fraction` of its sampled frames have a
person in the pose file; the others keep NaN probabilities and `valid = False`. A video
shorter than one window gives an empty table with the exclusion reason in the metadata.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from microdualnet.contract import ModelContract, read_contract
from microdualnet.data.views import FullView, PersonView, make_view
from microdualnet.inference.loader import WindowBatches, normalise_video
from microdualnet.inference.workers import load_batches
from microdualnet.pose.npz import PoseData, has_person, load_pose
from microdualnet.speedups import retain_freed_memory
from microdualnet.video import VideoInfo, probe
from microdualnet.windowplan import WindowPlan, low_rate_note, plan_windows
from pipeio.errors import InputError
from pipeio.modelfiles import model_digest
from pipeio.windows import PROB_PREFIX, ROUTE_PREFIXES, VIEW_COLUMNS

log = logging.getLogger(__name__)


@dataclass
class InferenceOptions:
    window_s: float = 2.0
    hop_s: float = 0.5
    batch_size: int = 16
    device: str = "auto"
    min_pose_fraction: float = 0.5
    model_fps: float | None = None
    progress: bool = True
    workers: int = 1  # loader processes; 0 loads in this process (no overlap)
    # A video slower than the model's sampling whose windows repeat a larger share of their
    # frames than this is refused: most of what the model would see is one picture twice.
    max_repeated_frames: float = 0.5


@dataclass
class InferenceResult:
    table: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    # Seconds: all, loading the model, in the model, waiting for the loaders (not written
    # to the windows file, which stays the same from run to run; the CLI prints them).
    timing: dict[str, float] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but CUDA is not available")
    if name not in ("cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def check_pose_matches(pose: PoseData, info: VideoInfo, pose_path: Path, video: Path) -> None:
    """A pose file made from another video (or a re-encoded one) is an error, not a guess."""
    if pose.video_frames != info.frames:
        raise InputError(f"pose file {pose_path} covers {pose.video_frames} frames, video "
                         f"{video} has {info.frames}; re-run the pose stage for this video")
    if (pose.width, pose.height) != (info.width, info.height):
        raise InputError(f"pose file {pose_path} is for {pose.width}x{pose.height} frames, "
                         f"video {video} is {info.width}x{info.height}")
    if abs(pose.fps - info.fps) > 1e-3 * info.fps:
        raise InputError(f"pose file {pose_path} says {pose.fps} fps, video {video} has "
                         f"{info.fps} fps")


def window_keypoints(pose: PoseData, plan: WindowPlan, pose_path: Path) -> np.ndarray:
    """`[W, T, 25, 3]` keypoints of every sampled frame (frames the file lacks: an error)."""
    kp, have = pose.at_frames(plan.frames)
    if not have.all():
        missing = np.unique(plan.frames[~have])
        raise InputError(f"pose file {pose_path} lacks {len(missing)} frames the windows "
                         f"sample (first: {missing[0]}); it was made for other window "
                         "settings: re-run pose with the same --window-s/--hop-s or for all "
                         "frames")
    return kp


# Another person is in a full-view model's input when at least this share of their box lies
# in its square; a participant with someone in it in more than OTHERS_WARN of the sampled
# frames pose looked at gets `others_in_view_warning`.
OTHER_INSIDE = 0.5
OTHERS_WARN = 0.1


def others_in_view(pose: PoseData, plan: WindowPlan, view: FullView | PersonView,
                   frame_shape: tuple[int, int]) -> tuple[float | None, str | None]:
    """The share of the sampled frames (of those pose looked at for other people) where
    someone besides the participant is inside a full-view model's square, and the warning
    when it is above OTHERS_WARN; (None, None) for a person view or nothing looked at.

    Why: a full-view model sees the frame's centre square whoever sits in it; beside the
    interviewer, a 640x480 or HD recording's square holds both, and the model may classify
    the interviewer's movements as the participant's.
    """
    if not isinstance(view, FullView):
        return None, None
    boxes, looked = pose.others_at(plan.unique_frames())
    if not looked.any():
        return None, None
    x0, y0, x1, y1 = view.square(frame_shape)
    boxes = boxes[looked]
    inside = ((np.minimum(boxes[..., 2], x1) - np.maximum(boxes[..., 0], x0)).clip(0)
              * (np.minimum(boxes[..., 3], y1) - np.maximum(boxes[..., 1], y0)).clip(0))
    area = ((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])).clip(1)
    with np.errstate(invalid="ignore"):  # NaN: no person in that slot
        share = float((inside >= OTHER_INSIDE * area).any(-1).mean())
    if share <= OTHERS_WARN:
        return round(share, 4), None
    return round(share, 4), (
        f"another person is in the full-view model's input (the frame's centre square, x "
        f"{x0:.0f}-{x1:.0f} y {y0:.0f}-{y1:.0f} px) in {100 * share:.0f}% of the {len(boxes)} "
        "sampled frames pose looked at for others: the model may count their movements as "
        "the participant's; use a person-view model (docs/training.md) or crop the "
        "recordings to the participant")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision the model runs in on `device` (None: float32, the CPU)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def _columns(classes: list[str], entities: list[str]) -> list[str]:
    return ([PROB_PREFIX + c for c in classes]
            + [p + e for p in ROUTE_PREFIXES for e in entities])


def run_inference(model_dir: str | Path, video: str | Path, pose_path: str | Path,
                  opts: InferenceOptions) -> InferenceResult:
    """Classify every window with enough pose; see the module doc for the rest."""
    started = time.perf_counter()
    video, pose_path = Path(video), Path(pose_path)
    contract = read_contract(model_dir, opts.model_fps)
    rule = contract.sampling_rule
    info = probe(video)
    pose = load_pose(pose_path)
    if pose.excluded is not None:
        raise InputError(f"pose file {pose_path} is the exclusion record of a participant "
                         f"without pose ({pose.excluded})")
    check_pose_matches(pose, info, pose_path, video)
    plan = plan_windows(info.frames, info.fps, rule, opts.window_s, opts.hop_s)
    low_rate = low_rate_note(plan, info.fps, rule)
    if low_rate is not None and plan.repeated_share() > opts.max_repeated_frames:
        raise InputError(
            f"video {video}: {low_rate}; --max-repeated-frames allows "
            f"{100 * opts.max_repeated_frames:.0f}%. Re-encoding it faster only repeats the "
            f"same pictures: use a recording of {1 / rule.stride_s:.3g} fps or more, or pass "
            "--max-repeated-frames 1 (workflow: inference.max_repeated_frames) to classify "
            "it anyway")
    classes, entities = list(contract.class_names), list(contract.entities)
    view = make_view(contract.view, contract.input_size)
    others_share, others_warning = others_in_view(pose, plan, view, (info.height, info.width))
    out_meta = _result_meta(model_dir, video, classes, entities, opts, fps=info.fps,
                            video_frames=info.frames, duration_s=info.duration_s,
                            first_frame_s=info.first_frame_s,
                            width=info.width, height=info.height,
                            frames_per_window=rule.num_frames,
                            stride_frames=plan.stride_frames, model_fps=contract.fps,
                            view=contract.view.to_json(), pose_backend=pose.backend,
                            repeated_frame_share=round(plan.repeated_share(), 4),
                            frame_rate_warning=low_rate, others_in_view_share=others_share,
                            others_in_view_warning=others_warning, excluded=None)
    values = np.full((len(plan), len(_columns(classes, entities))), np.nan, np.float32)
    timing = {"model_load_s": 0.0, "forward_s": 0.0, "wait_s": 0.0}
    if len(plan) == 0:
        out_meta["excluded"] = (f"infer: video is {info.duration_s:.2f} s long, shorter than one "
                                f"{opts.window_s} s window")
        pose_fraction = np.zeros(0, np.float32)
    else:
        kp = window_keypoints(pose, plan, pose_path)
        pose_fraction = has_person(kp).mean(1).astype(np.float32)
        valid_rows = np.flatnonzero(pose_fraction >= opts.min_pose_fraction)
        if len(valid_rows):
            values[valid_rows] = _classify(contract, view, video, plan, kp, valid_rows, info,
                                           opts, timing)
    # The plan counts from the first frame; the file's times are the player's (video.py).
    origin = info.first_frame_s
    view_start, view_end = plan.view_s(info.fps, info.duration_s)
    table = _windows_table(values, classes, entities, plan.start_s + origin,
                           plan.end_s + origin, (view_start + origin, view_end + origin),
                           pose_fraction, opts.min_pose_fraction)
    timing["total_s"] = time.perf_counter() - started
    return InferenceResult(table, out_meta, timing)


def _windows_table(values: np.ndarray, classes: list[str], entities: list[str],
                   start_s: np.ndarray, end_s: np.ndarray,
                   view_s: tuple[np.ndarray, np.ndarray], pose_fraction: np.ndarray,
                   min_pose_fraction: float) -> pd.DataFrame:
    """The windows-contract table: times, validity, pose share, then the model's columns."""
    head = pd.DataFrame({"start_s": start_s, "end_s": end_s,
                         **dict(zip(VIEW_COLUMNS, view_s, strict=True)),
                         "valid": pose_fraction >= min_pose_fraction,
                         "pose_fraction": pose_fraction})
    return pd.concat([head, pd.DataFrame(values, columns=_columns(classes, entities))], axis=1)


def excluded_result(model_dir: str | Path, video: str | Path, reason: str,
                    opts: InferenceOptions) -> InferenceResult:
    """A windows table without windows whose metadata carries the exclusion reason."""
    contract = read_contract(model_dir, opts.model_fps)
    classes, entities = list(contract.class_names), list(contract.entities)
    none = np.zeros(0)
    table = _windows_table(np.zeros((0, len(_columns(classes, entities))), np.float32),
                           classes, entities, none, none, (none, none),
                           np.zeros(0, np.float32),
                           opts.min_pose_fraction)
    return InferenceResult(table, _result_meta(model_dir, video, classes, entities, opts,
                                               fps=None, video_frames=None, duration_s=None,
                                               excluded=reason))


def _result_meta(model_dir: str | Path, video: str | Path, classes: list[str],
                 entities: list[str], opts: InferenceOptions, **specific: Any) -> dict[str, Any]:
    """The windows file's metadata: what every file carries, then the video-specific keys."""
    return {"video": str(video), "model": str(model_dir),
            "model_sha256": model_digest(model_dir), "class_names": classes,
            "entities": entities, "window_s": opts.window_s, "hop_s": opts.hop_s,
            "min_pose_fraction": opts.min_pose_fraction, **specific}


@torch.inference_mode()
def _classify(contract: ModelContract, view: FullView | PersonView, video: Path,
              plan: WindowPlan, kp: np.ndarray, rows: np.ndarray, info: VideoInfo,
              opts: InferenceOptions, timing: dict[str, float]) -> np.ndarray:
    """`[len(rows), C + 2K]` probabilities and mean routing weights (`rows` ascending) of
    the model's input as `view` cuts it; adds its seconds to `timing`.

    The loader workers start before the model's code is imported and the model is built,
    so the first batches are ready when it is.
    """
    from microdualnet.model.config import config_from_dict

    cfg = config_from_dict(contract.config)
    device = resolve_device(opts.device)
    retain_freed_memory()
    # For a CPU model the loaders hand over its input as is; for a GPU, uint8 frames cross
    # (a quarter of the bytes) and are normalised there.
    batches = load_batches(WindowBatches(video, plan.frames, kp, rows, view=view,
                                         batch_size=opts.batch_size, need_video=cfg.uses_cnn,
                                         frame_shape=(info.height, info.width), info=info,
                                         normalised=device.type == "cpu"),
                           opts.workers)
    clock = time.perf_counter()
    from microdualnet.model.checkpoint import load_checkpoint

    model = load_checkpoint(contract.folder, expected=cfg, device=device).model
    timing["model_load_s"] += time.perf_counter() - clock
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # (positions in rows, values)
    with tqdm(total=len(rows), desc=f"infer {video.stem}", unit="window",
              disable=not opts.progress, mininterval=1.0) as bar:
        clock = time.perf_counter()
        for batch in batches:
            now = time.perf_counter()
            timing["wait_s"] += now - clock
            clip = batch.video
            if clip is not None and clip.dtype == torch.uint8:
                clip = normalise_video(clip.to(device))
            points = batch.keypoints.to(device)
            with _autocast(device):
                res = model(clip, points)
            probs = torch.softmax(res.logits.float(), dim=-1)
            route = res.routing.float().mean(1)  # [B, K, 2]
            parts.append((np.searchsorted(rows, batch.windows),
                          torch.cat([probs, route[..., 0], route[..., 1]], 1).cpu().numpy()))
            clock = time.perf_counter()
            timing["forward_s"] += clock - now
            bar.update(len(batch.windows))
    # Loader workers take stretches of the video each, so batches come out of order.
    done = np.concatenate([where for where, _ in parts] or [np.zeros(0, np.int64)])
    if len(done) != len(rows) or len(np.unique(done)) != len(rows):
        raise RuntimeError(f"inference of {video}: {len(np.unique(done))} of {len(rows)} "
                           "windows came back from the loader")
    values = np.empty((len(rows), parts[0][1].shape[1]), np.float32)
    for where, part in parts:
        values[where] = part
    return values
