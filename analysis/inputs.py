"""Read and check the two inputs: the long percent-time table and the participant sheet.

Every check names the column and the file rows (1-based line numbers, header = line 1), so a
clinical researcher can open the file and fix it. Nothing is silently dropped: exclusions
happen only when `exclude_incomplete` is set, and are returned so they can be logged and
written next to the results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeio import InputError
from pipeio.textfile import read_utf8, separator_hint, tsv_frame

if TYPE_CHECKING:  # the config's pydantic models: not imported by the stages that read tables
    from analysis.config import StatsConfig

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("participant_id", "group", "action", "percent_time", "valid_s")
SHEET_COLUMNS = ("participant_id", "group")
_MAX_LISTED = 8
# Sheet columns that tell the workflow where things are, not who the participant is (a
# coder's file path often names the child): never carried as covariates by default.
WORKFLOW_COLUMNS = ("video", "participant_side", "participant_box")
CODINGS_PREFIX = "codings_"  # codings_<coder>: that coder's file for the participant
MODEL_CODER = "model"  # the agreement stage's name for the model's own codings


def coder_name_problem(name: str) -> str | None:
    """Why `name` cannot name a coder, or None: the agreement command takes each coder as
    NAME=PATH and calls the model's codings `model`, so the workflow refuses such a name
    before any job instead of in the agreement job, after every participant's inference."""
    if not name.strip():
        return "is empty"
    if "=" in name:
        return "holds '=' (the agreement command reads coders as NAME=PATH)"
    if name == MODEL_CODER:
        return "is the agreement table's name for the model"
    return None


def is_workflow_column(name: str) -> bool:
    return name in WORKFLOW_COLUMNS or name.startswith(CODINGS_PREFIX)


@dataclass
class CohortData:
    """The checked long table, one row per participant x action, with covariate columns."""

    table: pd.DataFrame
    groups: list[str]
    covariates: list[str]
    exclusions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["participant_id", "reason"])
    )
    # The sheet's rows with only the columns read from it (see `sheet_used`).
    sheet_used: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(SHEET_COLUMNS))
    )


def file_lines(index: pd.Index | list) -> str:
    """File line numbers of data-frame rows (header is line 1), shortened if many."""
    lines = [int(i) + 2 for i in index]
    shown = ", ".join(str(n) for n in lines[:_MAX_LISTED])
    more = f" and {len(lines) - _MAX_LISTED} more" if len(lines) > _MAX_LISTED else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def listed(values: list) -> str:
    """Values for a message, the first few and how many more: a cohort of hundreds may miss
    many, and the count says how many (a bare first few reads as all of them)."""
    shown = ", ".join(str(v) for v in values[:_MAX_LISTED])
    more = f" and {len(values) - _MAX_LISTED} more" if len(values) > _MAX_LISTED else ""
    return shown + more


def read_tsv(path: str | Path, required: tuple[str, ...], what: str,
             text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a TSV keeping IDs (and `text_columns`: group names such as `1`) as text, and
    insist on the required columns."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; give the file itself")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    text = read_utf8(path, what)
    dtype = dict.fromkeys(("participant_id", "group", "action", *text_columns), str)
    frame = tsv_frame(text, path, what, dtype=dtype)
    # Names are text as written: a participant `NA` or a group `None` is not a missing
    # value (pandas' default), only an empty cell is.
    names = [c for c in dtype if c in frame.columns]
    if names:
        raw = tsv_frame(text, path, what, dtype=str, keep_default_na=False, usecols=names)
        for col in names:
            frame[col] = raw[col].mask(raw[col].str.strip() == "")
    for col in frame.columns.difference(names):
        frame[col] = _blank_is_missing(frame[col])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{what} {path} lacks column(s) {missing}; found "
                         f"{list(frame.columns)}{separator_hint(list(frame.columns))}")
    for col in ("participant_id", "group", "action"):
        if col in frame.columns:
            blank = frame.index[frame[col].isna() | (frame[col].astype(str).str.strip() == "")]
            if len(blank):
                raise InputError(f"{what} {path}: column {col} is empty on {file_lines(blank)}")
            frame[col] = frame[col].astype(str).str.strip()
    return frame


