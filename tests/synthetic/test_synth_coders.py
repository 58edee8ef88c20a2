"""`synth coders`: two noisy coders whose agreement is what their noise predicts.

The cohort's true events are scheduled as `synth cohort` schedules them, without rendering
any video (the coders only read `truth_events.tsv` and the cohort's config).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.__main__ import main as analysis_main
from microdualnet.cli import main
from microdualnet.synthetic.actions import BY_ID
from microdualnet.synthetic.coders import (
    EXTRA_S,
    CoderNoise,
    CodersConfig,
    code_events,
    coder_events,
)
from microdualnet.synthetic.cohort import CohortConfig, draw_participants, schedule_events


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """30 participants x 120 s of true events (no videos)."""
    root = tmp_path_factory.mktemp("cohort")
    cfg = CohortConfig(seconds=120.0, groups={"ASD": 10, "PSY": 10, "TDC": 10})
    people = draw_participants(cfg)
    rows = []
    for p in people:
        for e in schedule_events(cfg, p.group, np.random.default_rng([cfg.seed, 20, p.index])):
            rows.append({"participant_id": p.participant_id, "action_id": e.action_id,
                         "action": BY_ID[e.action_id].name, "start_s": e.start_s,
                         "end_s": e.end_s})
    pd.DataFrame(rows).to_csv(root / "truth_events.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": [p.participant_id for p in people],
                  "group": [p.group for p in people],
                  "video": [f"videos/{p.participant_id}.mp4" for p in people]}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    (root / "cohort_config.yaml").write_text(yaml.safe_dump(cfg.model_dump()))
    return root


def agreement(tmp_path: Path, cohort: Path, *noise: str) -> pd.DataFrame:
    """Coder 2 against coder 1 (BORIS files against ELAN files), every action."""
    out = tmp_path / "codings"
    assert main(["synth", "coders", "--cohort", str(cohort), "--out", str(out),
                 "--participants", "30", *noise]) == 0
    assert analysis_main(["agreement", "--codings", f"coder1={out / 'coder1' / 'boris'}",
                          f"coder2={out / 'coder2' / 'elan'}", "--mapping",
                          str(out / "mapping.yaml"), "--durations", str(out / "durations.tsv"),
                          "--out-dir", str(tmp_path / "agreement")]) == 0
    return pd.read_csv(tmp_path / "agreement" / "agreement.tsv", sep="\t")


def pooled_f1(table: pd.DataFrame) -> float:
    return 2 * table["events_matched"].sum() / (table["events_reference"].sum()
                                                + table["events_compared"].sum())


def test_without_noise_the_coders_agree_perfectly(tmp_path, cohort):
    table = agreement(tmp_path, cohort, "--jitter-s", "0", "--miss", "0", "--extra-per-min", "0")
    coded = table[table["events_reference"] > 0]
    assert len(coded) == 13  # every planted action occurs in 30 participants
    assert np.allclose(coded[["icc", "kappa", "f1"]], 1.0)


def test_jitter_only_keeps_events_matched(tmp_path, cohort):
    # Onsets and offsets move by N(0, 0.15 s) for each coder: their difference has SD 0.21 s,
    # small beside events of 1-3 s, so nearly every event still matches at IoU >= 0.5.
    table = agreement(tmp_path, cohort, "--jitter-s", "0.15", "--miss", "0",
                      "--extra-per-min", "0")
    assert (table["events_reference"] == table["events_compared"]).all()
    assert pooled_f1(table) > 0.95
    assert table["icc"].min() > 0.9 and table["kappa"].min() > 0.8
    # ... but the jitter is there: the coders' frames no longer agree exactly.
    assert table["kappa"].max() < 0.98 and pooled_f1(table) < 1.0


def test_missed_events_give_the_predicted_f1(tmp_path, cohort):
    # Each coder keeps an event with probability 1 - m, independently. Matched events are
    # those both kept: n (1 - m)^2 of n (1 - m) per coder, so F1 = 2 n (1 - m)^2 /
    # (2 n (1 - m)) = 1 - m = 0.7 (merging never happens without jitter).
    table = agreement(tmp_path, cohort, "--jitter-s", "0", "--miss", "0.3",
                      "--extra-per-min", "0")
    n = table["events_reference"].sum()
    assert n > 300
    assert pooled_f1(table) == pytest.approx(0.7, abs=3 * np.sqrt(0.7 * 0.3 / n) + 0.01)


def test_same_seed_same_files(tmp_path, cohort):
    for name in ("a", "b"):
        assert main(["synth", "coders", "--cohort", str(cohort), "--out",
                     str(tmp_path / name), "--participants", "3"]) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and p.name != "provenance.json")  # it holds the time
    assert len(files) == 2 * 2 * 3 + 3
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files)
    coders = yaml.safe_load((tmp_path / "a" / "coders_config.yaml").read_text())
    assert len(coders["coded"]) == 3 and coders["noise"]["miss"] == 0.1
    record = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert record["step"] == "synth coders" and record["params"]["coded"] == coders["coded"]
    assert set(record["inputs"]) == {str(cohort / name) for name in (
        "participants.tsv", "truth_events.tsv", "cohort_config.yaml")}


def test_the_message_counts_the_participants_coded(tmp_path, cohort, capsys):
    """--participants 40 of a 30-child cohort codes all 30, and says so."""
    assert main(["synth", "coders", "--cohort", str(cohort), "--out", str(tmp_path / "c"),
                 "--participants", "40", "--jitter-s", "0"]) == 0
    assert capsys.readouterr().out == (f"wrote two coders' codings of 30 participant(s) to "
                                       f"{tmp_path / 'c'}\n")
    assert len(list((tmp_path / "c" / "coder1" / "elan").glob("*.eaf"))) == 30


def test_bad_noise_is_one_line(tmp_path, cohort, capsys):
    assert main(["synth", "coders", "--cohort", str(cohort), "--out", str(tmp_path / "x"),
                 "--miss", "1.5"]) == 2
    assert "invalid option --miss: " in capsys.readouterr().err


def test_coders_know_the_video_as_rendered(tmp_path, cohort):
    """`seconds: 120.01` at 25 fps renders 3000 frames: a 120.00-s video, and the coders'
    durations, BORIS media length and events end there, not 0.01 s later."""
    odd = tmp_path / "cohort"
    shutil.copytree(cohort, odd)
    cfg = yaml.safe_load((odd / "cohort_config.yaml").read_text())
    assert cfg["fps"] == 25
    cfg["seconds"] = 120.01
    (odd / "cohort_config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["synth", "coders", "--cohort", str(odd), "--out", str(tmp_path / "c"),
                 "--participants", "3", "--extra-per-min", "6"]) == 0
    durations = pd.read_csv(tmp_path / "c" / "durations.tsv", sep="\t")
    assert (durations["duration_s"] == 120.0).all()
    boris = sorted((tmp_path / "c" / "coder1" / "boris").glob("*.tsv"))
    assert len(boris) == 3
    for path in boris:
        rows = pd.read_csv(path, sep="\t")
        assert (rows["Media duration (s)"] == 120.0).all(), path
        assert rows["Time"].max() <= 120.0, path


NO_NOISE = {"jitter_s": 0.0, "miss": 0.0, "extra_per_min": 0.0}


def _truth(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["action", "start_s", "end_s"])


def test_jitter_moves_onsets_and_offsets_by_its_sd():
    """Jitter only: every event is kept, but its onset and offset move by N(0, jitter_s)."""
    truth = _truth([("nodding", 10.0 * k + 2.0, 10.0 * k + 4.0) for k in range(300)])
    noise = CoderNoise(**{**NO_NOISE, "jitter_s": 0.3})
    coded = code_events(truth, 3010.0, ["nodding"], noise, np.random.default_rng(5))
    assert len(coded) == len(truth)  # 6 s apart: jitter of 0.3 s merges nothing
    moved = np.concatenate([coded["start_s"] - truth["start_s"], coded["end_s"] - truth["end_s"]])
    assert np.mean(moved == 0) < 0.02  # hardly any onset or offset coded exactly
    assert np.std(moved) == pytest.approx(0.3, rel=0.1)  # SE of the SD: 0.3 / sqrt(1200)
    assert abs(np.mean(moved)) < 0.05
    assert np.abs(moved).max() > 0.6  # the tails of a Gaussian, not a fixed shift
    # Without jitter the same truth comes back exactly.
    exact = code_events(truth, 3010.0, ["nodding"], CoderNoise(**NO_NOISE),
                        np.random.default_rng(5))
    pd.testing.assert_frame_equal(exact, truth)


def test_extra_events_come_at_extra_per_min_per_minute():
    """Extras only, on no true events: Poisson(extra_per_min x minutes) events, each 1-3 s,
    of the cohort's actions, inside the video."""
    actions = ["nodding", "head up", "shaking legs"]
    seconds, rate, runs = 600.0, 3.0, 20
    expected = rate * seconds / 60  # 30 per run
    counts = []
    for seed in range(runs):
        coded = code_events(_truth([]), seconds, actions,
                            CoderNoise(**{**NO_NOISE, "extra_per_min": rate}),
                            np.random.default_rng(seed))
        counts.append(len(coded))
        assert set(coded["action"]) <= set(actions)
        assert (coded["start_s"] >= 0).all() and (coded["end_s"] <= seconds).all()
        length = coded["end_s"] - coded["start_s"]
        # An extra lasts 1-3 s; two of one action that overlap become one longer event.
        assert (length >= EXTRA_S[0] - 1e-9).all(), coded
        assert (length <= EXTRA_S[1] + 1e-9).mean() > 0.8
    # Merged overlaps can only lower the count, and rarely do here.
    mean = np.mean(counts)
    assert expected * 0.85 <= mean <= expected + 4 * np.sqrt(expected / runs), counts
    assert len(set(counts)) > 3  # Poisson counts, not a fixed number


