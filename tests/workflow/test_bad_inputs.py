"""The bad inputs a study brings, one at a time: each stops with one line naming the file,
line or key, or excludes the participant with the reason while the others' results stay
byte-identical, or reruns exactly what it must. docs/workflow.md#bad-inputs lists them.

The study: three participants from the synthetic world as a study's own data (sheet, videos,
OpenPose JSON folders, a randomly initialised model used as it is), one of them with a video
file name holding a space, a quote and a non-ASCII letter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_testkit import ROOT, job_counts, job_wildcards, make_random_model, run_snakemake

from microdualnet.cli import main
from microdualnet.video import FrameStream, probe

RESULTS = "results/study"
PERCENT = f"{RESULTS}/percent_time.tsv"
ODD_NAME = "participant 0'1 é.mp4"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run to percent time on the study (results/study)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    wd = root / "wd"
    make_random_model(wd / "model")
    assert main(["synth", "cohort", "--out", str(wd / "study"), "--per-group", "1",
                 "--seconds", "6", "--fps", "8", "--width", "96", "--height", "64",
                 "--workers", "1"]) == 0
    sheet_path = wd / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str)
    (wd / "study" / sheet.loc[0, "video"]).rename(wd / "study/videos" / ODD_NAME)
    sheet.loc[0, "video"] = f"videos/{ODD_NAME}"
    sheet.to_csv(sheet_path, sep="\t", index=False)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg.update(results=RESULTS, participants="study/participants.tsv",
               percent_time_source="model", on_participant_error="exclude")
    cfg["model"].update(train=False, path="model")
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    res = run_snakemake(wd, PERCENT)
    assert res.returncode == 0, res.stderr[-4000:]
    return wd


@pytest.fixture
def copy(study: Path, tmp_path: Path) -> Path:
    """A copy of the finished study (times kept) that a test may break."""
    wd = tmp_path / "wd"
    shutil.copytree(study, wd, symlinks=True)
    return wd


def _pids(wd: Path) -> list[str]:
    return list(pd.read_csv(wd / "study/participants.tsv", sep="\t", dtype=str)
                ["participant_id"])


def _message(res: subprocess.CompletedProcess) -> str:
    """The run's error output; asserting on it checks the error is one line, not a dump."""
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "Failed validating" not in out and "Traceback" not in out, out[-3000:]
    return out


def _edit(wd: Path, **sections: dict) -> None:
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    for key, value in sections.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))


# ---- file names -------------------------------------------------------------------------

def test_a_video_name_with_a_space_a_quote_and_an_accent_runs(study):
    table = pd.read_csv(study / PERCENT, sep="\t", dtype={"participant_id": str})
    assert sorted(table["participant_id"].unique()) == sorted(_pids(study))
    excluded = pd.read_csv(study / f"{RESULTS}/percent_time_exclusions.tsv", sep="\t")
    assert excluded.empty, excluded
    for pid in _pids(study):  # seated and upright: the sideways check passes them
        qc = json.loads((study / f"{RESULTS}/pose/{pid}.qc.json").read_text())
        assert qc["upright_fraction"] > 0.9 and qc["frames_with_body_axis"] > 0, qc


# ---- the participant sheet ----------------------------------------------------------------

def test_a_latin1_byte_names_the_sheet_line_and_column(copy):
    sheet = copy / "study/participants.tsv"
    lines = sheet.read_text().rstrip("\n").split("\n")
    # A cell pasted from a Latin-1 file into the UTF-8 sheet.
    notes = [b"note", b"", "seen by José".encode("latin-1"), b""]
    sheet.write_bytes(b"".join(line.encode() + b"\t" + note + b"\n"
                               for line, note in zip(lines, notes, strict=True)))
    out = _message(run_snakemake(copy, "--dry-run"))
    assert "participants.tsv: line 3, column " in out and "byte 0xe9 is not UTF-8" in out


def test_an_empty_video_cell_names_the_sheet_line(copy):
    sheet_path = copy / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str)
    sheet.loc[1, "video"] = ""
    sheet.to_csv(sheet_path, sep="\t", index=False)
    out = _message(run_snakemake(copy, "--dry-run"))
    assert "participants.tsv: line 3: column video is empty" in out