def _blank_is_missing(values: pd.Series) -> pd.Series:
    """A cell of spaces is empty to the eye, so missing: pandas reads it as text, making a
    text covariate's level '' (analysed, not missing) and a numeric column text."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    blank = values.map(lambda v: isinstance(v, str) and not v.strip())
    if not blank.any():
        return values
    values = values.mask(blank)
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if numbers.notna().sum() == values.notna().sum() else values


def read_sheet(path: str | Path) -> pd.DataFrame:
    """The participant sheet: participant_id and group present, each participant once."""
    sheet = read_tsv(path, SHEET_COLUMNS, "participant sheet")
    dup = sheet.index[sheet.duplicated("participant_id")]
    if len(dup):
        raise InputError(f"participant sheet {path}: column participant_id repeats on "
                         f"{file_lines(dup)}")
    # A pasted row retyped (sub-001, SUB-001): two participants to pandas, but one file name
    # for the workflow's per-participant outputs on a case-insensitive disk (macOS, Windows).
    folded = sheet["participant_id"].str.casefold()
    twice = sheet.index[folded.duplicated()]
    if len(twice):
        first = sheet.index[folded == folded[twice[0]]][0]
        raise InputError(
            f"participant sheet {path}: column participant_id holds "
            f"{sheet.at[twice[0], 'participant_id']!r} on {file_lines(twice[:1])} and "
            f"{sheet.at[first, 'participant_id']!r} on {file_lines([first])}, which differ only "
            "in case: the same participant twice, or ids that a case-insensitive disk would "
            "give one file; write ids that differ in more than case")
    return sheet


def numeric_column(frame: pd.DataFrame, col: str, what: str) -> pd.Series:
    """A column as numbers; a cell that is not one is refused, naming its line."""
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = frame.index[values.isna() & frame[col].notna()]
    if len(bad):
        comma = bad[frame.loc[bad, col].astype(str).str.strip()
                    .str.fullmatch(r"[+-]?\d*,\d+").to_numpy()]
        if len(comma):
            raise InputError(
                f"{what}: column {col} holds numbers with a decimal comma "
                f"({str(frame.loc[comma[0], col]).strip()!r} on {file_lines(comma)}); write "
                "them with a decimal point")
        raise InputError(f"{what}: column {col} is not a number on {file_lines(bad)}")
    return values


def check_percent_table(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Percent times must be numbers in 0-100, valid_s non-negative, one row per pair."""
    frame = frame.copy()
    frame["percent_time"] = numeric_column(frame, "percent_time", what)
    frame["valid_s"] = numeric_column(frame, "valid_s", what)
    for col in ("percent_time", "valid_s"):  # no valid time known: as unknown as valid_s 0
        missing = frame.index[frame[col].isna()]
        if len(missing):
            raise InputError(f"{what}: column {col} is missing on {file_lines(missing)}")
    out_of_range = frame.index[(frame["percent_time"] < 0) | (frame["percent_time"] > 100)]
    if len(out_of_range):
        raise InputError(
            f"{what}: column percent_time is outside 0-100 on {file_lines(out_of_range)}"
        )
    largest = float(frame["percent_time"].max()) if len(frame) else 0.0
    if 0 < largest <= 1:
        log.warning(
            "%s: every value of column percent_time lies within 0-1 (largest %.4g): they look "
            "like fractions, but the column is percent time (0-100); if they are fractions, "
            "multiply them by 100", what, largest)
    negative = frame.index[frame["valid_s"] < 0]
    if len(negative):
        raise InputError(f"{what}: column valid_s is negative on {file_lines(negative)}")
    none = frame.index[frame["valid_s"] == 0]
    if len(none):  # 0 of 0 s is no observation: read as 0%, a non-engager in every action
        raise InputError(
            f"{what}: column valid_s is 0 on {file_lines(none)}: with no valid time the "
            "percent time is unknown, not 0; leave such participants out of the table (with "
            "stats.exclude_incomplete: true they are then excluded and listed)")
    dup = frame.index[frame.duplicated(["participant_id", "action"], keep="first")]
    if len(dup):
        raise InputError(
            f"{what}: more than one row for the same participant_id and action on {file_lines(dup)}"
        )
    actions = frame["action"].unique()
    per_pid = frame.groupby("participant_id")["action"].nunique()
    short = per_pid.index[per_pid < len(actions)].tolist()
    if short:
        # Name the actions too: one participant's 'Nodding' for 'nodding' makes everyone
        # else lack a row, and the action is the thing to fix.
        per_action = frame.groupby("action")["participant_id"].nunique()
        fewest_first = sorted(per_action.items(), key=lambda an: (an[1], an[0]))
        partial = [f"{a!r} ({n} of {len(per_pid)})" for a, n in fewest_first
                   if n < len(per_pid)]
        raise InputError(
            f"{what}: participant(s) {listed(short)} lack rows for some of the "
            f"{len(actions)} actions (one row per participant x action is required); "
            f"participants with a row for each action: {listed(partial)}"
        )
    return frame


