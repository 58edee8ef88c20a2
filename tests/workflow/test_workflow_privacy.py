"""What a team shares (docs/workflow.md, "What to share") names no child: a study whose
videos, their folders and the coders' files are named after the child and the visit date,
with notes and dates of birth in the sheet, runs through the workflow on the model path,
and none of those strings reaches a shareable file, though the working files hold them."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_testkit import make_random_model, model_workdir, run_snakemake

from microdualnet.cli import main

RESULTS = "results/demo"
NAMES = ["Emma_Smith", "Liam_Jones", "Olivia_Brown", "Noah_Wilson"]
# Files meant for a statistician or a paper (README, "What to share"); provenance files,
# which list their inputs' paths, are working files.
SHAREABLE = ("report.html", "percent_time*.tsv", "pose_quality.tsv", "stats/*",
             "figures/**/*", "agreement/**/*")


def _texts(path: Path) -> list[bytes]:
    """The file's bytes, and the text PNG chunks and PDF streams hold compressed."""
    data = path.read_bytes()
    texts = [data]
    if data.startswith(b"\x89PNG"):
        at = 8
        while at < len(data):
            size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
            body = data[at + 8:at + 8 + size]
            if kind == b"zTXt":
                texts.append(zlib.decompress(body.split(b"\0", 1)[1][1:]))
            elif kind in (b"tEXt", b"iTXt"):
                texts.append(body)
            at += 12 + size
    if data.startswith(b"%PDF"):
        for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
            try:
                texts.append(zlib.decompress(stream))
            except zlib.error:
                continue
    return texts


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of four participants, one of whose videos is unreadable (excluded)."""
    root = tmp_path_factory.mktemp("privacy")
    (root / "wd").mkdir()
    wd = model_workdir(root / "wd", make_random_model(root / "model_src"))
    cohort = wd / "study"
    assert main(["synth", "cohort", "--out", str(cohort), "--groups", "ASD=2,PSY=1,TDC=1",
                 "--seconds", "6", "--fps", "8", "--width", "96", "--height", "64",
                 "--workers", "2"]) == 0
    assert main(["synth", "coders", "--cohort", str(cohort)]) == 0
    sheet = pd.read_csv(cohort / "participants.tsv", sep="\t", dtype=str)
    for i, (pid, video) in enumerate(zip(sheet["participant_id"], sheet["video"],
                                         strict=True)):
        stem = f"{NAMES[i]}_2024-03-0{i + 1}"
        named = Path("visits") / NAMES[i] / f"{stem}.mp4"
        (cohort / named).parent.mkdir(parents=True)
        (cohort / video).rename(cohort / named)
        sheet.loc[i, ["video", "notes", "dob"]] = [str(named), f"NOTE{i} {NAMES[i]} anxious",
                                                   f"2017-0{i + 1}-1{i}"]
        for coding in (cohort / "codings").glob(f"*/*/{pid}.*"):  # BORIS and ELAN files
            text = coding.read_text(encoding="utf-8").replace(f"videos/{pid}.mp4", str(named))
            coding.with_name(f"{stem}_{pid}{coding.suffix}").write_text(text, encoding="utf-8")
            coding.unlink()
    sheet.to_csv(cohort / "participants.tsv", sep="\t", index=False)
    assert sheet["group"].tolist() == ["ASD", "TDC", "ASD", "PSY"]  # ASD keeps one
    unreadable = cohort / sheet.loc[0, "video"]  # sub-001, Emma_Smith: excluded
    unreadable.write_bytes(unreadable.read_bytes()[:2000])
    mapping = yaml.safe_load((cohort / "codings/mapping.yaml").read_text())
    mapping["participant_id_pattern"] = "(sub-[0-9]+)"
    (cohort / "codings/mapping.yaml").write_text(yaml.safe_dump(mapping))
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["participants"] = "study/participants.tsv"
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    cfg["stats"].update(covariates=["age"], permutations=99)
    cfg["agreement"] = {"coders": {"coder1": "study/codings/coder1/boris",
                                   "coder2": "study/codings/coder2/elan"},
                        "mapping": "study/codings/mapping.yaml"}
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    return wd


def test_no_name_date_of_birth_or_note_reaches_a_shareable_file(study):
    sheet = pd.read_csv(study / "study/participants.tsv", sep="\t", dtype=str)
    secrets = [*NAMES, "2024-03-0", *sheet["dob"], *sheet["notes"], "NOTE0"]
    results = study / RESULTS
    shared = sorted({f for pattern in SHAREABLE for f in results.glob(pattern)
                     if f.is_file() and not f.name.endswith("provenance.json")})
    assert {"report.html", "percent_time_exclusions.tsv", "agreement.md", "caption.md",
            "participants_used.tsv", "overview.pdf"} <= {f.name for f in shared}
    leaks = [(str(f.relative_to(results)), s) for f in shared for text in _texts(f)
             for s in secrets if s.encode() in text]
    assert leaks == []
    # The working files do hold them: what the check looks for is there to be found.
    assert NAMES[0] in (results / "pose/sub-001.qc.json").read_text()
    assert "Emma_Smith_2024-03-01_sub-001.tsv" in (
        results / "agreement/agreement.provenance.json").read_text()


def test_an_excluded_participant_keeps_what_went_wrong_without_the_path(study):
    results = study / RESULTS
    excluded = pd.read_csv(results / "percent_time_exclusions.tsv", sep="\t")
    assert excluded["participant_id"].tolist() == ["sub-001"]
    assert excluded["reason"][0].startswith("pose: video <path> is not readable (truncated "
                                            "or not a video?)"), excluded["reason"][0]
    assert ("excluded participant sub-001: pose: video study/visits/Emma_Smith/"
            "Emma_Smith_2024-03-01.mp4 is not readable") in (
        results / "logs/aggregate.log").read_text()
    table = pd.read_csv(results / "percent_time.tsv", sep="\t")
    assert list(table.columns) == ["participant_id", "group", "age", "action",
                                   "percent_time", "valid_s"]
