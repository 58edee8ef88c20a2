# The globals every rule file uses, derived from the validated config, and the participants
# with their files, known when the workflow is parsed so every per-participant job exists up
# front. The sheet is checked before any job runs.
import functools
import shlex
import sys
from pathlib import Path

import pandas as pd
from snakemake.settings.types import DeploymentMethod

from analysis.config import load_stats_config
from analysis.inputs import CODINGS_PREFIX, coder_name_problem
from microdualnet.synthetic import GROUPS as SYNTHETIC_GROUPS
from pipeio.provenance import folder_manifest

# Rules call the package CLIs with the interpreter that runs Snakemake, so an unactivated
# virtual environment works too; with --use-conda (--software-deployment-method conda) they
# call the `python` of each rule's conda environment (envs/*.yaml) instead.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = "python" if USE_CONDA else sys.executable
RESULTS = config["results"]
DEMO = config["demo"]
# The demo cohort's settings as one rule parameter (a mapping, see demo_cohort's params).
DEMO_SYNTH = {k: DEMO[k] for k in ("per_group", "seconds", "fps", "width", "height", "seed")}
try:  # the stats section is checked key by key before any job runs
    STATS = load_stats_config({"stats": config.get("stats") or {}})
except InputError as err:
    raise ValueError(f"config: {err}") from None


def check_demo(demo):
    """The demo cohort's settings as `synth cohort` takes them (the schema holds only rough
    bounds): a bad one stops the run before any job, naming its key."""
    from pydantic import ValidationError

    from microdualnet.synthetic.cohort import CohortConfig
    from microdualnet.synthetic.options import first_problem

    try:
        CohortConfig(groups=dict.fromkeys(SYNTHETIC_GROUPS, demo["per_group"]),
                     **{k: demo[k] for k in ("seconds", "fps", "width", "height", "seed")})
    except ValidationError as err:
        loc, problem = first_problem(err)
        key = "per_group" if loc.startswith("groups.") else loc
        raise ValueError(f"config: demo.{key}: {problem}") from None


if DEMO["enabled"]:
    check_demo(DEMO)

if config["percent_time_source"] == "truth" and not DEMO["enabled"]:
    raise ValueError(
        "config: percent_time_source 'truth' needs demo.enabled: true (only the synthetic "
        "cohort has a true percent time)"
    )


FROM_MODEL = config["percent_time_source"] == "model"
MODEL = config["model"]
POSE = config["pose"]
INFER = config["inference"]
# inference.device: cpu: infer neither takes a GPU slot nor asks SLURM for a GPU.
INFER_ON_CPU = INFER["device"] == "cpu"
# How window probabilities become labelled time: the same in aggregate (percent time), the
# timelines and the model's events in agreement.
DECISION_ARGS = " ".join(
    f"--{key} {shlex.quote(str(INFER[key]))}"
    for key in ("decision", "threshold", "baseline", "credit")
)


def check_credited_span(infer):
    """aggregate and timeline cut time into bins that must each fit the span a window's
    probabilities are credited to (window_s; with credit view at least hop_s): the schema
    takes any positive length, and aggregate would refuse a shorter span only after every
    participant's pose and inference."""
    from analysis.aggregate import Decision

    bin_s = Decision().bin_s
    key = "window_s" if infer["credit"] == "window" else "hop_s"
    if bin_s > infer[key] * (1 + 1e-9):
        span = "the window" if key == "window_s" else "at least the hop"
        raise ValueError(f"config inference.{key}: {infer[key]:g} s is shorter than the "
                         f"{bin_s:g} s bins percent time is counted in (with credit "
                         f"{infer['credit']} a window's probabilities cover {span}); give at "
                         f"least {bin_s:g}")


if FROM_MODEL:
    check_credited_span(INFER)

