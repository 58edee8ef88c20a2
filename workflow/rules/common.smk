# Participants and their files, known when the workflow is parsed so every per-participant
# job exists up front. The sheet is checked before any job runs.
from pathlib import Path

import pandas as pd


def demo_participants():
    """The demo cohort's ids are fixed by its size: sub-001 ... sub-NNN."""
    n = 3 * DEMO["per_group"]
    return [f"sub-{i:03d}" for i in range(1, n + 1)]


def read_sheet(path):
    """The participant sheet, validated row by row; errors name the row and column."""
    if not Path(path).is_file():
        raise ValueError(f"config participants: sheet {path} does not exist")
    sheet = pd.read_csv(path, sep="\t", dtype={"participant_id": str, "group": str,
                                               "video": str})
    missing = {"participant_id", "group", "video"} - set(sheet.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    validate(sheet, "../schemas/participants.schema.yaml")
    dup = sheet["participant_id"][sheet["participant_id"].duplicated()]
    if len(dup):
        rows = [int(i) + 2 for i in dup.index]
        raise ValueError(f"{path}: duplicate participant_id {sorted(set(dup))} (lines {rows})")
    groups = STATS.groups
    if groups:
        bad = sheet[~sheet["group"].isin(groups)]
        if len(bad):
            raise ValueError(
                f"{path}: line {int(bad.index[0]) + 2}: group {bad['group'].iloc[0]!r} is not "
                f"one of stats.groups {groups}")
    from microdualnet.pose.participant import parse_hint

    for i, row in sheet.iterrows():
        parse_hint(row.get("participant_side"), row.get("participant_box"),
                   f"{path}: line {int(i) + 2}")
    base = Path(path).parent
    absent = [(int(i) + 2, v) for i, v in sheet["video"].items() if not (base / v).is_file()]
    if absent:
        line, video = absent[0]
        raise ValueError(f"{path}: line {line}: video {base / video} does not exist"
                         f" ({len(absent)} missing in all)")
    return sheet


if DEMO["enabled"]:
    SHEET_PATH = f"{DEMO['out']}/participants.tsv"
    PIDS = demo_participants()
    VIDEO = {pid: f"{DEMO['out']}/videos/{pid}.mp4" for pid in PIDS}
else:
    SHEET_PATH = config["participants"]
    _sheet = read_sheet(SHEET_PATH)
    PIDS = list(_sheet["participant_id"])
    VIDEO = {pid: str(Path(SHEET_PATH).parent / v)
             for pid, v in zip(_sheet["participant_id"], _sheet["video"])}


# GPU jobs (train, infer) run through `python -m pipeio.gpu`, which gives each job a free
# slot of the pool via CUDA_VISIBLE_DEVICES (left alone under SLURM; a no-op without a GPU):
# up to gpu.share infer jobs per device, training a whole device.
GPU = config["gpu"]


def gpu_wrapper_args(device="auto", whole=False):
    """Options for `python -m pipeio.gpu`: the device pool (`none` for CPU-only jobs), its
    share, and for training the whole device."""
    import shlex

    devices = GPU["devices"]
    if device == "cpu":
        devices = "none"
    elif not isinstance(devices, str):
        devices = ",".join(str(d) for d in devices)
    lock = f" --lock-dir {shlex.quote(GPU['lock_dir'])}" if GPU.get("lock_dir") else ""
    mode = " --whole" if whole else f" --min-free-mib {GPU['min_free_mib']}"
    return f"--devices {shlex.quote(devices)} --share {GPU['share']}{mode}{lock}"


# Caption files of the report (workflow/report/*.rst), beside the Snakefile.
CAPTIONS = Path(workflow.basedir) / "workflow" / "report"
