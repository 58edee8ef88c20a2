"""`synth coders`: two noisy coders whose agreement is what their noise predicts.

The cohort's true events are scheduled as `synth cohort` schedules them, without rendering
any video (the coders only read `truth_events.tsv` and the cohort's config).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.__main__ import main as analysis_main
from microdualnet.cli import main
from microdualnet.synthetic.actions import BY_ID
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
                   if p.is_file())
    assert len(files) == 2 * 2 * 3 + 3
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files)
    coders = yaml.safe_load((tmp_path / "a" / "coders_config.yaml").read_text())
    assert len(coders["coded"]) == 3 and coders["noise"]["miss"] == 0.1


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
    boris = (tmp_path / "c" / "coder1" / "boris").glob("*.tsv")
    for path in boris:
        text = path.read_text()
        assert "120.01" not in text, path