# pose.backend mediapipe where this interpreter, which runs the jobs, has no mediapipe (no
# build exists for Python 3.13): every pose job would fail, or with on_participant_error
# exclude every participant would be excluded for a setting. A rule's conda environment
# (--use-conda) installs its own.
if FROM_MODEL and POSE["backend"] == "mediapipe" and not USE_CONDA:
    from microdualnet.pose.mediapipe_backend import mediapipe_missing

    _missing = mediapipe_missing()
    if _missing:
        raise ValueError(f"config pose.backend: {_missing}")

# A participant whose video or pose cannot be read: exclude them (an exclusion record, listed
# in the report) or fail their job. `auto` follows stats.exclude_incomplete.
ON_ERROR = config["on_participant_error"]
if ON_ERROR == "auto":
    ON_ERROR = "exclude" if STATS.exclude_incomplete else "fail"


def demo_participants():
    """The demo cohort's ids are fixed by its size: sub-001 ... sub-NNN, per_group in each of
    the synthetic world's groups."""
    n = len(SYNTHETIC_GROUPS) * DEMO["per_group"]
    return [f"sub-{i:03d}" for i in range(1, n + 1)]


def read_sheet(path):
    """The participant sheet, validated row by row; errors name the line and column."""
    from analysis.aggregate import RESULT_COLUMNS
    from analysis.inputs import check_sheet_covariates
    from microdualnet.pose.participant import parse_hint
    from pipeio.schemacheck import check_schema, load_schema
    from pipeio.textfile import read_utf8, separator_hint, tsv_frame

    if not Path(path).is_file():
        raise ValueError(f"config participants: sheet {path} does not exist")
    text = read_utf8(path, "participant sheet")
    sheet = tsv_frame(text, path, "participant sheet", dtype=str, keep_default_na=False)
    missing = {"participant_id", "group", "video"} - set(sheet.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found "
                         f"{list(sheet.columns)}{separator_hint(list(sheet.columns))}")
    if sheet.empty:
        raise ValueError(f"{path}: no participant rows; expected one row per participant "
                         "under the header line")
    taken = [c for c in sheet.columns if c in RESULT_COLUMNS]
    if taken:  # else `aggregate` refuses the sheet only after every pose and infer job
        raise ValueError(f"{path}: column(s) {taken} have the name of a column the pipeline "
                         f"computes ({', '.join(RESULT_COLUMNS)}); rename them")
    sheet = sheet.apply(lambda col: col.str.strip())
    schema = load_schema(Path(workflow.basedir) / "workflow/schemas/participants.schema.yaml")
    # Rows as plain dicts: pandas' iterrows builds a Series per row, half the sheet's cost in
    # each of the cohort's cluster jobs, which all parse the workflow again.
    rows = sheet.to_dict("index")
    for i, row in rows.items():
        where = f"{path}: line {int(i) + 2}"
        for column in ("participant_id", "group", "video"):
            if not row[column]:
                raise ValueError(f"{where}: column {column} is empty")
        check_schema({k: v for k, v in row.items() if v != ""}, schema, where)
        parse_hint(row.get("participant_side"), row.get("participant_box"), where)
    dup = sheet["participant_id"][sheet["participant_id"].duplicated()]
    if len(dup):
        rows = [int(i) + 2 for i in dup.index]
        raise ValueError(f"{path}: duplicate participant_id {sorted(set(dup))} (lines {rows})")
    groups = STATS.groups
    if groups:
        bad = sheet[~sheet["group"].isin(groups)]
        if len(bad):
            group = bad["group"].iloc[0]
            same = [g for g in groups if g.casefold() == group.casefold()]
            fix = (f"did you mean {same[0]!r}? (groups are case-sensitive)" if same else
                   "correct the cell, or add the group to stats.groups in the config")
            raise ValueError(f"{path}: line {int(bad.index[0]) + 2}: group {group!r} is not "
                             f"one of stats.groups {groups}; {fix}")
    else:  # the statistics compare the sheet's groups: a contrast must name two of them
        for pair in STATS.contrasts or []:
            unknown = [g for g in pair if not (sheet["group"] == g).any()]
            if unknown:  # else the stats job would refuse it after every pose and infer job
                raise ValueError(f"config stats.contrasts: {list(pair)} names group(s) "
                                 f"{unknown} that no participant of {path} is in (its groups: "
                                 f"{sorted(set(sheet['group']))}); correct the contrast")
    try:  # else the stats job would fail only after every pose and infer job
        check_sheet_covariates(path, STATS.covariates)
    except InputError as err:
        raise ValueError(str(err)) from None
    base = Path(path).parent
    absent = [(int(i) + 2, v) for i, v in sheet["video"].items() if not (base / v).is_file()]
    if absent:
        line, video = absent[0]
        raise ValueError(f"{path}: line {line}: video {base / video} does not exist"
                         f" ({len(absent)} missing in all){video_hint(video, base)}")
    seen = {}  # one video may hold two participants, seen at different places (a pasted row)
    for i, row in rows.items():
        seat = (row.get("participant_side", ""), row.get("participant_box", ""))
        key = ((base / row["video"]).resolve(), seat)
        if key in seen:
            raise ValueError(
                f"{path}: line {int(i) + 2}: video {row['video']} is line {seen[key]}'s "
                "video too, with the same participant_side/participant_box: both would be "
                "the same person (two participants in one video need different seats)")
        seen[key] = int(i) + 2
    return sheet


