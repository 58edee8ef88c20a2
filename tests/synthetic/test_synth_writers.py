"""Clip-set and cohort writers: layout, determinism, truth, and safe output folders."""

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microdualnet import openpose_io
from microdualnet.body25 import INDEX
from microdualnet.synthetic import clips
from microdualnet.synthetic.actions import ACTIONS, BACKGROUND_ID, Event
from microdualnet.synthetic.clips import write_clip_set
from microdualnet.synthetic.cohort import (
    GROUPS,
    CohortConfig,
    _event_rows,
    draw_participants,
    schedule_events,
    scheduled_events,
    scheduled_truth,
    seat,
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
    assert list(labels["body_category"]) == ["head", "head-hand", "none"]
    assert list(labels["body_id"]) == [1, 5, -1]
    assert list(labels["kind"]) == ["motion", "position", "background"]
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
        # The clip's body category in its name: nodding 1 (head), covering face 5 (head-hand),
        # "no action" 7 (after MA-52's seven).
        assert int(body) == {"nodding": 1, "covering face": 5, "no action": 7}[row["action"]]
        assert row["kind"] == labels.set_index("name").loc[row["action"], "kind"]
        jsons = list((out / "pose" / "train" / stem).glob("*_keypoints.json"))
        assert len(jsons) == row["n_frames"]
        assert 1.0 <= row["duration_s"] <= 1.5 + 1e-9
        assert row["duration_s"] == row["n_frames"] / SMALL["fps"]  # the rendered length
        assert row["event_start_s"] < row["event_end_s"] <= row["duration_s"] or (
            row["action_id"] == BACKGROUND_ID)
    acts = manifest[manifest["action_id"] != BACKGROUND_ID]
    # Each action starts within min(0.25 s, 0.15 of its clip), so most of the clip shows it.
    assert (acts["event_start_s"] >= 0).all()
    assert (acts["event_start_s"] <= 0.15 * acts["duration_s"] + 1e-4).all()
    assert acts["amplitude"].between(0.75, 1.25).all() and acts["speed"].between(0.8, 1.25).all()
    assert (acts["amplitude"] != acts["speed"]).all() and set(acts["side"]) <= {"R", "L"}
    # Every clip draws its own timing and style (splits included).
    assert not acts.duplicated(["event_start_s", "amplitude", "speed"]).any()
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
    with pytest.raises(ValueError, match="must name at least one class"):
        _clip_opts(classes=[])


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


def test_schedule_is_whole_frames_with_the_promised_lengths_gaps_and_budget():
    """At 10 fps over 60 s (600 frames): every event is whole frames, 10-30 frames (1-3 s)
    long, followed by ceil(RETURN_S * fps) + 1 = 6 idle frames before the next, inside the
    video, and the events with their gaps take at most max_action_fraction of it (450)."""
    cfg = CohortConfig(fps=10.0, seconds=60.0)
    lengths, gaps, dropped = [], [], 0
    for seed in range(60):
        events = schedule_events(cfg, GROUPS[seed % 3], np.random.default_rng(seed))
        frames = [(round(e.start_s * 10), round(e.end_s * 10)) for e in events]
        assert [(e.start_s, e.end_s) for e in events] == [(a / 10, b / 10) for a, b in frames]
        assert frames[0][0] >= 0 and frames[-1][1] <= 600
        lengths += [b - a for a, b in frames]
        gaps += [c - b for (_, b), (c, _) in itertools.pairwise(frames)]
        assert sum(b - a + 6 for a, b in frames) <= 450
        dropped += sum(b - a + 6 for a, b in frames) > 450 - 30 - 6
    assert min(lengths) == 10 and max(lengths) == 30
    assert min(gaps) == 6
    assert dropped > 0  # some videos were full: the budget was in play


def test_schedule_total_is_the_drawn_fraction_in_frames():
    """One action, always engaged, an intensity precision so high that the drawn fraction is
    its mean: 0.1 of 600 frames gives 60 frames, in pieces of at most 30 frames; 0.01 (6
    frames) gives one event of the 1-s minimum (10 frames)."""
    for mu, expect in ((0.1, [30, 30]), (0.07, [21, 21]), (0.09, [27, 27]), (0.11, [22, 22, 22]),
                       (0.01, [10])):
        eff = {"action": "nodding", "engage": {"A": 1.0}, "intensity": {"A": mu}}
        cfg = CohortConfig(fps=10.0, seconds=60.0, groups={"A": 1}, effects=[eff],
                           demographics={}, intensity_precision=1e9)
        events = schedule_events(cfg, "A", np.random.default_rng(0))
        assert sorted(round((e.end_s - e.start_s) * 10) for e in events) == expect, mu


def test_event_rows_are_the_rendered_frames_at_25_fps():
    """Event times are frame / fps; the truth's frame numbers are those frames, also where
    frame / 25 * 25 falls just below the integer (29, 58, 113 at 25 fps)."""
    events = [Event(ACTIONS[0].action_id, k / 25.0, (k + 29) / 25.0) for k in (29, 84, 0)]
    rows = pd.DataFrame(_event_rows("sub-001", events, 25.0))
    assert rows["start_frame"].tolist() == [29, 84, 0]
    assert rows["end_frame"].tolist() == [58, 113, 29]
    assert rows["start_s"].tolist() == [1.16, 3.36, 0.0]
    cfg = CohortConfig(fps=25.0, seconds=60.0, groups={"ASD": 4, "PSY": 4, "TDC": 4})
    ev = scheduled_events(cfg, draw_participants(cfg))
    assert ((ev["end_frame"] - ev["start_frame"]).between(25, 75)).all()
    np.testing.assert_allclose(ev["start_s"] * 25, ev["start_frame"], atol=1e-4)
    np.testing.assert_allclose(ev["end_s"] * 25, ev["end_frame"], atol=1e-4)


def test_participants_follow_their_groups_demographics():
    """Ids in sheet order, group sizes, and each group's own age and sex distribution."""
    demo = {"A": {"age_mean": 12.0, "age_sd": 0.5, "p_male": 0.8},
            "B": {"age_mean": 6.0, "age_sd": 0.5, "p_male": 0.2}}
    effects = [{"action": "nodding", "engage": {"A": 0.5, "B": 0.5},
                "intensity": {"A": 0.1, "B": 0.1}}]
    cfg = CohortConfig(groups={"A": 300, "B": 300}, demographics=demo, effects=effects)
    people = draw_participants(cfg)
    assert [p.participant_id for p in people[:3]] == ["sub-001", "sub-002", "sub-003"]
    assert people[-1].participant_id == "sub-600"
    for group, age, male in (("A", 12.0, 0.8), ("B", 6.0, 0.2)):
        own = [p for p in people if p.group == group]
        assert len(own) == 300
        assert np.mean([p.age for p in own]) == pytest.approx(age, abs=0.15)
        assert np.mean([p.sex == "M" for p in own]) == pytest.approx(male, abs=0.08)
    # The truth table carries each participant's own group, age and sex.
    truth = scheduled_truth(cfg).drop_duplicates("participant_id").set_index("participant_id")
    for p in people:
        assert (truth.loc[p.participant_id, ["group", "age", "sex"]].tolist()
                == [p.group, p.age, p.sex])


def test_random_seats_are_both_sides():
    cfg = CohortConfig(participant_side="random", groups={"ASD": 100, "PSY": 50, "TDC": 50})
    sides = [seat(cfg, p) for p in draw_participants(cfg)]
    assert set(sides) == {"left", "right"}
    assert 0.35 < sides.count("left") / len(sides) < 0.65
    assert seat(CohortConfig(), draw_participants(CohortConfig())[0]) is None


@pytest.mark.parametrize("side_column", [True, False])
def test_interviewer_sits_on_the_other_side_with_their_own_events(tmp_path, side_column):
    """Participant on the left (x about 0.3 of the width), interviewer on the right (about
    0.84); the interviewer's events are their own and the sheet names the side if asked."""
    effects = [{"action": "nodding", "engage": {"A": 1.0}, "intensity": {"A": 0.3}},
               {"action": "head up", "engage": {"A": 0.0}, "intensity": {"A": 0.1}}]
    cfg = CohortConfig(groups={"A": 1}, effects=effects, demographics={}, seconds=8.0,
                       participant_side="left", interviewer=True, side_column=side_column,
                       workers=1, seed=0, **SMALL)
    out = write_cohort(tmp_path / "c", cfg)
    sheet = pd.read_csv(out / "participants.tsv", sep="\t")
    if side_column:
        assert sheet["participant_side"].tolist() == ["left"]
    else:
        assert "participant_side" not in sheet.columns
    people = np.load(out / "truth_people" / "sub-001.npz")
    width = SMALL["width"]
    hip = INDEX["MidHip"]
    x_part = people["participant"][:, hip, 0].mean() / width
    x_int = people["interviewer"][:, hip, 0].mean() / width
    assert 0.2 < x_part < 0.4 and 0.74 < x_int < 0.94, (x_part, x_int)
    mine = pd.read_csv(out / "truth_events.tsv", sep="\t")
    theirs = pd.read_csv(out / "truth_interviewer_events.tsv", sep="\t")
    # Seed 0: the interviewer (each action at P = 0.5) nods and lifts their head; the
    # participant (head up never) only nods.
    assert set(mine["action"]) == {"nodding"}
    assert set(theirs["action"]) == {"nodding", "head up"}
    assert (theirs["participant_id"] == "sub-001").all()


def test_a_clip_with_exactly_enough_room_can_show_the_end():
    """2-s clip, action from 0.5 s: 2.0 - RETURN_S - 0.5 is exactly MIN_SHOWN_S, enough room
    to end at 1.5 s, which half the seeds do; the others hold it past the clip (3.0 s)."""
    ends = {clips._event_end(np.random.default_rng(k), 0.5, 2.0) for k in range(20)}
    assert ends == {1.5, 3.0}


def test_long_enough_clips_show_the_end_of_their_action(tmp_path):
    """2.5-3 s clips have room to end the action: some do, inside the clip before its return
    to rest; the others hold it to the clip's end."""
    out = write_clip_set(tmp_path / "c", _clip_opts(classes=["head up"], train_per_class=8,
                                                    val_per_class=0, test_per_class=0,
                                                    min_seconds=2.5, max_seconds=3.0,
                                                    background=False, workers=1))
    m = pd.read_csv(out / "clips.tsv", sep="\t")
    ended = m["event_end_s"] <= m["duration_s"] - clips.RETURN_S
    assert 0 < ended.sum() < len(m)
    assert (m.loc[ended, "event_end_s"] - m.loc[ended, "event_start_s"] >= clips.MIN_SHOWN_S).all()
    assert (m.loc[~ended, "event_end_s"] == m.loc[~ended, "duration_s"]).all()
