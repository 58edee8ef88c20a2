"""`synth cohort`: a study cohort with planted group differences and its full truth.

Each participant's time in each action follows a hurdle model: engagement (any time at all)
with a group-specific probability, then, for engagers, the fraction of the video spent in the
action from a Beta distribution with a group-specific mean. Those times are cut into 1-3 s
events placed at random in one continuous video with idle stretches between them.

Written under the output folder::

    participants.tsv           participant_id, group, video, age, sex (participant_side when
                               the participant sits on a side)
    videos/<pid>.mp4           one continuous recording per participant
    openpose/<pid>/...json     OpenPose BODY_25 JSON per frame (every person in view)
    truth_events.tsv           participant_id, action_id, action, start/end frame and second
    truth_percent_time.tsv     participant_id, group, age, sex, action, percent_time, valid_s
    truth_interviewer_events.tsv, truth_people/<pid>.npz  with an interviewer: their events,
                               and both people's exact joints per frame ([T, 25, 2] each)
    cohort_config.yaml         the hurdle model, groups and video options (re-usable input)
    provenance.json
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from microdualnet import openpose_io
from microdualnet.synthetic import GROUPS
from microdualnet.synthetic.actions import ACTIONS, BY_ID, BY_NAME, RETURN_S, Event
from microdualnet.synthetic.appearance import sample_appearance, sample_camera
from microdualnet.synthetic.options import Positive, Probability, VideoOptions
from microdualnet.synthetic.parallel import run_tasks
from microdualnet.synthetic.scene import Room, record
from microdualnet.video import write_mp4
from pipeio.atomic import atomic_write_text, staged_directory
from pipeio.provenance import write_provenance

Fraction01 = Annotated[float, Field(gt=0.0, lt=1.0)]


class ActionEffect(BaseModel):
    """Hurdle parameters of one action, per group: P(engaged) and mean fraction among engagers."""

    model_config = ConfigDict(extra="forbid")

    action: str
    engage: dict[str, Probability]
    intensity: dict[str, Fraction01]


class Demographics(BaseModel):
    # Finite: a NaN age mean or SD would write NaN ages into participants.tsv.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    age_mean: float = 9.0
    age_sd: Annotated[float, Field(ge=0)] = 1.8
    p_male: Probability = 0.5


class CohortConfig(VideoOptions):
    """Everything that defines a synthetic cohort; saved beside it as `cohort_config.yaml`."""

    groups: dict[str, Positive] = Field(default_factory=lambda: dict.fromkeys(GROUPS, 12))
    seconds: Annotated[float, Field(ge=5, le=3600)] = 60.0
    # Beta precision (a + b) of an engager's fraction: 80 makes children of one group alike, so
    # that 12 per group find every planted difference (docs/statistics.md, power of the demo).
    # Finite: Beta(inf, inf) draws NaN, which cannot be cut into frames.
    intensity_precision: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 80.0
    max_action_fraction: Annotated[float, Field(gt=0, le=0.95)] = 0.75
    demographics: dict[str, Demographics] = Field(default_factory=lambda: {
        "ASD": Demographics(p_male=0.8), "PSY": Demographics(p_male=0.6),
        "TDC": Demographics(p_male=0.5)})
    effects: list[ActionEffect] = Field(default_factory=lambda: default_effects())
    # Where the participant sits: the centre of the frame, one side, or a side drawn per
    # participant; `participant_size` scales the figure (1: about 0.7 of the frame height).
    participant_side: Literal["centre", "left", "right", "random"] = "centre"
    participant_size: tuple[Annotated[float, Field(gt=0.2, le=1.3)],
                            Annotated[float, Field(gt=0.2, le=1.3)]] = (0.85, 1.05)
    # A seated interviewer on the other side, turned towards the participant, larger (an
    # adult), sometimes cut by the frame edge, making micro-actions of their own that must
    # not count toward the participant's percent time.
    interviewer: bool = False
    # With the participant on a side: write it into participants.tsv (`participant_side`),
    # as a study's sheet tells the pose stage where the participant sits.
    side_column: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> CohortConfig:
        groups = set(self.groups)
        seen = set()
        for k, eff in enumerate(self.effects):
            if eff.action not in BY_NAME or BY_NAME[eff.action] not in ACTIONS:
                raise ValueError(f"effects[{k}].action: unknown class name {eff.action!r}")
            if eff.action in seen:
                raise ValueError(f"effects[{k}].action: {eff.action!r} listed twice")
            seen.add(eff.action)
            for part in ("engage", "intensity"):
                given = set(getattr(eff, part))
                where = f"effects[{k}] ({eff.action}).{part}"
                if given - groups:
                    raise ValueError(
                        f"{where}: planted effect on unknown group(s) {sorted(given - groups)};"
                        f" groups are {sorted(groups)} (write a config with `synth config`,"
                        " edit its effects, pass it with --config)")
                if groups - given:
                    raise ValueError(f"{where}: no value for group(s) {sorted(groups - given)}")
        if self.interviewer and self.participant_side == "centre":
            raise ValueError("interviewer: needs participant_side left, right or random (the "
                             "interviewer takes the other side)")
        if self.participant_size[0] > self.participant_size[1]:
            raise ValueError("participant_size: [low, high] with low <= high")
        unknown = set(self.demographics) - groups
        if unknown:
            raise ValueError(f"demographics: unknown group(s) {sorted(unknown)} (groups are "
                             f"{sorted(groups)}); groups without an entry get the defaults")
        return self


def default_effects() -> list[ActionEffect]:
    """Planted effects in the directions of the paper's Table V, plus null actions.

    Every difference is in intensity (time among engagers), three- to four-fold, with
    engagement .9 in every group: at 12 per group an engagement difference cannot be found
    reliably after FDR (separation at rates near 0 or 1, too little power between them), while
    these are found in nearly every cohort (docs/statistics.md, power of the demo's design).
    The null actions are light, so that few events are dropped from a busy video.
    """
    def eff(action: str, engage: tuple[float, float, float],
            intensity: tuple[float, float, float]) -> ActionEffect:
        return ActionEffect(action=action, engage=dict(zip(GROUPS, engage, strict=True)),
                            intensity=dict(zip(GROUPS, intensity, strict=True)))

    planted = (0.9, 0.9, 0.9)
    return [
        eff("retracting feet", planted, (0.03, 0.12, 0.05)),
        eff("shaking legs", planted, (0.10, 0.03, 0.05)),
        eff("shaking head", (0.5, 0.5, 0.5), (0.03, 0.03, 0.03)),
        eff("head up", planted, (0.12, 0.04, 0.03)),
        eff("stretching feet", planted, (0.03, 0.10, 0.06)),
        eff("tilting head", (0.5, 0.5, 0.5), (0.04, 0.04, 0.04)),
        eff("nodding", planted, (0.03, 0.10, 0.07)),
        eff("turning head", planted, (0.12, 0.03, 0.06)),
        eff("covering face", (0.4, 0.4, 0.4), (0.03, 0.03, 0.03)),
        eff("rubbing hands", (0.5, 0.5, 0.5), (0.04, 0.04, 0.04)),
        eff("crossing arms", (0.5, 0.5, 0.5), (0.04, 0.04, 0.04)),
        eff("scratching or touching face", (0.5, 0.5, 0.5), (0.03, 0.03, 0.03)),
        eff("shaking body", (0.4, 0.4, 0.4), (0.03, 0.03, 0.03)),
    ]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _parts(eff: ActionEffect) -> tuple[tuple[str, dict[str, float]], ...]:
    """The hurdle parts of an effect, named as the statistics name them."""
    return ("engagement", eff.engage), ("intensity", eff.intensity)


def principal_effects(cfg: CohortConfig) -> pd.DataFrame:
    """Per action and hurdle part with a planted group difference, the contrast with the
    largest one on the logit scale: what a run of the demo should find.

    Columns: action, part (engagement | intensity, as the statistics name them), contrast
    ("A vs B" in group order), planted ("0.03 vs 0.12"), a_lower (B's planted value is above
    A's, so the estimated odds ratio of A vs B should be below 1).
    """
    groups = list(cfg.groups)
    rows = []
    for eff in cfg.effects:
        for part, values in _parts(eff):
            diffs = {(a, b): _logit(values[b]) - _logit(values[a])
                     for a, b in itertools.combinations(groups, 2)}
            (a, b), d = max(diffs.items(), key=lambda kv: abs(kv[1]))
            if abs(d) > 1e-12:
                rows.append({"action": eff.action, "part": part, "contrast": f"{a} vs {b}",
                             "planted": f"{values[a]:g} vs {values[b]:g}", "a_lower": d > 0})
    return pd.DataFrame(rows, columns=["action", "part", "contrast", "planted", "a_lower"])


def null_contrasts(cfg: CohortConfig) -> set[tuple[str, str, str]]:
    """(action, part, contrast) with no planted difference between the two groups."""
    out = set()
    for eff in cfg.effects:
        for part, values in _parts(eff):
            out |= {(eff.action, part, f"{a} vs {b}")
                    for a, b in itertools.combinations(cfg.groups, 2) if values[a] == values[b]}
    return out


def score_planted(results: pd.DataFrame, cfg: CohortConfig,
                  alpha: float = 0.05) -> tuple[pd.DataFrame, int]:
    """What a hurdle results table (`run_hurdle`, or hurdle.tsv as read) found of `cfg`'s
    planted differences: `principal_effects(cfg)` with a `found` column (estimable, p_adj <
    alpha, in the planted direction), and how many contrasts without a planted difference
    passed (false discoveries)."""
    estimable = results["estimable"].astype(str).str.lower() == "true"  # bool or read as text
    sig = results[estimable & (results["p_adj"] < alpha)]
    lower = {(r.action, r.part, r.contrast): r.odds_ratio < 1 for r in sig.itertuples()}
    principal = principal_effects(cfg)
    principal["found"] = [lower.get((e.action, e.part, e.contrast)) == e.a_lower
                          for e in principal.itertuples()]
    nulls = null_contrasts(cfg)
    return principal, sum(key in nulls for key in lower)


@dataclass(frozen=True)
class Participant:
    participant_id: str
    group: str
    index: int
    age: float
    sex: str


def draw_participants(cfg: CohortConfig) -> list[Participant]:
    """Participant ids, groups (in a seeded random order) and demographics."""
    rng = np.random.default_rng([cfg.seed, 10])
    groups = [g for g, n in cfg.groups.items() for _ in range(n)]
    order = rng.permutation(len(groups))
    out = []
    for i, k in enumerate(order):
        g = groups[k]
        demo = cfg.demographics.get(g, Demographics())
        age = float(np.clip(rng.normal(demo.age_mean, demo.age_sd), 3.0, 18.0))
        sex = "M" if rng.random() < demo.p_male else "F"
        out.append(Participant(f"sub-{i + 1:03d}", g, i, round(age, 2), sex))
    return out


def schedule_events(cfg: CohortConfig, group: str, rng: np.random.Generator) -> list[Event]:
    """Draw each action's time from the hurdle model and place its events on the timeline.

    Events are whole frames, 1-3 s long, never overlapping, with RETURN_S of idle after each
    so a held position can relax before the next action starts.
    """
    fps, n_frames = cfg.fps, int(round(cfg.seconds * cfg.fps))
    min_len, max_len = int(round(fps)), int(round(3 * fps))
    gap = int(math.ceil(RETURN_S * fps)) + 1
    chunks: list[tuple[int, int]] = []  # (action id, frames)
    for eff in cfg.effects:
        if rng.random() >= eff.engage[group]:
            continue
        mu, phi = eff.intensity[group], cfg.intensity_precision
        frac = rng.beta(mu * phi, (1 - mu) * phi)
        total = max(int(round(frac * n_frames)), min_len)
        pieces = max(1, math.ceil(total / max_len))
        base, extra = divmod(total, pieces)
        lengths = [base + (1 if i < extra else 0) for i in range(pieces)]
        chunks += [(BY_NAME[eff.action].action_id, max(n, min_len)) for n in lengths]
    order = [int(k) for k in rng.permutation(len(chunks))]
    chunks = [chunks[k] for k in order]
    budget = int(cfg.max_action_fraction * n_frames)
    while chunks and sum(n + gap for _, n in chunks) > budget:
        chunks.pop()  # too busy for one video: drop events from the end of the random order
    free = n_frames - sum(n + gap for _, n in chunks)
    cuts = np.sort(rng.integers(0, free + 1, len(chunks)))
    events, offset = [], 0
    for (action_id, n), cut in zip(chunks, cuts, strict=True):
        start = int(cut) + offset  # idle before it: the gap between consecutive cuts
        events.append(Event(action_id, start / fps, (start + n) / fps,
                            amplitude=float(rng.uniform(0.75, 1.25)),
                            speed=float(rng.uniform(0.8, 1.25)),
                            side=str(rng.choice(["R", "L"])),
                            phase=float(rng.uniform(0, 2 * np.pi))))
        offset += n + gap
    return events


@dataclass(frozen=True)
class ParticipantTask:
    root: Path
    participant: Participant
    cfg: CohortConfig


# Seats across the frame (fractions of the width): the participant's, and the interviewer's
# on the other side, nearer the edge, so a large interviewer is sometimes cut by it.
SEAT_X = {"left": 0.3, "right": 0.7}
INTERVIEWER_X = {"left": 0.16, "right": 0.84}
INTERVIEWER_SIZE = (1.15, 1.35)  # an adult beside a child
INTERVIEWER_YAW = {"left": (0.5, 0.9), "right": (-0.9, -0.5)}  # turned to the participant
INTERVIEWER_ENGAGE, INTERVIEWER_INTENSITY = 0.5, 0.05  # every action, for the interviewer


def seat(cfg: CohortConfig, p: Participant) -> str | None:
    """The participant's side (None: centre); "random" draws from its own stream, so the
    participant's events and looks do not depend on it."""
    if cfg.participant_side == "centre":
        return None
    if cfg.participant_side == "random":
        pick = np.random.default_rng([cfg.seed, 40, p.index]).random()
        return "left" if pick < 0.5 else "right"
    return cfg.participant_side


def _interviewer(cfg: CohortConfig, p: Participant, side: str, n_frames: int):
    """The interviewer's recording: own looks, events and stream ([seed, 30, index])."""
    rng = np.random.default_rng([cfg.seed, 30, p.index])
    own = cfg.model_copy(update={"effects": [
        ActionEffect(action=e.action, engage={"interviewer": INTERVIEWER_ENGAGE},
                     intensity={"interviewer": INTERVIEWER_INTENSITY}) for e in cfg.effects]})
    events = schedule_events(own, "interviewer", rng)
    other = "right" if side == "left" else "left"
    app = sample_appearance(rng)
    cam = sample_camera(rng, cfg.width, cfg.height, x=INTERVIEWER_X[other],
                        size=INTERVIEWER_SIZE, yaw=INTERVIEWER_YAW[other])
    return record(events, n_frames, cfg.fps, cfg.width, cfg.height, rng, appearance=app,
                  camera=cam)


def _event_rows(pid: str, events: list[Event], fps: float) -> list[dict]:
    return [{
        "participant_id": pid, "action_id": ev.action_id, "action": BY_ID[ev.action_id].name,
        "start_frame": int(round(ev.start_s * fps)), "end_frame": int(round(ev.end_s * fps)),
        "start_s": round(ev.start_s, 6), "end_s": round(ev.end_s, 6),
    } for ev in events]


def _events_stream(cfg: CohortConfig, p: Participant) -> list[int]:
    """Seed of a participant's own stream: their events first, then their looks and motion."""
    return [cfg.seed, 20, p.index]


def make_participant(task: ParticipantTask) -> dict:
    """Render one participant's video and pose; return their (and the interviewer's) event
    rows and seat."""
    cfg, p = task.cfg, task.participant
    rng = np.random.default_rng(_events_stream(cfg, p))
    events = schedule_events(cfg, p.group, rng)  # first from the stream: scheduled_truth's
    n_frames = int(round(cfg.seconds * cfg.fps))
    side = seat(cfg, p)
    app = sample_appearance(rng)
    cam = sample_camera(rng, cfg.width, cfg.height, x=SEAT_X.get(side, 0.5),
                        size=cfg.participant_size)
    rec = record(events, n_frames, cfg.fps, cfg.width, cfg.height, rng, appearance=app,
                 camera=cam)
    room = Room(rec, [_interviewer(cfg, p, side, n_frames)] if cfg.interviewer else [])
    write_mp4(task.root / "videos" / f"{p.participant_id}.mp4", room.frames(), cfg.fps,
              cfg.width, cfg.height)
    if room.others:  # who is where, for measuring how a pose backend follows the participant
        (task.root / "truth_people").mkdir(exist_ok=True)
        np.savez_compressed(task.root / "truth_people" / f"{p.participant_id}.npz",
                            participant=rec.clean_uv.astype(np.float32),
                            interviewer=room.others[0].clean_uv.astype(np.float32))
    # OpenPose lists the people of a frame in no particular order: neither will we.
    openpose_io.write_sequence(task.root / "openpose" / p.participant_id, p.participant_id,
                               room.people_keypoints(),
                               order_rng=np.random.default_rng([cfg.seed, 50, p.index]))
    return {"events": _event_rows(p.participant_id, events, cfg.fps), "side": side,
            "interviewer_events": _event_rows(p.participant_id, room.others[0].events, cfg.fps)
            if room.others else []}


def truth_percent_time(participants: list[Participant], events: pd.DataFrame,
                       cfg: CohortConfig) -> pd.DataFrame:
    """Long percent-time table (the aggregation contract) from the true events."""
    n_frames = int(round(cfg.seconds * cfg.fps))
    frames = (events.assign(n=events["end_frame"] - events["start_frame"])
              .groupby(["participant_id", "action"])["n"].sum())
    rows = []
    for p in participants:
        for eff in cfg.effects:
            n = int(frames.get((p.participant_id, eff.action), 0))
            rows.append({"participant_id": p.participant_id, "group": p.group, "age": p.age,
                         "sex": p.sex, "action": eff.action,
                         "percent_time": 100.0 * n / n_frames, "valid_s": n_frames / cfg.fps})
    return pd.DataFrame(rows)


EVENT_COLUMNS = ["participant_id", "action_id", "action", "start_frame", "end_frame", "start_s",
                 "end_s"]  # truth_events.tsv


def scheduled_events(cfg: CohortConfig, participants: list[Participant]) -> pd.DataFrame:
    """The true events `write_cohort` would place for `participants` (each participant's own
    stream), without rendering anything: equal to its truth_events.tsv. Lets power studies
    draw thousands of cohorts."""
    rows = [r for p in participants for r in _event_rows(
        p.participant_id,
        schedule_events(cfg, p.group, np.random.default_rng(_events_stream(cfg, p))), cfg.fps)]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def scheduled_truth(cfg: CohortConfig) -> pd.DataFrame:
    """The cohort's true long percent-time table without rendering anything, equal to
    `write_cohort`'s truth_percent_time.tsv (`scheduled_events`)."""
    participants = draw_participants(cfg)
    return truth_percent_time(participants, scheduled_events(cfg, participants), cfg)


def planted_actions(cfg: CohortConfig) -> list[str]:
    """Actions with a planted group difference, in the order of `cfg.effects`."""
    return list(dict.fromkeys(principal_effects(cfg)["action"]))


def write_cohort(out: str | Path, cfg: CohortConfig, overwrite: bool = False) -> Path:
    """Generate the whole cohort into `out` (built aside, then swapped in complete)."""
    participants = draw_participants(cfg)
    with staged_directory(out, overwrite=overwrite) as root:
        tasks = [ParticipantTask(root, p, cfg) for p in participants]
        done = run_tasks(make_participant, tasks, cfg.workers, desc="synth cohort",
                         unit="participant")
        events = pd.DataFrame([r for d in done for r in d["events"]], columns=EVENT_COLUMNS)
        sheet = pd.DataFrame({
            "participant_id": [p.participant_id for p in participants],
            "group": [p.group for p in participants],
            "video": [f"videos/{p.participant_id}.mp4" for p in participants],
            "age": [p.age for p in participants], "sex": [p.sex for p in participants],
        })
        if cfg.participant_side != "centre" and cfg.side_column:
            sheet["participant_side"] = [d["side"] for d in done]
        sheet.to_csv(root / "participants.tsv", sep="\t", index=False)
        events.to_csv(root / "truth_events.tsv", sep="\t", index=False)
        if cfg.interviewer:
            pd.DataFrame([r for d in done for r in d["interviewer_events"]],
                         columns=EVENT_COLUMNS).to_csv(root / "truth_interviewer_events.tsv",
                                                 sep="\t", index=False)
        truth_percent_time(participants, events, cfg).to_csv(
            root / "truth_percent_time.tsv", sep="\t", index=False, float_format="%.6f")
        params = cfg.model_dump(exclude={"workers"})  # workers never change the output
        atomic_write_text(root / "cohort_config.yaml", yaml.safe_dump(params, sort_keys=False))
        write_provenance(root / "provenance.json", "synth cohort", params)
    return Path(out)