def video_hint(video, base):
    """What to do about a sheet's video cell that names no file: paths are read relative to
    the sheet's folder, while a researcher often writes them relative to the folder they run
    Snakemake in."""
    if Path(video).is_absolute():
        return ""
    if Path(video).is_file():
        return (f"; {video} exists relative to the folder Snakemake runs in, but the sheet's "
                f"video paths are read relative to the sheet's folder ({base}): write them "
                "relative to it, or absolute")
    return f"; the sheet's video paths are read relative to its folder ({base})"


def small_groups_warning(sheet, path):
    """A warning naming the sheet's groups smaller than stats.min_participants, which the
    statistics compare with no other group: a pilot of a few children a group runs to an
    empty Table V, so it is said before the hours of pose and inference."""
    counts = sheet["group"].value_counts().sort_index()
    small = [f"{group} ({n})" for group, n in counts.items() if n < STATS.min_participants]
    if not small:
        return None
    return (f"warning: {path}: group(s) {', '.join(small)} have fewer participants than "
            f"stats.min_participants ({STATS.min_participants}; at least 5): the statistics "
            "compare no such group (Table V leaves them out); percent time is still computed "
            "for everyone")


def sheet_codings(sheet, path):
    """Coder name -> the coding files (BORIS export or ELAN .eaf, relative to the sheet) in
    the sheet's `codings_<coder>` columns; an empty cell: that coder did not code the
    participant."""
    base = Path(path).parent
    coders = {}
    for column in (c for c in sheet.columns if c.startswith(CODINGS_PREFIX)):
        name = column[len(CODINGS_PREFIX):]
        if not name:
            raise ValueError(f"{path}: column {column!r} needs a coder name, e.g. codings_anna")
        for i, cell in sheet[column].items():
            if not cell:
                continue
            if not (base / cell).is_file():
                raise ValueError(f"{path}: line {int(i) + 2}: column {column}: coding file "
                                 f"{base / cell} does not exist")
            coders.setdefault(name, []).append(str(base / cell))
    return coders


# The demo writes its OpenPose JSON beside its sheet and videos: its own folder, not
# pose.openpose_dir (ignored like `participants`), so another demo.out never reads the OpenPose
# output of a cohort made earlier in the old folder (a stale pose for every new video).
OPENPOSE_DIR = f"{DEMO['out']}/openpose" if DEMO["enabled"] else POSE["openpose_dir"]
if DEMO["enabled"]:
    SHEET_PATH = f"{DEMO['out']}/participants.tsv"
    PIDS = demo_participants()
    VIDEO = {pid: f"{DEMO['out']}/videos/{pid}.mp4" for pid in PIDS}
    SEAT = {}  # the demo child sits alone
    SHEET_CODINGS = {}