def test_a_new_sheet_column_reruns_no_pose_or_inference(copy):
    sheet_path = copy / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str)
    sheet["site"] = "A"
    sheet.to_csv(sheet_path, sep="\t", index=False)
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr) == {"aggregate": 1}


def test_a_changed_openpose_folder_reruns_only_that_participant(copy):
    """OpenPose JSON is no job's input file: the folder's manifest (names, sizes, times) is a
    parameter of the pose job, so a re-exported folder reruns that participant."""
    pid = _pids(copy)[1]
    first = sorted((copy / "study/openpose" / pid).iterdir())[0]
    first.write_text(first.read_text())  # exported again: same content, a new time
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    log = plan.stdout + plan.stderr
    assert plan.returncode == 0, log[-3000:]
    assert job_counts(log) == {"pose": 1, "infer": 1, "aggregate": 1}
    assert set(job_wildcards(log)) == {f"pid={pid}"}


def test_a_video_replaced_by_an_older_copy_reruns_only_that_participant(copy):
    """A video copied in with its times kept (`cp -p`, as docs/workflow.md advises) can be
    older than the results of the one it replaces; Snakemake reruns only for newer times, so
    the video's size and time are a parameter of that participant's pose and infer jobs."""
    pids = _pids(copy)
    sheet = pd.read_csv(copy / "study/participants.tsv", sep="\t", dtype=str)
    video, other = (copy / "study" / sheet.loc[i, "video"] for i in (1, 2))
    stat = video.stat()
    shutil.copyfile(other, video)
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**12))
    assert video.stat().st_mtime_ns < (copy / f"{RESULTS}/pose/{pids[1]}.npz").stat().st_mtime_ns
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    log = plan.stdout + plan.stderr
    assert plan.returncode == 0, log[-3000:]
    assert job_counts(log) == {"pose": 1, "infer": 1, "aggregate": 1}
    assert set(job_wildcards(log)) == {f"pid={pids[1]}"}


# ---- the config ---------------------------------------------------------------------------

@pytest.mark.parametrize("section, key, typo, line", [
    ("inference", "window_s", "windw_s", "config: unknown key 'windw_s' in inference; did you "
                                         "mean 'window_s'?"),
    (None, "results", "resluts", "config: unknown key 'resluts' at the top level; did you mean "
                                 "'results'?"),
])
def test_a_config_typo_is_one_line_with_the_closest_key(copy, section, key, typo, line):
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    where = cfg[section] if section else cfg
    where[typo] = where.pop(key)
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = _message(run_snakemake(copy, "--dry-run"))
    assert line in out
    assert len(out.strip().splitlines()) < 8, out


def test_a_config_section_given_twice_is_one_line_naming_both(copy):
    """Snakemake keeps the second `stats:` of a file whole: the first one's keys would vanish.
    Both the shipped config and one given with --configfile are checked."""
    text = (copy / "config.yaml").read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("stats:")) + 1
    (copy / "config.yaml").write_text(text + "\nstats:\n  alpha: 0.01\n")
    out = _message(run_snakemake(copy, "--dry-run"))
    assert (f"config file config.yaml, line {len(lines) + 2}: 'stats' is given twice (also on "
            f"line {first}); YAML would keep only the last, so give each key once") in out, out
    assert len(out.strip().splitlines()) < 8, out
    (copy / "config.yaml").write_text(text)
    (copy / "more.yaml").write_text("inference:\n  hop_s: 0.5\n  hop_s: 1.0\n")
    out = _message(run_snakemake(copy, "--dry-run", "--configfile", str(copy / "more.yaml")))
    assert "more.yaml, line 3: 'hop_s' is given twice (also on line 2)" in out, out


@pytest.mark.parametrize("key, value, line", [
    ("fps", 500, "config: demo.fps: Input should be less than or equal to 120 (got 500)"),
    ("width", 161, "config: demo.width: must be even (H.264 needs even frame sizes) (got 161)"),
    ("seconds", 2, "config: demo.seconds: Input should be greater than or equal to 5 (got 2)"),
])
def test_a_demo_setting_synth_cohort_refuses_stops_before_any_job(copy, key, value, line):
    """The schema's bounds are rough; the demo's settings are checked as `synth cohort`
    checks them, not when its job runs."""
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["demo"] = {**cfg.get("demo", {}), "enabled": True, key: value}
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = _message(run_snakemake(copy, "--dry-run"))
    assert line in out, out
    assert len(out.strip().splitlines()) < 8, out


