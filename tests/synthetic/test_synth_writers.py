"""Clip-set and cohort writers: layout, determinism, truth, and safe output folders."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microdualnet import openpose_io
from microdualnet.synthetic import clips
from microdualnet.synthetic.actions import ACTIONS, BACKGROUND_ID
from microdualnet.synthetic.clips import write_clip_set
from microdualnet.synthetic.cohort import (
    CohortConfig,
    draw_participants,
    schedule_events,
    scheduled_events,
    scheduled_truth,
    write_cohort,
)
from microdualnet.synthetic.options import ClipSetOptions

SMALL = {"fps": 10.0, "width": 64, "height": 48}


def _digest(folder: Path) -> dict[str, str]:
    """Hash of every file except the provenance record (it holds a timestamp)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "provenance.json"}


def _clip_opts(**kw) -> ClipSetOptions:
    base = dict(classes=["nodding", "covering face"], train_per_class=2, val_per_class=1,
                test_per_class=1, max_seconds=1.5, background_factor=1, **SMALL)
    return ClipSetOptions(**{**base, **kw})


def test_clip_set_layout(tmp_path):
    out = write_clip_set(tmp_path / "clips", _clip_opts(workers=1))
    labels = pd.read_csv(out / "label_map.tsv", sep="\t")
    assert list(labels["name"]) == ["nodding", "covering face", "no action"]
    train = (out / "train_list_videos.txt").read_text().splitlines()
    assert len(train) == 2 * 3
    manifest = pd.read_csv(out / "clips.tsv", sep="\t")
    for line in train:
        name, label = line.split()
        assert (out / "train" / name).stat().st_size > 0
        stem = name.removesuffix(".mp4")
        subject, body, index = stem.split("_")
        assert len(subject) == 4 and len(body) == 2 and len(index) == 4
        row = manifest.set_index("name").loc[stem]
        assert int(label) == row["action_id"]
        jsons = list((out / "pose" / "train" / stem).glob("*_keypoints.json"))
        assert len(jsons) == row["n_frames"]
        assert 1.0 <= row["duration_s"] <= 1.5 + 1e-9
        assert row["event_start_s"] < row["event_end_s"] <= row["duration_s"] or (
            row["action_id"] == BACKGROUND_ID)
    # Subjects never cross splits.
    by_split = manifest.groupby("split")["subject"].apply(set)
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])


def test_clip_set_is_deterministic_for_any_worker_count(tmp_path):
    a = _digest(write_clip_set(tmp_path / "a", _clip_opts(workers=1)))
    b = _digest(write_clip_set(tmp_path / "b", _clip_opts(workers=2)))
    c = _digest(write_clip_set(tmp_path / "c", _clip_opts(workers=1, seed=1)))
    assert a == b
    assert len(a) > 20
    videos = lambda d: sorted(v for k, v in d.items() if k.endswith(".mp4"))  # noqa: E731
    assert set(videos(a)).isdisjoint(videos(c))  # another seed: every video differs


def _cohort_cfg(**kw) -> CohortConfig:
    return CohortConfig(**{"groups": {"ASD": 2, "PSY": 1, "TDC": 1}, "seconds": 12.0,
                           **SMALL, **kw})


def test_cohort_truth_matches_events(tmp_path):
    cfg = _cohort_cfg(workers=2)
    out = write_cohort(tmp_path / "cohort", cfg)
    sheet = pd.read_csv(out / "participants.tsv", sep="\t")
    assert list(sheet.columns) == ["participant_id", "group", "video", "age", "sex"]
    assert sheet["group"].value_counts().to_dict() == {"ASD": 2, "PSY": 1, "TDC": 1}
    events = pd.read_csv(out / "truth_events.tsv", sep="\t")
    truth = pd.read_csv(out / "truth_percent_time.tsv", sep="\t")
    n_frames = int(cfg.seconds * cfg.fps)
    assert set(truth["action"]) == {e.action for e in cfg.effects}
    for pid, ev in events.groupby("participant_id"):
        ev = ev.sort_values("start_frame")
        assert (ev["start_frame"].to_numpy()[1:] >= ev["end_frame"].to_numpy()[:-1]).all()
        assert ev["end_frame"].max() <= n_frames and ev["start_frame"].min() >= 0
        lengths = (ev["end_frame"] - ev["start_frame"]) / cfg.fps
        assert lengths.between(1.0, 3.0).all()
        summed = lengths.groupby(ev["action"]).sum()
        got = truth[truth["participant_id"] == pid].set_index("action")["percent_time"]
        for action, pct in got.items():
            assert pct == pytest.approx(100 * summed.get(action, 0.0) / cfg.seconds, abs=1e-5)
    for row in sheet.itertuples():
        assert (out / row.video).is_file()
        ids, people = openpose_io.read_sequence(out / "openpose" / row.participant_id)
        assert len(ids) == n_frames
    assert (truth["valid_s"] == cfg.seconds).all()
    # The schedule-only truth (power studies) is the written one, without rendering.
    pd.testing.assert_frame_equal(scheduled_truth(cfg), truth, check_exact=False, atol=1e-5)
    pd.testing.assert_frame_equal(scheduled_events(cfg, draw_participants(cfg)), events,
                                  check_exact=False, atol=1e-5)
    saved = CohortConfig(**__import__("yaml").safe_load((out / "cohort_config.yaml").read_text()))
    assert saved.effects == cfg.effects