def test_extra_events_add_to_the_cohorts_true_events(cohort):
    """Through `coder_events` on the cohort: the true events are all kept and about
    extra_per_min x minutes more per participant are added."""
    truth = pd.read_csv(cohort / "truth_events.tsv", sep="\t")
    cfg_cohort = yaml.safe_load((cohort / "cohort_config.yaml").read_text())
    actions = [e["action"] for e in cfg_cohort["effects"]]
    seconds = float(cfg_cohort["seconds"])
    cfg = CodersConfig(noise=CoderNoise(**{**NO_NOISE, "extra_per_min": 2.0}))
    pids = sorted(truth["participant_id"].unique())
    coded = pd.concat([coder_events(truth, pid, row, 1, seconds, actions, cfg)
                       for row, pid in enumerate(pids)])
    expected = 2.0 * seconds / 60 * len(pids)  # 4 per participant, 120 in all
    added = len(coded) - len(truth)
    assert expected - 4 * np.sqrt(expected) - 10 <= added <= expected + 4 * np.sqrt(expected)
    # Every true event is still coded, alone or inside an extra of its action it merged with.
    pairs = truth.merge(coded, on=["participant_id", "action"], suffixes=("", "_coded"))
    covered = pairs[(pairs["start_s_coded"] <= pairs["start_s"])
                    & (pairs["end_s_coded"] >= pairs["end_s"])]
    assert len(covered.drop_duplicates(["participant_id", "action", "start_s"])) == len(truth)
    # Without extras the coders return the true events exactly, one for one.
    same = pd.concat([coder_events(truth, pid, row, 1, seconds, actions,
                                   CodersConfig(noise=CoderNoise(**NO_NOISE)))
                      for row, pid in enumerate(pids)])
    assert len(same) == len(truth)