def test_one_coder_on_the_truth_path_stops_before_any_job(copy):
    """The truth path compares coders only: one coder has nobody to be compared with."""
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["demo"] = {**cfg.get("demo", {}), "enabled": True}
    cfg["percent_time_source"] = "truth"
    cfg["agreement"] = {**cfg.get("agreement", {}), "coders": {"anna": "config.yaml"},
                        "mapping": "config.yaml"}  # only their existence is checked here
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = _message(run_snakemake(copy, "--dry-run"))
    assert "config agreement: coder 'anna' alone has nothing to compare with on the truth " \
           "path" in out, out


def test_an_openpose_folder_without_any_participant_is_a_settings_error(copy):
    """A typo in pose.openpose_dir stops before any job instead of excluding everyone."""
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["pose"]["openpose_dir"] = "study/openpsoe"
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = _message(run_snakemake(copy, "--dry-run"))
    assert "config pose.openpose_dir: study/openpsoe holds no folder named after a " \
           "participant" in out


# ---- the model ----------------------------------------------------------------------------

def test_a_missing_model_json_stops_instead_of_keeping_old_results(copy):
    (copy / "model/model.json").unlink()
    out = _message(run_snakemake(copy, PERCENT))
    assert "config model.path (model.train is false" in out
    assert "model folder model: missing model.json" in out


def test_a_truncated_weights_file_is_one_line_in_the_workflow_and_in_infer(copy):
    weights = copy / "model/model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = _message(run_snakemake(copy, PERCENT))
    assert "model/model.safetensors is damaged or incomplete" in out
    pid = _pids(copy)[1]
    res = subprocess.run(
        [sys.executable, "-m", "microdualnet", "infer", "--model", str(copy / "model"),
         "--video", str(copy / f"study/videos/{pid}.mp4"),
         "--pose", str(copy / f"{RESULTS}/pose/{pid}.npz"), "--out", str(copy / "w.parquet")],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "is damaged or incomplete" in res.stderr


def test_a_replaced_model_with_older_times_reruns_inference(copy):
    stat = (copy / "model/model.safetensors").stat()
    make_random_model(copy / "other", seed=1)
    for name in ("model.json", "model.safetensors"):
        shutil.copyfile(copy / "other" / name, copy / "model" / name)
        os.utime(copy / "model" / name, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**12))
    weights = copy / "model/model.safetensors"
    assert weights.stat().st_mtime_ns < (copy / f"{RESULTS}/windows/sub-002.parquet"
                                         ).stat().st_mtime_ns
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr) == {"infer": 3, "aggregate": 1}


def test_a_model_used_as_it_is_is_never_trained_over(copy):
    """With model.train: false the train rule exists (rules are unconditional) but refuses,
    and a train config newer than the model asks for nothing."""
    before = (copy / "model/model.safetensors").read_bytes()
    config = copy / "newer_train.yaml"
    config.write_text("seed: 0\n")
    _edit(copy, model={"train_config": str(config)})
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "Nothing to be done" in plan.stdout + plan.stderr
    # Snakemake reports an input function's error with the function's frame under it.
    res = run_snakemake(copy, "--dry-run", "model/model.safetensors", "--forcerun", "train")
    assert res.returncode != 0
    assert ("ValueError: config model.train is false: model.path model is used as it is"
            in res.stdout + res.stderr)
    assert (copy / "model/model.safetensors").read_bytes() == before