def check_groups(frame: pd.DataFrame, groups: list[str], what: str,
                 configured: bool = True) -> None:
    """Every group in the file must be one of the configured groups (or, with `groups`
    unset, one of the participant sheet's); the error lists every stray label."""
    unknown = frame.index[~frame["group"].isin(groups)]
    if len(unknown):
        names = sorted(frame.loc[unknown, "group"].unique())
        where = (f"stats.groups {groups}" if configured else
                 f"the participant sheet's groups {groups} (stats.groups is not set)")
        raise InputError(
            f"{what}: column group has value(s) {names} not in {where} on {file_lines(unknown)}"
        )


def resolve_groups(frame: pd.DataFrame, config: StatsConfig, what: str) -> list[str]:
    """The configured groups, or the file's groups (sorted) with a warning naming each and
    its n: without `stats.groups` a typo or stray label silently becomes a group."""
    if config.groups:
        return list(config.groups)
    sizes = frame.groupby("group")["participant_id"].nunique().sort_index()
    log.warning(
        "stats.groups is not set: the groups are those found in %s: %s. A stray label or a "
        "typo is a group of its own; set stats.groups to the groups you mean", what,
        ", ".join(f"{g} (n={n})" for g, n in sizes.items()))
    return list(sizes.index)


def load_cohort(
    percent_time: str | Path, participants: str | Path, config: StatsConfig
) -> CohortData:
    """Read, check and join the percent-time table and the participant sheet."""
    table_name = f"percent-time table {percent_time}"
    sheet_name = f"participant sheet {participants}"
    table = check_percent_table(read_tsv(percent_time, TABLE_COLUMNS, "percent-time table"),
                                table_name)
    sheet = read_sheet(participants)
    used = sheet_used(participants, sheet, config.covariates)

    groups = resolve_groups(sheet, config, sheet_name)
    check_groups(sheet, groups, sheet_name, configured=bool(config.groups))
    check_groups(table, groups, table_name, configured=bool(config.groups))

    exclusions: list[tuple[str, str]] = []
    in_sheet, in_table = set(sheet["participant_id"]), set(table["participant_id"])
    for pid_set, other, reason in (
        (in_table - in_sheet, sheet_name, "in the percent-time table but not the sheet"),
        (in_sheet - in_table, table_name, "in the sheet but not the percent-time table"),
    ):
        if not pid_set:
            continue
        if not config.exclude_incomplete:
            raise InputError(
                f"participant_id(s) {listed(sorted(pid_set))} are {reason} ({other}); fix the "
                "files or set stats.exclude_incomplete: true"
            )
        exclusions += [(pid, reason) for pid in sorted(pid_set)]

    merged = table.merge(
        sheet.rename(columns={"group": "sheet_group"}), on="participant_id", how="inner",
        suffixes=("", "_sheet"),
    )
    clash = merged.index[merged["group"] != merged["sheet_group"]]
    if len(clash):
        pids = sorted(merged.loc[clash, "participant_id"].unique())
        sheet_row = sheet.index[sheet["participant_id"] == pids[0]]
        sheet_group = sheet.loc[sheet_row[0], "group"]
        rows = table.index[(table["participant_id"] == pids[0]) & (table["group"] != sheet_group)]
        raise InputError(
            f"column group differs between {table_name} and {sheet_name} for participant_id(s) "
            f"{listed(pids)} ({pids[0]}: {listed(table.loc[rows, 'group'].unique().tolist())} "
            f"in the table on {file_lines(rows)}, {sheet_group} in the sheet on "
            f"{file_lines(sheet_row)}); a participant has one group in both files"
        )
    merged = merged.drop(columns="sheet_group")
    merged, cov_exclusions = _attach_covariates(merged, table, sheet, config, sheet_name,
                                                table_name)
    exclusions += cov_exclusions

    excluded = pd.DataFrame(exclusions, columns=["participant_id", "reason"])
    for pid, reason in exclusions:
        log.warning("excluded participant %s: %s", pid, reason)
    merged = merged[~merged["participant_id"].isin(excluded["participant_id"])]
    keep = ["participant_id", "group", *config.covariates, "action", "percent_time", "valid_s"]
    merged = merged[keep].reset_index(drop=True)
    return CohortData(merged, list(groups), list(config.covariates), excluded,
                      sheet_used=used)