else:
    SHEET_PATH = config["participants"]
    try:
        _sheet = read_sheet(SHEET_PATH)
    except ValueError as err:  # one line naming the sheet's line, not a traceback
        raise ValueError(str(err)) from None
    PIDS = list(_sheet["participant_id"])
    VIDEO = {pid: str(Path(SHEET_PATH).parent / v)
             for pid, v in zip(_sheet["participant_id"], _sheet["video"])}
    SEAT = {row["participant_id"]: {c: row[c] for c in ("participant_side", "participant_box")
                                    if row.get(c)}
            for row in _sheet.to_dict("records")}
    SHEET_CODINGS = sheet_codings(_sheet, SHEET_PATH)
    if not workflow.remote_exec:  # said once, by the main process, before any job
        warning = small_groups_warning(_sheet, SHEET_PATH)
        if warning:
            print(warning, file=sys.stderr)
    if POSE["backend"] == "openpose" and not any(
            Path(POSE["openpose_dir"], pid).is_dir() for pid in PIDS):
        # A wrong folder is a settings error, not a cohort of unreadable participants.
        raise ValueError(f"config pose.openpose_dir: {POSE['openpose_dir']} holds no folder "
                         f"named after a participant (e.g. {PIDS[0]}/); the OpenPose JSON "
                         "of participant <pid> is read from <openpose_dir>/<pid>/")


def seat_args(pid):
    """The pose options saying where participant `pid` sits, from their sheet cells."""
    seat = SEAT.get(pid, {})
    return " ".join(f"--{key.replace('_', '-')} {shlex.quote(value)}"
                    for key, value in seat.items())


def video_stamp(pid):
    """Size and modification time of participant `pid`'s video, a parameter of their pose and
    infer jobs: a video replaced by one copied with its times kept (`cp -p`, as advised) can
    be older than the results of the one it replaces, which Snakemake's time check misses.
    The demo's videos are the workflow's own outputs, tracked by Snakemake."""
    if DEMO["enabled"]:
        return ""
    return file_stamp(VIDEO[pid])


def file_stamp(path):
    """Size and modification time of a study's input file (or, for a folder, of the files in
    it), for a parameter of the jobs that read it: Snakemake reruns a job only for an input
    newer than its outputs, so a file replaced by an older copy needs this to count."""
    if Path(path).is_dir():
        return folder_manifest(path, "*")
    stat = Path(path).stat()
    return f"{stat.st_size} bytes, modified {stat.st_mtime_ns} ns"


def openpose_dir(pid):
    return f"{OPENPOSE_DIR}/{pid}"


def model_files(wc=None):
    """The model folder's files as a job's inputs when the workflow trains them, so the job
    waits for `train`. A folder used as it is (model.train: false) is no job's input: its
    digest (model_sha256(), a parameter of the jobs that use it) reruns them when it changes,
    and nothing asks `train` to write over it."""
    if not MODEL["train"]:
        return {}
    return {"weights": f"{MODEL['path']}/model.safetensors", "meta": f"{MODEL['path']}/model.json"}


# A study's model trained by the workflow (model.train: true without the demo): its clip
# folder and training config are train's inputs, checked now. Missing, they would leave
# aggregate without a way to make its model, and Snakemake would write percent_time.tsv with
# percent_time_from_truth instead (the demo cohort's true percent time, analysed as the
# study's, with no error).
if MODEL["train"] and not DEMO["enabled"] and FROM_MODEL:
    if not Path(MODEL["clips"]).is_dir():
        raise ValueError(
            f"config model.clips: {MODEL['clips']} is not a folder; model.train: true trains "
            "the model on this folder of labelled clips (MA-52 layout, docs/training.md); to "
            "use a trained model instead, set model.train: false and model.path to its folder")
    if not Path(MODEL["train_config"]).is_file():
        raise ValueError(f"config model.train_config: {MODEL['train_config']} does not exist "
                         "(the training config, e.g. configs/train_demo.yaml)")