def test_aggregate_refuses_windows_of_another_model(copy):
    make_random_model(copy / "other", seed=1)
    windows = sorted((copy / f"{RESULTS}/windows").glob("*.parquet"))
    res = subprocess.run(
        [sys.executable, "-m", "analysis", "aggregate", "--windows", *map(str, windows),
         "--participants", str(copy / "study/participants.tsv"), "--out",
         str(copy / "p.tsv"), "--model", str(copy / "other")],
        capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert f"windows file {windows[0]} was made by model " in res.stderr
    assert f"not by the model in {copy / 'other'}" in res.stderr
    assert not (copy / "p.tsv").exists()


# ---- a recording turned sideways ----------------------------------------------------------

def _turn_people(folder: Path) -> None:
    """Every person of an OpenPose folder turned 90 degrees about their own centre."""
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        for person in data["people"]:
            kp = np.asarray(person["pose_keypoints_2d"], float).reshape(-1, 3)
            seen = kp[:, 2] > 0
            centre = kp[seen, :2].mean(0)
            x, y = (kp[:, :2] - centre).T
            kp[:, :2] = np.where(seen[:, None], np.c_[-y, x] + centre, kp[:, :2])
            person["pose_keypoints_2d"] = kp.ravel().tolist()
        path.write_text(json.dumps(data))


def test_a_sideways_pose_is_excluded_and_the_others_are_unchanged(copy, study):
    turned = _pids(copy)[2]
    _turn_people(copy / "study/openpose" / turned)
    # A changed OpenPose folder is noticed by itself and reruns that participant only.
    plan = run_snakemake(copy, "--dry-run", PERCENT)
    log = plan.stdout + plan.stderr
    assert plan.returncode == 0, log[-3000:]
    assert job_counts(log) == {"pose": 1, "infer": 1, "aggregate": 1}
    assert job_wildcards(log) == [f"pid={turned}"] * 2

    res = run_snakemake(copy, PERCENT)
    assert res.returncode == 0, res.stderr[-3000:]
    excluded = pd.read_csv(copy / f"{RESULTS}/percent_time_exclusions.tsv", sep="\t")
    assert list(excluded["participant_id"]) == [turned]
    assert "body axis is more than 45 degrees from upright" in excluded["reason"][0]
    table = pd.read_csv(copy / PERCENT, sep="\t", dtype={"participant_id": str})
    before = pd.read_csv(study / PERCENT, sep="\t", dtype={"participant_id": str})
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True),
        before[before["participant_id"] != turned].reset_index(drop=True))
    for pid in _pids(copy):
        if pid != turned:
            name = f"{RESULTS}/windows/{pid}.parquet"
            assert (copy / name).read_bytes() == (study / name).read_bytes()


def _write_turned(path: Path, frames: list[np.ndarray], rotation: int) -> None:
    """Frames stored turned by -rotation, with a display rotation that turns them back."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stored = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in frames]
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "0"}
        stream.set_display_rotation(rotation)
        for frame in stored:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_phone_recordings_display_rotation_is_honoured(tmp_path, rotation):
    rng = np.random.default_rng(0)
    upright = [np.repeat(np.repeat(rng.integers(0, 255, (6, 8, 3), np.uint8), 8, 0), 8, 1)
               for _ in range(4)]
    path = tmp_path / "phone.mp4"
    _write_turned(path, upright, rotation)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (64, 48, rotation % 360)
    with FrameStream(path) as stream:
        got = dict(stream.frames(range(4)))
    with FrameStream(path) as stream:
        small = dict(stream.frames([0], size=(32, 24)))
    assert small[0].shape == (24, 32, 3)
    for i, frame in enumerate(upright):
        assert got[i].shape == frame.shape
        assert np.abs(got[i].astype(int) - frame).mean() < 8  # codec error only


# ---- the default profile ------------------------------------------------------------------

def test_a_plain_run_keeps_going_past_a_failed_participant(copy):
    """profiles/default applies without --profile: a failed job does not stop the others."""
    _edit(copy, on_participant_error="fail")
    shutil.rmtree(copy / RESULTS)
    shutil.rmtree(copy / ".snakemake")
    broken = _pids(copy)[1]
    (copy / f"study/videos/{broken}.mp4").write_bytes(b"not a video\n" * 100)
    res = run_snakemake(copy, PERCENT)
    assert res.returncode != 0
    for pid in _pids(copy):
        made = (copy / f"{RESULTS}/windows/{pid}.parquet").is_file()
        assert made == (pid != broken), pid


# ---- codings in the sheet -------------------------------------------------------------------

def test_sheet_codings_columns_compare_each_coder_on_the_participants_they_coded(copy):
    """A codings_<coder> column gives that coder's file per participant (empty: not coded);
    adding the columns reruns no pose or inference job (aggregate reads the sheet's groups)."""
    assert main(["synth", "coders", "--cohort", str(copy / "study"),
                 "--out", str(copy / "study/codings")]) == 0
    sheet_path = copy / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    pids = list(sheet["participant_id"])
    sheet["codings_anna"] = [f"codings/coder1/boris/{pid}.tsv" for pid in pids]
    sheet["codings_ben"] = [f"codings/coder2/elan/{pid}.eaf" for pid in pids[:2]] + [""]
    sheet.to_csv(sheet_path, sep="\t", index=False)
    _edit(copy, agreement={"mapping": "study/codings/mapping.yaml"})
    target = f"{RESULTS}/agreement/agreement.tsv"
    plan = run_snakemake(copy, "--dry-run", PERCENT, target)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr) == {"aggregate": 1, "agreement": 1}
    res = run_snakemake(copy, target)
    assert res.returncode == 0, res.stderr[-3000:]
    table = pd.read_csv(copy / target, sep="\t")
    pairs = {(r, c) for r, c in zip(table["reference"], table["compared"], strict=True)}
    assert pairs == {("anna", "model"), ("ben", "model"), ("anna", "ben")}
    n = table.groupby(["reference", "compared"])["n"].max()
    assert n[("anna", "model")] == 3 and n[("ben", "model")] == 2 and n[("anna", "ben")] == 2