def test_overlapping_events_of_one_action_are_merged():
    """A coder never codes one action twice at once: overlapping (or touching) events of
    one action become one spanning both; other actions and separate events stay apart."""
    truth = _truth([
        ("nodding", 1.0, 3.0), ("nodding", 2.0, 5.0),  # overlap -> 1.0-5.0
        ("turning head", 2.5, 4.0),  # another action at the same time: its own event
        ("nodding", 8.0, 9.0),  # after a gap: separate
        ("head up", 10.0, 14.0), ("head up", 11.0, 12.0),  # inside the first -> 10.0-14.0
        ("head up", 14.0, 15.5),  # touches the end -> 10.0-15.5
    ])
    coded = code_events(truth, 60.0, ["nodding", "turning head", "head up"],
                        CoderNoise(**NO_NOISE), np.random.default_rng(0))
    assert [tuple(r) for r in coded.itertuples(index=False)] == [
        ("nodding", 1.0, 5.0), ("turning head", 2.5, 4.0), ("nodding", 8.0, 9.0),
        ("head up", 10.0, 15.5)]


def test_coded_events_stay_inside_the_video_and_last_at_least_min_event_s():
    """Without noise: an event jittered past the video's end (60 s) is coded as its last
    MIN_EVENT_S (59.8-60.0), one before its start as the first 0.2 s, and a zero-length one
    is stretched to 0.2 s."""
    truth = _truth([("nodding", 60.5, 61.0), ("head up", -1.0, -0.5), ("turning head", 30.0, 30.0)])
    coded = code_events(truth, 60.0, ["nodding", "turning head", "head up"],
                        CoderNoise(**NO_NOISE), np.random.default_rng(0))
    assert [tuple(r) for r in coded.itertuples(index=False)] == [
        ("head up", 0.0, 0.2), ("turning head", 30.0, 30.2), ("nodding", 59.8, 60.0)]


@pytest.mark.parametrize(("config", "needle"), [
    ("seconds: 120\n", "KeyError: 'fps'"),  # a config without its frame rate
    ("- 1\n", "TypeError"),  # not a mapping
    ("fps: 0\nseconds: 120\neffects: []\n", "ZeroDivisionError"),
])
def test_a_foreign_cohort_config_is_one_line(tmp_path, cohort, capsys, config, needle):
    """A hand-edited or foreign cohort_config.yaml was a traceback (KeyError, TypeError,
    ZeroDivisionError); now one line naming the file, and nothing is written."""
    odd = tmp_path / "cohort"
    shutil.copytree(cohort, odd)
    (odd / "cohort_config.yaml").write_text(config)
    out = tmp_path / "c"
    assert main(["synth", "coders", "--cohort", str(odd), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert f"{odd / 'cohort_config.yaml'}: not a synth cohort config" in err and needle in err
    assert not out.exists()


def test_truth_without_its_columns_is_one_line(tmp_path, cohort, capsys):
    odd = tmp_path / "cohort"
    shutil.copytree(cohort, odd)
    truth = pd.read_csv(odd / "truth_events.tsv", sep="\t")
    truth.drop(columns=["end_s"]).to_csv(odd / "truth_events.tsv", sep="\t", index=False)
    assert main(["synth", "coders", "--cohort", str(odd), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "truth_events.tsv: no column(s) ['end_s']" in err, err
