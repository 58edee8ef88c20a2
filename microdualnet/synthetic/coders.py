"""`synth coders`: human-like codings of a synthetic cohort, by two independent coders.

Each coder starts from the cohort's true events (`truth_events.tsv`) of a seeded subset of
participants and codes them as a person would: every onset and offset moved by Gaussian
jitter (`jitter_s`, the SD), an event missed with probability `miss`, and extra events
(`extra_per_min` per minute of video, Poisson; an action drawn among the cohort's, 1-3 s
long, placed at random). A coder never codes one action twice at once: events of one action
that come to overlap are merged. The two coders draw their noise independently; the subset
is the same for both.

Written under the output folder (default `<cohort>/codings`)::

    coder1/boris/<pid>.tsv, coder1/elan/<pid>.eaf   the same events in both formats
    coder2/...                                      the second coder
    mapping.yaml       behaviour -> class (the coders use the class names), the BORIS subject
    durations.tsv      participant_id, duration_s (coder against coder needs no windows)
    coders_config.yaml the noise, subset and seed (provenance)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from analysis.codings.boris import write_boris_tabular
from analysis.codings.elan import write_elan
from microdualnet.synthetic.options import NonNegative, Probability
from pipeio.atomic import atomic_write_text, staged_directory
from pipeio.errors import InputError
from pipeio.provenance import write_provenance

SUBJECT = "participant"  # the BORIS subject the coders code the participant as
MIN_EVENT_S = 0.2  # a coded event lasts at least this long
EXTRA_S = (1.0, 3.0)  # length range of an extra (false) event, as the cohort's events
# Header date of the .eaf files, fixed so a seed always gives the same bytes.
EAF_DATE = "2000-01-01T00:00:00+00:00"


class CoderNoise(BaseModel):
    """How one coder departs from the truth (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    jitter_s: Annotated[float, Field(ge=0, le=5)] = 0.3
    miss: Probability = 0.1
    extra_per_min: Annotated[float, Field(ge=0, le=60)] = 0.5


class CodersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    noise: CoderNoise = Field(default_factory=CoderNoise)
    participants: Annotated[int, Field(gt=0)] = 12  # coded participants (all if fewer)
    seed: NonNegative = 0


def code_events(truth: pd.DataFrame, seconds: float, actions: list[str], noise: CoderNoise,
                rng: np.random.Generator) -> pd.DataFrame:
    """One coder's events for one participant from their true events (module docstring)."""
    rows = []
    for action, start, end in truth[["action", "start_s", "end_s"]].itertuples(index=False):
        if rng.random() < noise.miss:
            continue
        start, end = start + rng.normal(0, noise.jitter_s), end + rng.normal(0, noise.jitter_s)
        rows.append((action, start, end))
    for _ in range(rng.poisson(noise.extra_per_min * seconds / 60)):
        length = rng.uniform(*EXTRA_S)
        start = rng.uniform(0, max(seconds - length, 0))
        rows.append((actions[rng.integers(len(actions))], start, start + length))
    coded = []
    for action, start, end in sorted(rows):
        start = min(max(start, 0.0), seconds - MIN_EVENT_S)
        end = min(max(end, start + MIN_EVENT_S), seconds)
        start, end = round(start, 3), round(end, 3)  # what BORIS (3 decimals) and ELAN keep
        if coded and coded[-1][0] == action and start <= coded[-1][2]:
            coded[-1][2] = max(coded[-1][2], end)
        else:
            coded.append([action, start, end])
    coded.sort(key=lambda r: (r[1], r[0]))
    return pd.DataFrame(coded, columns=["action", "start_s", "end_s"])


def coded_rows(n_participants: int, cfg: CodersConfig) -> np.ndarray:
    """Positions in the participant sheet of the coded subset (seeded, sorted)."""
    rng = np.random.default_rng([cfg.seed, 60])
    return np.sort(rng.permutation(n_participants)[:cfg.participants])


def coder_events(truth: pd.DataFrame, participant_id: str, row: int, coder: int,
                 seconds: float, actions: list[str], cfg: CodersConfig) -> pd.DataFrame:
    """Coder `coder`'s (1 or 2) events for the participant at sheet position `row`, from
    the cohort's true events: each coder and participant has their own noise stream, so
    coding more participants never changes the codings of the others."""
    rng = np.random.default_rng([cfg.seed, 61, coder, row])
    own = truth[truth["participant_id"] == participant_id]
    return code_events(own, seconds, actions, cfg.noise, rng).assign(
        participant_id=participant_id)


def write_coders(cohort: str | Path, out: str | Path | None, cfg: CodersConfig,
                 overwrite: bool = False) -> Path:
    """Write both coders' files for a subset of the cohort in `cohort` (module docstring)."""
    cohort = Path(cohort)
    out = Path(out) if out is not None else cohort / "codings"
    try:
        sheet = pd.read_csv(cohort / "participants.tsv", sep="\t", dtype=str)
        truth = pd.read_csv(cohort / "truth_events.tsv", sep="\t", dtype={"participant_id": str})
        cohort_cfg = yaml.safe_load((cohort / "cohort_config.yaml").read_text())
    except (OSError, yaml.YAMLError, pd.errors.ParserError) as err:
        raise InputError(f"{cohort} is not a synthetic cohort (synth cohort): {err}") from err
    # A hand-edited or foreign config or truth table: one line naming it, not a traceback.
    try:
        fps = float(cohort_cfg["fps"])
        seconds = int(round(float(cohort_cfg["seconds"]) * fps)) / fps  # the rendered video's
        actions = [e["action"] for e in cohort_cfg["effects"]]
    except (KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError) as err:
        raise InputError(f"{cohort / 'cohort_config.yaml'}: not a synth cohort config (fps, "
                         f"seconds and effects are needed; {type(err).__name__}: {err})") from None
    missing = sorted({"participant_id", "action", "start_s", "end_s"} - set(truth.columns))
    if missing:
        raise InputError(f"{cohort / 'truth_events.tsv'}: no column(s) {missing} (not a synth "
                         "cohort's true events)")
    rows = coded_rows(len(sheet), cfg)
    coded = sheet.iloc[rows]
    with staged_directory(out, overwrite=overwrite) as root:
        for k in (1, 2):
            for row, pid, video in zip(rows, coded["participant_id"], coded["video"],
                                       strict=True):
                events = coder_events(truth, pid, int(row), k, seconds, actions, cfg)
                folder, video_path = root / f"coder{k}", cohort / video
                write_boris_tabular(folder / "boris" / f"{pid}.tsv", events, pid, video_path,
                                    seconds, fps, SUBJECT)
                write_elan(folder / "elan" / f"{pid}.eaf", events, video_path, actions,
                           date=EAF_DATE)
        mapping = {"behaviours": {a: a for a in actions}, "participant_subject": SUBJECT,
                   "participant_id_from": "file", "unknown": "error"}
        atomic_write_text(root / "mapping.yaml", yaml.safe_dump(mapping, sort_keys=False))
        pd.DataFrame({"participant_id": coded["participant_id"], "duration_s": seconds}).to_csv(
            root / "durations.tsv", sep="\t", index=False)
        params = {**cfg.model_dump(), "cohort": str(cohort),
                  "coded": list(coded["participant_id"])}
        atomic_write_text(root / "coders_config.yaml", yaml.safe_dump(params, sort_keys=False))
        write_provenance(root / "provenance.json", "synth coders", params,
                         [cohort / "participants.tsv", cohort / "truth_events.tsv",
                          cohort / "cohort_config.yaml"])
    return out