def test_a_coder_file_corrected_in_place_reruns_the_agreement(copy):
    """A coder given as a folder (config agreement.coders): rewriting an export inside it
    leaves the folder's own time alone, which is all Snakemake compares for a folder."""
    assert main(["synth", "coders", "--cohort", str(copy / "study"),
                 "--out", str(copy / "study/codings")]) == 0
    _edit(copy, agreement={"mapping": "study/codings/mapping.yaml",
                           "coders": {"anna": "study/codings/coder1/boris"}})
    target = f"{RESULTS}/agreement/agreement.tsv"
    res = run_snakemake(copy, target)
    assert res.returncode == 0, res.stderr[-3000:]
    folder = copy / "study/codings/coder1/boris"
    kept = folder.stat()
    export = sorted(folder.glob("*.tsv"))[0]
    export.write_text(export.read_text())  # the same bytes, a newer file
    os.utime(folder, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    plan = run_snakemake(copy, "--dry-run", target)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr) == {"agreement": 1}



def test_a_coding_file_or_mapping_replaced_by_an_older_copy_reruns_the_agreement(copy):
    """A sheet's coding file or the mapping copied in with its times kept (`cp -p` from a
    coder's archive) is older than the agreement: their sizes and times are a parameter."""
    assert main(["synth", "coders", "--cohort", str(copy / "study"),
                 "--out", str(copy / "study/codings")]) == 0
    sheet_path = copy / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    sheet["codings_anna"] = [f"codings/coder1/boris/{pid}.tsv" for pid in sheet["participant_id"]]
    sheet.to_csv(sheet_path, sep="\t", index=False)
    _edit(copy, agreement={"mapping": "study/codings/mapping.yaml"})
    target = f"{RESULTS}/agreement/agreement.tsv"
    res = run_snakemake(copy, target)
    assert res.returncode == 0, res.stderr[-3000:]
    codings = copy / "study/codings"
    pid = sheet.loc[1, "participant_id"]
    for replaced, older in ((codings / f"coder1/boris/{pid}.tsv", codings / f"coder2/boris/{pid}.tsv"),
                            (codings / "mapping.yaml", None)):
        kept = replaced.stat()
        if older is None:
            replaced.write_text(replaced.read_text() + "# revised\n")
        else:
            shutil.copyfile(older, replaced)
        os.utime(replaced, ns=(kept.st_atime_ns, kept.st_mtime_ns - 10**12))
        plan = run_snakemake(copy, "--dry-run", target)
        assert plan.returncode == 0, plan.stderr[-3000:]
        assert job_counts(plan.stdout + plan.stderr) == {"agreement": 1}, replaced
        res = run_snakemake(copy, target)
        assert res.returncode == 0, res.stderr[-3000:]

def test_a_missing_sheet_coding_file_names_the_line_and_column(copy):
    sheet_path = copy / "study/participants.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    sheet["codings_anna"] = ["", "codings/nowhere.tsv", ""]
    sheet.to_csv(sheet_path, sep="\t", index=False)
    out = _message(run_snakemake(copy, "--dry-run"))
    assert "line 3: column codings_anna: coding file" in out and "nowhere.tsv does not exist" in out