def trained_model_classes():
    """The classes of the model the train job will make, after reading its training config
    as that job does (its --data-root and --set options applied): a key the job refuses, or
    an optim.batch_size that model.gpus processes cannot share, would stop it only after the
    demo's clips were synthesised. The demo's clips hold every synthetic class and the
    background (demo_clips); a study's clip folder names its classes in its label map."""
    import json

    from microdualnet.data.sources import label_map
    from microdualnet.synthetic.actions import resolve
    from microdualnet.training.config import load_config

    path, gpus = MODEL["train_config"], MODEL["gpus"]
    try:  # JSON is YAML: the folder's name read as it is
        cfg = load_config(path, [f"data.root={json.dumps(MODEL['clips'])}", "threads=1",
                                 "progress=false"])
    except InputError as err:
        raise ValueError(f"config model.train_config: {err}") from None
    batch = cfg.optim.batch_size
    if batch % gpus:
        fits = [n for n in range(1, batch + 1) if batch % n == 0]
        raise ValueError(f"config model.gpus: {gpus} training processes cannot share the "
                         f"global batch optim.batch_size {batch} of {path}; set model.gpus to "
                         f"one of {fits}, or optim.batch_size to a multiple of {gpus}")
    if DEMO["enabled"]:
        return [spec.name for spec in resolve(None, include_background=True)]
    try:
        return list(label_map(cfg.data.format, MODEL["clips"]).names)
    except InputError as err:
        raise ValueError(f"config model.clips: {err}") from None


# The model the results must belong to. A folder used as it is (model.train: false) is checked
# now, before any job runs (its header and size: cheap), and fingerprinted (infer reruns when
# the fingerprint changes); a trained one is the train rule's output, so its file times already
# say when it changed.
FINGERPRINT_MODEL = not MODEL["train"] and (FROM_MODEL or POSE["only_sampled"])
if FINGERPRINT_MODEL:
    from pipeio.modelfiles import check_model_folder

    if not Path(MODEL["path"]).is_dir():  # never trained or fetched: say how to get one
        raise InputError(
            f"config model.path: model folder {MODEL['path']} does not exist (model.train is "
            "false, so it must hold a trained model); train one with model.train: true and "
            "model.clips a folder of labelled clips (docs/training.md), or use the demo's: the "
            "shipped config.yaml run once (snakemake --cores 2) trains it into "
            "results/demo/model, a full-view model made for one person in the frame's middle "
            "(docs/workflow.md)")
    from microdualnet.contract import read_contract

    try:
        check_model_folder(MODEL["path"])
        # infer's own reader of model.json (torch-free): a file it refuses would fail every
        # participant's infer job (and pose's with only_sampled), after the pose stage.
        MODEL_CLASSES = list(read_contract(MODEL["path"]).class_names)
        CLASSES_FROM = f"model {MODEL['path']}"
    except InputError as err:
        raise InputError(f"config model.path (model.train is false, so it is used as it is): "
                         f"{err}") from None
elif MODEL["train"] and FROM_MODEL and Path(MODEL["train_config"]).is_file():
    MODEL_CLASSES = trained_model_classes()
    CLASSES_FROM = f"the model trained on {MODEL['clips']}"
else:  # not needed (the truth path), or no training config (Snakemake names the input)
    MODEL_CLASSES = None


def check_model_classes(classes):
    """The settings that name the model's classes, against the classes known before any job
    (MODEL_CLASSES): aggregate, stats and agreement would refuse them after every
    participant's inference. The agreement mapping is checked with the coders
    (agreement.smk)."""
    from analysis.aggregate import Decision

    background = Decision().background
    if INFER["decision"] == "background" and background not in classes:
        raise ValueError(f"config inference.decision: background takes the model's class "
                         f"{background!r} to mean no action, and {CLASSES_FROM} has none "
                         f"(its classes: {classes}); use decision: threshold")
    actions = model_actions(classes)
    unknown = [a for a in STATS.actions or [] if a not in actions]
    if unknown:
        raise ValueError(f"config stats.actions: {unknown} are not actions of {CLASSES_FROM} "
                         f"(its actions: {actions}); name actions it has, or "
                         "set stats.actions: null for the top_k")