def sheet_used(path: str | Path, sheet: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Every row of the sheet at `path` (read as `sheet`), with only the columns the
    statistics read from it: participant_id, group and the covariates it holds, each cell as
    written there. Written beside the results, it stands in for the sheet on a rerun, which
    reads it as the original was read (a participant without percent time, or with a covariate
    missing, is excluded again), without the sheet's video paths or other columns."""
    columns = [*SHEET_COLUMNS, *(c for c in covariates if c in sheet.columns)]
    raw = tsv_frame(read_utf8(path, "participant sheet"), path, "participant sheet",
                    dtype=str, keep_default_na=False, usecols=columns)[columns]
    raw[list(SHEET_COLUMNS)] = sheet[list(SHEET_COLUMNS)]  # stripped, as read_sheet has them
    return raw


def _attach_covariates(
    merged: pd.DataFrame,
    table: pd.DataFrame,
    sheet: pd.DataFrame,
    config: StatsConfig,
    sheet_name: str,
    table_name: str,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Take each covariate from the sheet (preferred) or the table; check for gaps."""
    exclusions: list[tuple[str, str]] = []
    for cov in config.covariates:
        if cov in sheet.columns:
            if cov + "_sheet" in merged.columns:  # present in both files: the sheet wins
                _warn_if_files_differ(merged, table, sheet, cov, table_name, sheet_name)
                merged[cov] = merged.pop(cov + "_sheet")
            source, rows = sheet_name, sheet.index[sheet[cov].isna()]
            missing_pids = sheet.loc[rows, "participant_id"].tolist()
            _check_covariate(sheet[cov], cov, source)
        elif cov in table.columns:
            source, rows = "the percent-time table", table.index[table[cov].isna()]
            missing_pids = sorted(table.loc[rows, "participant_id"].unique())
            _check_covariate(table[cov], cov, source)
            _one_value_per_participant(table, cov, source)
        else:
            raise InputError(
                f"covariate column {cov!r} (stats.covariates) is in neither the {sheet_name} "
                f"nor the percent-time table; sheet columns: {list(sheet.columns)}"
            )
        if len(rows):
            if not config.exclude_incomplete:
                raise InputError(
                    f"covariate column {cov} has missing values in {source} on {file_lines(rows)}; "
                    "fill them or set stats.exclude_incomplete: true"
                )
            exclusions += [(pid, f"missing covariate {cov}") for pid in missing_pids]
        if not pd.api.types.is_numeric_dtype(merged[cov]):
            # "M " is the level M, not a level of its own. Only text is stripped: pandas reads
            # TRUE/FALSE as truth values, kept as they are (an object column when one is empty).
            merged[cov] = merged[cov].map(lambda v: v.strip() if isinstance(v, str) else v)
    return merged, exclusions


def _warn_if_files_differ(merged: pd.DataFrame, table: pd.DataFrame, sheet: pd.DataFrame,
                          cov: str, table_name: str, sheet_name: str) -> None:
    """A covariate in both files is taken from the sheet; a value edited in the table alone
    (the file a statistician opens) would otherwise be ignored without a word. The table
    writes 6 decimals, so numbers closer than 1e-6 are the same value."""
    in_table, in_sheet = merged[cov], merged[cov + "_sheet"]
    if all(pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
           for v in (in_table, in_sheet)):
        same = np.isclose(in_table, in_sheet, rtol=1e-9, atol=1e-6, equal_nan=True)
    else:
        in_table, in_sheet = (v.map(lambda x: x.strip() if isinstance(x, str) else x)
                              for v in (in_table, in_sheet))
        same = (in_table == in_sheet) | (in_table.isna() & in_sheet.isna())
    pids = sorted(merged.loc[~np.asarray(same), "participant_id"].unique())
    if not pids:
        return
    rows = table.index[table["participant_id"] == pids[0]]
    sheet_row = sheet.index[sheet["participant_id"] == pids[0]]
    log.warning(
        "covariate column %s differs between %s and %s for participant_id(s) %s (%s: %s in the "
        "table on %s, %s in the sheet on %s); the sheet's values are used", cov, table_name,
        sheet_name, listed(pids), pids[0], listed(table.loc[rows, cov].unique().tolist()),
        file_lines(rows), sheet.loc[sheet_row[0], cov], file_lines(sheet_row))


def _one_value_per_participant(table: pd.DataFrame, cov: str, source: str) -> None:
    """A covariate taken from the long table describes the participant: values that differ
    between a participant's rows (a column sorted on its own in a spreadsheet) would put
    another age into each action's model. Missing values are left to exclude_incomplete."""
    values = table[cov].map(lambda v: v.strip() if isinstance(v, str) else v)
    counts = values.groupby(table["participant_id"]).nunique()
    varying = counts.index[counts > 1].tolist()
    if varying:
        rows = table.index[table["participant_id"] == varying[0]]
        raise InputError(
            f"covariate column {cov} in {source} differs between the rows of participant_id(s) "
            f"{listed(varying)} ({varying[0]}: {listed(values[rows].dropna().unique().tolist())} "
            f"on {file_lines(rows)}); a covariate has one value per participant")


def check_sheet_covariates(path: str | Path, covariates: list[str]) -> None:
    """The covariate columns of a study's own sheet, checked as `stats` will check them: the
    workflow calls this before any job, so a missing column or a decimal comma does not stop
    the run only after every pose and inference job."""
    sheet = read_sheet(path)
    for cov in covariates:
        if cov not in sheet.columns:
            raise InputError(f"{path}: no column {cov!r} (stats.covariates {covariates}); "
                             f"the sheet's columns: {list(sheet.columns)}")
        _check_covariate(sheet[cov], cov, f"participant sheet {path}")


def _check_covariate(values: pd.Series, cov: str, source: str) -> None:
    """A numeric covariate holds finite numbers only: one stray marker ("-", "unknown")
    would otherwise turn the whole column into a factor with a level per value."""
    present = values.dropna()
    if pd.api.types.is_numeric_dtype(values):
        bad = present.index[~np.isfinite(present.to_numpy(dtype=float))]
        if len(bad):
            raise InputError(f"covariate column {cov} in {source}: not a finite number on "
                             f"{file_lines(bad)}")
        return
    text = present.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    levels = sorted(text[numbers.isna()].unique())
    folded: dict[str, list[str]] = {}
    for level in levels:
        folded.setdefault(level.casefold(), []).append(level)
    clash = next((v for v in folded.values() if len(v) > 1), None)
    if clash:
        bad = text.index[text.isin(clash[1:])]
        raise InputError(
            f"covariate column {cov} in {source} has levels that differ only in case "
            f"({clash}; {clash[1:]} on {file_lines(bad)}): each would be a level of its own; "
            "write one spelling")
    comma = text.str.fullmatch(r"[+-]?\d+,\d+")
    if comma.any() and 2 * (numbers.notna() | comma).sum() >= len(text):
        bad = text.index[comma]
        raise InputError(
            f"covariate column {cov} in {source} holds numbers with a decimal comma "
            f"({text[bad[0]]!r} on {file_lines(bad)}); write them with a decimal point")
    if 2 * numbers.notna().sum() >= len(text) and numbers.isna().any():
        bad = text.index[numbers.isna()]
        raise InputError(
            f"covariate column {cov} in {source} holds numbers, but {text[bad[0]]!r} on "
            f"{file_lines(bad)}; leave a missing value empty (stats.exclude_incomplete says "
            "what happens to it)")
    # Numbers with a unit ('7 y', '120 cm') are text: a factor with a level per value. The
    # same text after every value's number is a unit; different texts ('1A', '2B') are names.
    # Two levels are one contrast either way.
    unit = text.str.replace(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)", "", regex=True).str.strip()
    worded = text[numbers.isna()]
    if (len(worded) and text.str.match(r"[+-]?[.,]?\d").all() and unit.nunique() == 1
            and text.nunique() > 2):
        raise InputError(
            f"covariate column {cov} in {source}: every value is a number followed by "
            f"{unit.iloc[0]!r} ({worded.iloc[0]!r} on {file_lines(worded.index)}), so each of "
            f"the {text.nunique()} values would be a level of its own, not a number; write the "
            "number alone (the unit in the column name: age_years)")
