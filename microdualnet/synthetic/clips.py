"""`synth clips`: a labelled clip set in the MA-52 layout.

Layout written under the output folder::

    train_list_videos.txt, val_list_videos.txt, test_list_videos.txt   <name>.mp4 <action id>
    train/<name>.mp4, val/..., test/...                                  H.264 clips
    pose/<split>/<name>/<name>_<12-digit frame>_keypoints.json           OpenPose BODY_25
    label_map.tsv     action_id, name, body_id, body_category, kind
    clips.tsv         one row per clip with its truth (timing, style, subject)
    synth_config.json the options used; provenance.json

Clip names follow MA-52: `SSSS_BB_NNNN` (subject, body category, index). Subjects are
disjoint between splits, so validation and test people are never seen in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microdualnet import openpose_io
from microdualnet.synthetic.actions import BACKGROUND_ID, BY_ID, RETURN_S, Event, resolve
from microdualnet.synthetic.appearance import sample_appearance
from microdualnet.synthetic.options import ClipSetOptions
from microdualnet.synthetic.parallel import run_tasks
from microdualnet.synthetic.scene import record
from microdualnet.video import write_mp4
from pipeio.atomic import atomic_write_text, staged_directory
from pipeio.provenance import write_provenance

SPLITS = ("train", "val", "test")
MIN_SHOWN_S = 1.0  # an action that ends inside its clip is held at least this long


@dataclass(frozen=True)
class ClipTask:
    root: Path
    split: str
    index: int
    action_id: int
    opts: ClipSetOptions


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _event_end(rng: np.random.Generator, start: float, duration: float) -> float:
    """Half the clips with room for it hold an action for 1 s or more and show its end
    (a position-defined action's return to rest included), as a trimmed clip of a whole
    micro-action does and a conversation's short events do; the others last past the clip."""
    latest = duration - RETURN_S
    if latest - start >= MIN_SHOWN_S and rng.random() < 0.5:
        return float(rng.uniform(start + MIN_SHOWN_S, latest))
    return duration + 1.0


def make_clip(task: ClipTask) -> dict:
    """Render, encode and write one clip with its pose; return its manifest row."""
    o = task.opts
    split_code = SPLITS.index(task.split)
    rng = _rng(o.seed, 1, split_code, task.index)
    subject = int(rng.integers(o.subjects[task.split]))
    # Subject ids are unique across splits; looks depend on the subject only.
    subject_id = sum(o.subjects[s] for s in SPLITS[:split_code]) + subject
    appearance = sample_appearance(_rng(o.seed, 2, subject_id))
    duration = float(rng.uniform(o.min_seconds, o.max_seconds))
    n_frames = max(int(round(duration * o.fps)), 2)
    duration = n_frames / o.fps
    spec = BY_ID[task.action_id]
    events: list[Event] = []
    start = 0.0
    if task.action_id != BACKGROUND_ID:
        start = float(rng.uniform(0.0, min(0.25, duration * 0.15)))
        end = _event_end(_rng(o.seed, 3, split_code, task.index), start, duration)
        events = [Event(task.action_id, start, end,
                        amplitude=float(rng.uniform(0.75, 1.25)),
                        speed=float(rng.uniform(0.8, 1.25)),
                        side=str(rng.choice(["R", "L"])),
                        phase=float(rng.uniform(0, 2 * np.pi)))]
    rec = record(events, n_frames, o.fps, o.width, o.height, rng, appearance=appearance)
    body = spec.body_id if spec.body_id >= 0 else 7
    name = f"{subject_id:04d}_{body:02d}_{task.index:04d}"
    write_mp4(task.root / task.split / f"{name}.mp4", rec.frames(), o.fps, o.width, o.height)
    openpose_io.write_sequence(task.root / "pose" / task.split / name, name, rec.keypoints)
    ev = events[0] if events else None
    return {
        "split": task.split, "name": name, "action_id": task.action_id, "action": spec.name,
        "kind": spec.kind, "subject": subject_id, "n_frames": n_frames,
        "duration_s": round(duration, 4), "event_start_s": round(start, 4),
        "event_end_s": round(min(ev.end_s, duration), 4) if ev else 0.0,
        "amplitude": round(ev.amplitude, 4) if ev else 0.0,
        "speed": round(ev.speed, 4) if ev else 0.0, "side": ev.side if ev else "",
    }


def label_map(opts: ClipSetOptions) -> pd.DataFrame:
    specs = resolve(opts.classes, include_background=opts.background)
    return pd.DataFrame({
        "action_id": [s.action_id for s in specs], "name": [s.name for s in specs],
        "body_id": [s.body_id for s in specs], "body_category": [s.body_name for s in specs],
        "kind": [s.kind for s in specs],
    })


def write_clip_set(out: str | Path, opts: ClipSetOptions, overwrite: bool = False) -> Path:
    """Generate the whole clip set into `out` (built aside, then swapped in complete)."""
    labels = label_map(opts)
    per_split = {"train": opts.train_per_class, "val": opts.val_per_class,
                 "test": opts.test_per_class}
    with staged_directory(out, overwrite=overwrite) as root:
        tasks = []
        extra_background = (opts.background_factor - 1) if opts.background else 0
        for split in SPLITS:
            ids = [int(a) for _ in range(per_split[split]) for a in labels["action_id"]]
            # Appended, so the balanced clips keep their indices (and content) at any factor.
            ids += [BACKGROUND_ID] * (extra_background * per_split[split])
            tasks += [ClipTask(root, split, index, a, opts) for index, a in enumerate(ids)]
        rows = run_tasks(make_clip, tasks, opts.workers, desc="synth clips", unit="clip")
        manifest = pd.DataFrame(rows)
        for split in SPLITS:
            sub = manifest[manifest["split"] == split]
            lines = "".join(f"{n}.mp4 {a}\n" for n, a in zip(sub["name"], sub["action_id"],
                                                               strict=True))
            atomic_write_text(root / f"{split}_list_videos.txt", lines)
        labels.to_csv(root / "label_map.tsv", sep="\t", index=False)
        manifest.to_csv(root / "clips.tsv", sep="\t", index=False)
        params = opts.model_dump(exclude={"workers"})  # workers never change the output
        atomic_write_text(root / "synth_config.json", json.dumps(params, indent=2) + "\n")
        write_provenance(root / "provenance.json", "synth clips", params)
    return Path(out)