def model_actions(classes):
    """The classes that become percent-time actions: all but the background class."""
    from analysis.aggregate import Decision

    background = Decision().background
    return [c for c in classes if c != background]


if MODEL_CLASSES is not None and FROM_MODEL:
    check_model_classes(MODEL_CLASSES)


def check_agreement_inputs(coder_arg, mapping):
    """A study's coder folders hold coding files, and its mapping file reads, mapping onto
    the model's actions where they are known before any job (MODEL_CLASSES): the agreement
    job would refuse either only after every participant's inference. The coding files
    themselves are read by that job (BORIS and ELAN files: too many to read at every start)."""
    from analysis.codings import coding_files
    from analysis.codings.mapping import load_mapping

    try:
        for name, path in coder_arg:
            try:
                coding_files(Path(path))
            except InputError as err:
                raise InputError(f"coder {name}: {err}") from None
        actions = model_actions(MODEL_CLASSES) if MODEL_CLASSES and FROM_MODEL else None
        load_mapping(mapping, actions)
    except InputError as err:
        raise ValueError(f"config agreement: {err}") from None


@functools.cache
def model_sha256():
    """The SHA-256 of model.path (a parameter of the jobs that use the model), read when a job
    first asks for it and then kept: every cluster job parses the workflow again, and the pose
    and timeline jobs, which do not use it, would each read the whole weights file (hundreds
    of MB for the paper's model).

    Not read inside a cluster job (`--mode remote`, twice per job under SLURM): there the
    parameter only fills a command that does not hold it, and Snakemake records parameters in
    the main process, from its own digest. The windows file's `model_sha256` is the infer
    command's own digest of the files it loads, which `aggregate --model` checks."""
    if not FINGERPRINT_MODEL or workflow.remote_exec:
        return ""
    from pipeio.modelfiles import model_digest

    return model_digest(MODEL["path"])


def train_config(wc):
    """`train` writes model.path, which with model.train: false is the study's own model."""
    if not MODEL["train"]:
        raise ValueError(f"config model.train is false: model.path {MODEL['path']} is used as "
                         "it is and never trained over (set model.train: true to train it)")
    return MODEL["train_config"]


# GPU jobs (train, infer) run through `python -m pipeio.gpu`, which gives each job a free
# slot of the pool via CUDA_VISIBLE_DEVICES (under SLURM: of the job's own GPUs; a no-op
# without a GPU):
# up to gpu.share infer jobs per device, training a whole device. The pool's settings reach
# it through the environment (MICRODUALNET_GPU_OPTIONS, set in the Snakefile's shell
# prefix), not the rules' commands: they decide where a job runs, not what it computes, so
# changing them reruns nothing.
GPU = config["gpu"]


def gpu_devices():
    """gpu.devices as `python -m pipeio.gpu --devices` takes it (a list: comma-separated)."""
    devices = GPU["devices"]
    return devices if isinstance(devices, str) else ",".join(str(d) for d in devices)


def gpu_options():
    """The pool settings of `python -m pipeio.gpu`, as one shell-quoted string."""
    options = ["--devices", gpu_devices(), "--share", str(GPU["share"]),
               "--min-free-mib", str(GPU["min_free_mib"])]
    if GPU.get("lock_dir"):
        options += ["--lock-dir", str(GPU["lock_dir"])]
    return shlex.join(options)


def prefix_literal(text):
    """`text` shell-quoted for the Snakefile's shell.prefix, which is formatted like a rule's
    command: braces doubled, so a path holding them stays itself."""
    return shlex.quote(text).replace("{", "{{").replace("}", "}}")


# Caption files of the report (workflow/report/*.rst), beside the Snakefile.
CAPTIONS = Path(workflow.basedir) / "workflow" / "report"