def test_cohort_is_deterministic(tmp_path):
    a = _digest(write_cohort(tmp_path / "a", _cohort_cfg(workers=1)))
    b = _digest(write_cohort(tmp_path / "b", _cohort_cfg(workers=2)))
    assert a == b


def test_hurdle_draws_follow_the_planted_effects():
    """Engagement rates per group match the config (scheduling only, no rendering)."""
    cfg = CohortConfig(fps=10.0, seconds=120.0)
    rng = np.random.default_rng(0)
    n = 400
    for group in cfg.groups:
        engaged = {e.action: 0 for e in cfg.effects}
        share = {e.action: [] for e in cfg.effects}
        for _ in range(n):
            events = schedule_events(cfg, group, rng)
            total = {}
            for ev in events:
                name = next(a.name for a in ACTIONS if a.action_id == ev.action_id)
                total[name] = total.get(name, 0.0) + ev.end_s - ev.start_s
            for name, secs in total.items():
                engaged[name] += 1
                share[name].append(secs / cfg.seconds)
        for eff in cfg.effects:
            rate = engaged[eff.action] / n
            se = np.sqrt(eff.engage[group] * (1 - eff.engage[group]) / n)
            # Events dropped for a too-busy video can only lower the rate slightly.
            assert eff.engage[group] - 4 * se - 0.03 <= rate <= eff.engage[group] + 4 * se, (
                group, eff.action, rate)
            # Seeded; over seeds 0-11 the worst of the 39 means is 4-12% off (sampling: the
            # SE is about 4.5% of the mean for the lightest actions), so 15% still catches
            # intensities planted 30% too high.
            mean = float(np.mean(share[eff.action]))
            assert mean == pytest.approx(eff.intensity[group], rel=0.15, abs=0.002), (
                group, eff.action, mean)


def test_background_class_is_optional(tmp_path):
    out = write_clip_set(tmp_path / "c", _clip_opts(background=False, val_per_class=0,
                                                    test_per_class=0, workers=1))
    labels = pd.read_csv(out / "label_map.tsv", sep="\t")
    assert BACKGROUND_ID not in set(labels["action_id"])
    assert (out / "val_list_videos.txt").read_text() == ""


def test_background_factor_appends_rest_clips_and_keeps_the_balanced_ones(tmp_path):
    base = write_clip_set(tmp_path / "base", _clip_opts(workers=1))
    more = write_clip_set(tmp_path / "more", _clip_opts(workers=1, background_factor=3))
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        lines = (more / f"{split}_list_videos.txt").read_text().splitlines()
        labels = [int(line.split()[1]) for line in lines]
        # Two classes plus background, then two more background clips per per-class clip.
        assert labels.count(BACKGROUND_ID) == 3 * per_class
        assert len(labels) == 3 * per_class + 2 * per_class
        assert labels[3 * per_class:] == [BACKGROUND_ID] * (2 * per_class)
        # The balanced clips are byte-identical to those of the factor-1 set.
        balanced = (base / f"{split}_list_videos.txt").read_text().splitlines()
        assert lines[:len(balanced)] == balanced
        for line in balanced:
            name = line.split()[0]
            assert (more / split / name).read_bytes() == (base / split / name).read_bytes()
    manifest = pd.read_csv(more / "clips.tsv", sep="\t")
    extra = manifest[manifest["action_id"] == BACKGROUND_ID]
    assert extra["name"].is_unique and manifest["name"].is_unique


def test_background_factor_is_validated():
    with pytest.raises(ValueError, match="background_factor"):
        _clip_opts(background_factor=0)


def test_some_clips_show_the_end_of_their_action():
    """Half the clips with room for it end the action (return to rest included) inside the
    clip after at least MIN_SHOWN_S; the rest, and every clip too short for that, hold it
    past the clip's end."""
    start, ends = 0.2, []
    for k in range(400):
        duration = 1.0 + 2.0 * k / 399
        end = clips._event_end(np.random.default_rng(k), start, duration)
        room = duration - clips.RETURN_S - start >= clips.MIN_SHOWN_S
        if end <= duration:
            assert room
            assert start + clips.MIN_SHOWN_S <= end <= duration - clips.RETURN_S
        else:
            assert end > duration + clips.RETURN_S  # no part of the return is shown
        ends.append((room, end <= duration))
    shown = [inside for room, inside in ends if room]
    assert 0.4 < np.mean(shown) < 0.6
    assert not any(inside for room, inside in ends if not room)
