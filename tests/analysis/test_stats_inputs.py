"""Bad input stops with a message naming the column and the rows (or a logged exclusion)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from analysis.config import StatsConfig
from analysis.inputs import (
    check_percent_table,
    check_sheet_covariates,
    file_lines,
    listed,
    load_cohort,
    read_sheet,
    read_tsv,
)
from pipeio import InputError


def test_good_input_is_joined_with_covariates(cohort, write_cohort) -> None:
    table, sheet = cohort()
    tpath, spath = write_cohort(table.drop(columns=["age", "sex"]), sheet)
    data = load_cohort(tpath, spath, StatsConfig(covariates=["age", "sex"]))
    assert list(data.table.columns) == ["participant_id", "group", "age", "sex", "action",
                                        "percent_time", "valid_s"]
    assert len(data.table) == len(table) and data.groups == ["ASD", "PSY", "TDC"]
    assert data.exclusions.empty


def test_percent_time_out_of_range_names_lines(cohort, write_cohort) -> None:
    table, sheet = cohort()
    table.loc[[3, 7], "percent_time"] = [101.0, -0.5]
    paths = write_cohort(table, sheet)
    with pytest.raises(InputError, match=r"percent_time.tsv: column percent_time is outside "
                       r"0-100 on lines 5, 9$"):
        load_cohort(*paths, StatsConfig())
    table.loc[7, "percent_time"] = 1.0
    with pytest.raises(InputError, match="column percent_time is outside 0-100 on line 5$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


def test_non_numeric_percent_time(cohort, write_cohort) -> None:
    table, sheet = cohort()
    table["percent_time"] = table["percent_time"].astype(object)
    table.loc[0, "percent_time"] = "twelve"
    with pytest.raises(InputError, match="column percent_time is not a number on line 2"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


def test_unknown_group(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[4, "group"] = "ADHD"
    with pytest.raises(InputError, match=r"column group has value\(s\) \['ADHD'\].*line 6"):
        load_cohort(*write_cohort(table, sheet), StatsConfig(groups=["ASD", "PSY", "TDC"]))


def test_participant_missing_from_sheet(cohort, write_cohort) -> None:
    table, sheet = cohort()
    gone = sheet.loc[0, "participant_id"]
    with pytest.raises(InputError, match=f"{gone} are in the percent-time table but not"):
        load_cohort(*write_cohort(table, sheet.drop(index=0)), StatsConfig())


def test_participant_missing_from_table_can_be_excluded(cohort, write_cohort, caplog) -> None:
    table, sheet = cohort()
    gone = sheet.loc[5, "participant_id"]
    paths = write_cohort(table[table["participant_id"] != gone], sheet)
    with pytest.raises(InputError, match=f"{gone} are in the sheet but not"):
        load_cohort(*paths, StatsConfig())
    with caplog.at_level(logging.WARNING):
        data = load_cohort(*paths, StatsConfig(exclude_incomplete=True))
    assert data.exclusions["participant_id"].tolist() == [gone]
    assert gone in caplog.text


def test_missing_covariate_column(cohort, write_cohort) -> None:
    table, sheet = cohort()
    table_path, sheet_path = write_cohort(table, sheet)
    with pytest.raises(InputError, match=rf"^covariate column 'bmi' \(stats.covariates\) is in "
                       rf"neither the participant sheet {re.escape(str(sheet_path))} nor the "
                       "percent-time table; sheet columns: "):  # the sheet named by its path
        load_cohort(table_path, sheet_path, StatsConfig(covariates=["bmi"]))


def test_missing_covariate_values(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[[2, 10], "age"] = np.nan
    paths = write_cohort(table.drop(columns=["age"]), sheet)
    with pytest.raises(InputError, match="covariate column age has missing values .* lines 4, 12"):
        load_cohort(*paths, StatsConfig(covariates=["age"]))
    data = load_cohort(*paths, StatsConfig(covariates=["age"], exclude_incomplete=True))
    assert sorted(data.exclusions["participant_id"]) == sorted(sheet.loc[[2, 10],
                                                                         "participant_id"])
    assert data.table["age"].notna().all()


def test_a_stray_marker_in_a_numeric_covariate_is_refused(cohort, write_cohort) -> None:
    """One "-" would otherwise make age a factor with a level per value."""
    table, sheet = cohort()
    sheet["age"] = sheet["age"].astype(object)
    sheet.loc[[1, 5], "age"] = "-"
    paths = write_cohort(table.drop(columns=["age"]), sheet)
    with pytest.raises(InputError, match=r"covariate column age in .* holds numbers, but '-' "
                       r"on lines 3, 7; leave a missing value empty"):
        load_cohort(*paths, StatsConfig(covariates=["age"]))
    sheet.loc[[1, 5], "age"] = np.inf
    paths = write_cohort(table.drop(columns=["age"]), sheet)
    with pytest.raises(InputError, match=r"age in .*: not a finite number on lines 3, 7"):
        load_cohort(*paths, StatsConfig(covariates=["age"]))


def test_decimal_commas_in_a_numeric_covariate_are_refused(cohort, write_cohort) -> None:
    """A sheet saved with a decimal comma (8,5) would otherwise make age a text factor with
    a level per child, and every test inestimable for reasons that do not say why."""
    table, sheet = cohort()
    sheet["age"] = [f"{a:.1f}".replace(".", ",") for a in sheet["age"]]
    sheet.loc[0, "age"] = "12"  # a whole number reads the same either way
    paths = write_cohort(table.drop(columns=["age"]), sheet)
    with pytest.raises(InputError, match=r"covariate column age in .* holds numbers with a "
                       r"decimal comma \('\d+,\d' on lines 3, 4, .*write them with a decimal "
                       "point"):
        load_cohort(*paths, StatsConfig(covariates=["age"]))


def test_text_covariate_levels_ignore_surrounding_spaces(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[0, "sex"] = sheet.loc[0, "sex"] + " "
    data = load_cohort(*write_cohort(table.drop(columns=["sex"]), sheet),
                       StatsConfig(covariates=["sex"]))
    assert sorted(data.table["sex"].unique()) == sorted(sheet["sex"].str.strip().unique())


def test_duplicate_rows_and_incomplete_grid(cohort, write_cohort) -> None:
    table, sheet = cohort()
    with pytest.raises(InputError, match="more than one row .* on line 3$"):
        load_cohort(*write_cohort(table.iloc[[0, *range(len(table))]], sheet), StatsConfig())
    with pytest.raises(InputError, match="lack rows for some of the 3 actions"):
        load_cohort(*write_cohort(table.drop(index=1), sheet), StatsConfig())


def test_group_disagreement_between_files(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[0, "group"] = "TDC"
    pid, group = sheet.loc[0, "participant_id"], table.loc[0, "group"]
    rows = file_lines(table.index[table["participant_id"] == pid])
    with pytest.raises(InputError, match=rf"group differs .* for participant_id\(s\) {pid} "
                       rf"\({pid}: {group} in the table on {rows}, TDC in the sheet on line 2\); "
                       r"a participant has one group in both files$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())
    sheet.loc[0, "group"] = group  # one row of the table edited: only that row is named
    table.loc[1, "group"] = "TDC"
    with pytest.raises(InputError, match=rf"\({pid}: TDC in the table on line 3, {group} in the "
                                         r"sheet on line 2\)"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


def test_a_sheet_cell_from_a_latin1_file_names_its_line(cohort, write_cohort) -> None:
    table, sheet = cohort()
    tpath, spath = write_cohort(table, sheet)
    lines = spath.read_bytes().split(b"\n")
    lines[3] += "\tJos\u00e9".encode("latin-1")
    lines[0] += b"\tnote"
    spath.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match=r"participant sheet .*: line 4, column \d+: byte 0xe9 "
                       "is not UTF-8 text"):
        load_cohort(tpath, spath, StatsConfig())


@pytest.mark.parametrize("data, line, column", [
    (b"participant_id\tnote\nsub-001\tJos\xe9\n", 2, 12),  # after "sub-001<TAB>Jos"
    (b"\xe9t\xe9\n", 1, 1),
    # columns count characters: "Zoë" is 4 bytes, 3 characters; a byte-order mark is none
    ("participant_id\tnote\nsub-001\tZo\u00eb ".encode() + b"\xe9\n", 2, 13),
    (b"\xef\xbb\xbfab\xe9\n", 1, 3),
])
def test_read_utf8_names_the_line_and_column_of_the_first_bad_byte(tmp_path, data, line,
                                                                   column) -> None:
    from pipeio.textfile import read_utf8

    path = tmp_path / "participants.tsv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=rf"^participant sheet {path}: line {line}, column "
                       rf"{column}: byte 0xe9 is not UTF-8 text"):
        read_utf8(path, "participant sheet")


def test_read_utf8_drops_a_byte_order_mark_and_names_an_unreadable_file(tmp_path) -> None:
    from pipeio.textfile import read_utf8

    path = tmp_path / "participants.tsv"
    path.write_bytes(b"\xef\xbb\xbfparticipant_id\n")
    assert read_utf8(path, "participant sheet") == "participant_id\n"
    with pytest.raises(InputError, match=rf"^participant sheet {tmp_path / 'none.tsv'}: No such "
                       "file or directory$"):
        read_utf8(tmp_path / "none.tsv", "participant sheet")


@pytest.mark.parametrize("age, covariates, needle", [
    ("7.5", ["age", "gender"], "no column 'gender' (stats.covariates ['age', 'gender'])"),
    ("7,5", ["age"], "holds numbers with a decimal comma ('7,5' on line 3)"),
    ("unknown", ["age"], "holds numbers, but 'unknown' on line 3"),
])
def test_sheet_covariates_are_checked_as_stats_will(tmp_path, age, covariates, needle) -> None:
    """The workflow runs this check before any job (a late stats failure costs a run)."""
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\tage\n"
                     "a\tASD\ta.mp4\t7.1\n"
                     f"b\tTDC\tb.mp4\t{age}\n"
                     "c\tTDC\tc.mp4\t9\n"
                     "d\tASD\td.mp4\t\n", encoding="utf-8")
    if age == "7.5":
        check_sheet_covariates(sheet, ["age"])  # an empty cell: stats.exclude_incomplete's
    with pytest.raises(InputError) as err:
        check_sheet_covariates(sheet, covariates)
    assert needle in str(err.value)


def test_decimal_commas_in_percent_time_are_named(cohort, write_cohort) -> None:
    """A table exported by a spreadsheet with a decimal comma: the message says so, not
    only 'not a number'."""
    table, sheet = cohort()
    table["percent_time"] = [f"{v:.2f}".replace(".", ",") for v in table["percent_time"]]
    with pytest.raises(InputError, match=r"column percent_time holds numbers with a decimal "
                       r"comma \('\d+,\d\d' on lines 2, 3, .*write them with a decimal point"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


@pytest.mark.parametrize("sep, name", [(",", "comma"), (";", "semicolon")])
def test_a_table_saved_with_another_separator_says_so(cohort, write_cohort, sep, name) -> None:
    table, sheet = cohort()
    tpath, spath = write_cohort(table, sheet)
    table.to_csv(tpath, sep=sep, index=False)
    with pytest.raises(InputError, match=f"lacks column.*looks {name}-separated; save it "
                       "tab-separated"):
        load_cohort(tpath, spath, StatsConfig())


def test_excel_bom_and_crlf_are_read(cohort, write_cohort) -> None:
    table, sheet = cohort()
    tpath, spath = write_cohort(table, sheet)
    for path in (tpath, spath):
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        path.write_bytes(("\ufeff" + text).encode("utf-8"))
    data = load_cohort(tpath, spath, StatsConfig(covariates=["sex"]))
    assert len(data.table) == len(table) and set(data.table["sex"]) == {"F", "M"}


def test_text_covariate_levels_differing_only_in_case_are_refused(cohort, write_cohort) -> None:
    """`m` beside `M` would be a level of its own (with a few children it separates or
    leaves a leverage-1 row and wipes out whole parts, for reasons that do not say why)."""
    table, sheet = cohort()
    sheet.loc[[1, 4], "sex"] = "m"
    paths = write_cohort(table.drop(columns=["sex"]), sheet)
    with pytest.raises(InputError, match=r"covariate column sex in participant sheet .* has "
                       r"levels that differ only in case \(\['M', 'm'\]; \['m'\] on lines 3, "
                       "6\\): .*write one spelling"):
        load_cohort(*paths, StatsConfig(covariates=["sex"]))


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff\r\n"])
def test_an_empty_file_is_named_as_empty(tmp_path, content) -> None:
    path = tmp_path / "percent_time.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=rf"^percent-time table {path} is empty$"):
        read_tsv(path, ("participant_id",), "percent-time table")


def test_text_columns_keep_numeric_looking_names_as_text(tmp_path) -> None:
    path = tmp_path / "hurdle.tsv"
    path.write_text("group_a\tgroup_b\tn\n1\t02\t3\n", encoding="utf-8")
    frame = read_tsv(path, ("group_a",), "hurdle results", text_columns=("group_a", "group_b"))
    assert frame.loc[0, "group_a"] == "1" and frame.loc[0, "group_b"] == "02"
    assert frame.loc[0, "n"] == 3


def test_participants_named_like_missing_values_are_kept(cohort, write_cohort) -> None:
    """Initials such as `NA` are ids, not pandas' missing values; only an empty cell is one."""
    table, sheet = cohort()
    first = sorted(sheet["participant_id"])[:5]
    names = dict(zip(first, ["NA", "None", "null", "nan", "N/A"], strict=True))
    table["participant_id"] = table["participant_id"].replace(names)
    sheet["participant_id"] = sheet["participant_id"].replace(names)
    tpath, spath = write_cohort(table.drop(columns=["age", "sex"]), sheet)
    data = load_cohort(tpath, spath, StatsConfig(covariates=["age", "sex"]))
    assert set(names.values()) <= set(data.table["participant_id"])
    assert len(data.table) == len(table) and data.exclusions.empty
    sheet.loc[0, "participant_id"] = " "
    _, spath = write_cohort(table, sheet)
    with pytest.raises(InputError, match="column participant_id is empty on line 2$"):
        read_tsv(spath, ("participant_id",), "participant sheet")


def test_long_lists_of_lines_and_participants_are_shortened() -> None:
    assert file_lines([0]) == "line 2"
    assert file_lines(range(10)) == "lines 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"
    assert listed([f"p{i}" for i in range(9)]) == "p0, p1, p2, p3, p4, p5, p6, p7 and 1 more"


def _percent(rows: list[tuple[str, str, object, object]]) -> pd.DataFrame:
    """A percent-time table as read_tsv gives it: (participant_id, action, percent_time,
    valid_s) rows, every participant in group ASD."""
    return pd.DataFrame(rows, columns=["participant_id", "action", "percent_time",
                                       "valid_s"]).assign(group="ASD")


def test_percent_time_bounds_and_valid_time_are_checked_by_line(caplog) -> None:
    ok = check_percent_table(_percent([("a", "x", "0", "0.5"), ("a", "y", "100", "60.5")]), "t")
    assert ok["percent_time"].tolist() == [0.0, 100.0] and ok["valid_s"].tolist() == [0.5, 60.5]
    check_percent_table(_percent([("a", "x", "0", "60")]), "t")
    assert not caplog.records  # above 1, or all 0: not fractions
    for rows, message in (
        ([("a", "x", "5", "60"), ("a", "y", None, "60")],
         "t: column percent_time is missing on line 3$"),
        ([("a", "x", "5", "60"), ("a", "y", "5", "-1")], "t: column valid_s is negative on line 3$"),
        # No valid time: 0 of 0 s read as 0% would make "b" a non-engager in every action.
        ([("a", "x", "5", "60"), ("b", "x", "0", "0"), ("b", "y", "0", "0")],
         r"t: column valid_s is 0 on lines 3, 4: with no valid time the percent time is "
         "unknown, not 0; leave such participants out"),
        ([("a", "x", "5", "sixty"), ("a", "y", "5", "60")],
         "t: column valid_s is not a number on line 2$"),
        ([("a", "x", "twelve", "60"), ("a", "y", "1,5", "60"), ("a", "z", ",5", "60")],
         r"t: column percent_time holds numbers with a decimal comma \('1,5' on lines 3, 4\)"),
    ):
        with pytest.raises(InputError, match=message):
            check_percent_table(_percent(rows), "t")
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        check_percent_table(_percent([("a", "x", "0", "60"), ("a", "y", "1", "60")]), "t")
    assert "lies within 0-1 (largest 1)" in caplog.text


def test_an_empty_valid_s_is_refused_as_valid_s_0_is() -> None:
    """valid_s 0 is refused (the percent time is unknown); an empty cell says no more."""
    with pytest.raises(InputError, match=r"^t: column valid_s is missing on line 3$"):
        check_percent_table(_percent([("a", "x", "5", "60"), ("a", "y", "5", None)]), "t")


def test_blank_and_padded_names_in_a_table(tmp_path) -> None:
    path = tmp_path / "percent_time.tsv"
    path.write_text("participant_id\tgroup\taction\tpercent_time\tvalid_s\n"
                    " P1 \tASD\tnodding\t5\t60\n"
                    "P1\tASD\t \t5\t60\n", encoding="utf-8")
    with pytest.raises(InputError, match="column action is empty on line 3$"):
        read_tsv(path, ("participant_id",), "percent-time table")
    path.write_text("participant_id\tgroup\taction\n P1 \t ASD\tnodding\n", encoding="utf-8")
    frame = read_tsv(path, ("participant_id",), "percent-time table")
    assert frame.loc[0, "participant_id"] == "P1" and frame.loc[0, "group"] == "ASD"


def test_a_comma_in_a_tab_separated_header_is_not_taken_for_a_separator(tmp_path) -> None:
    path = tmp_path / "participants.tsv"
    path.write_text("id, initials\tgroup\nP1\tASD\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['participant_id'\]; found "
                       r"\['id, initials', 'group'\]$"):
        read_tsv(path, ("participant_id", "group"), "participant sheet")


def test_a_stray_group_is_listed_once(cohort, write_cohort) -> None:
    table, sheet = cohort()
    pid = sheet.loc[0, "participant_id"]
    table.loc[table["participant_id"] == pid, "group"] = "AUT"  # all its 3 action rows
    with pytest.raises(InputError, match=r"column group has value\(s\) \['AUT'\] not in "
                       r"the participant sheet's groups .* on lines 2, 3, 4$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


def test_a_covariate_in_both_files_is_taken_from_the_sheet(cohort, write_cohort) -> None:
    table, sheet = cohort()
    data = load_cohort(*write_cohort(table.assign(age=0.0), sheet),
                       StatsConfig(covariates=["age"]))
    ages = dict(zip(sheet["participant_id"], sheet["age"], strict=True))
    assert data.table["age"].tolist() == data.table["participant_id"].map(ages).tolist()


def test_a_covariate_only_in_the_table_is_checked_too(cohort, write_cohort) -> None:
    table, sheet = cohort()
    table["age"] = table["age"].astype(object)
    table.loc[4, "age"] = "-"
    with pytest.raises(InputError, match=r"covariate column age in the percent-time table "
                       r"holds numbers, but '-' on line 6"):
        load_cohort(*write_cohort(table, sheet.drop(columns=["age"])),
                    StatsConfig(covariates=["age"]))


def test_a_covariate_edited_in_the_table_alone_is_named(cohort, write_cohort, caplog) -> None:
    """Both files carry age (the workflow copies the sheet's into the table) and the sheet's
    is used: an age corrected in the table alone would change nothing without a word."""
    table, sheet = cohort(n_actions=2)
    table["age"] = table["age"].map(lambda a: f"{a:.6f}")  # as the workflow writes it
    config = StatsConfig(covariates=["age", "sex"])
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*write_cohort(table, sheet), config)
    assert "differs" not in caplog.text
    pid, age = sheet.loc[1, "participant_id"], sheet.loc[1, "age"]
    table.loc[table["participant_id"] == pid, "age"] = "99.5"
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        data = load_cohort(*write_cohort(table, sheet), config)
    assert re.search(rf"covariate column age differs between percent-time table \S+ and "
                     rf"participant sheet \S+ for participant_id\(s\) {pid} \({pid}: 99.5 in the "
                     rf"table on lines 4, 5, {age} in the sheet on line 3\); the sheet's "
                     r"values are used$", caplog.text, flags=re.M)
    assert (data.table.loc[data.table["participant_id"] == pid, "age"] == age).all()


def test_a_table_only_covariate_differing_within_a_participant_is_refused(cohort,
                                                                         write_cohort) -> None:
    """One child aged 8 on one action's row and 16 on another's (a column sorted on its own):
    each action's model would have used another age for the same child."""
    table, sheet = cohort(n_actions=2)
    table.loc[1, "age"] = table.loc[0, "age"] + 8
    table.loc[3, "sex"] = "F" if table.loc[2, "sex"] == "M" else "M"
    with pytest.raises(InputError, match=r"^covariate column age in the percent-time table "
                       r"differs between the rows of participant_id\(s\) asd-000 \(asd-000: "
                       r"[\d.]+, [\d.]+ on lines 2, 3\); a covariate has one value per "
                       r"participant$"):
        load_cohort(*write_cohort(table, sheet.drop(columns=["age"])),
                    StatsConfig(covariates=["age"]))
    with pytest.raises(InputError, match=r"column sex .* participant_id\(s\) asd-001 "):
        load_cohort(*write_cohort(table, sheet.drop(columns=["sex"])),
                    StatsConfig(covariates=["sex"]))
    table.loc[3, "sex"] = f" {table.loc[2, 'sex']} "  # the same level, padded: no difference
    load_cohort(*write_cohort(table, sheet.drop(columns=["sex"])), StatsConfig(covariates=["sex"]))


def test_text_columns_keep_an_empty_cell_missing(tmp_path) -> None:
    path = tmp_path / "hurdle.tsv"
    path.write_text("group_a\tgroup_b\tn\n1\t\t3\n", encoding="utf-8")
    frame = read_tsv(path, ("group_a",), "hurdle results", text_columns=("group_a", "group_b"))
    assert frame.loc[0, "group_a"] == "1" and pd.isna(frame.loc[0, "group_b"])


@pytest.mark.parametrize("values, needle", [
    (["7,5", "x"], "holds numbers with a decimal comma ('7,5' on line 2)"),  # half: numbers
    (["7", "x"], "holds numbers, but 'x' on line 3"),
    (["-8,5", "9,5"], "holds numbers with a decimal comma ('-8,5' on lines 2, 3)"),
    (["M", "m "], "levels that differ only in case (['M', 'm']; ['m'] on line 3)"),
    (["M", "F", "", ""], None),  # empty cells are missing values, not numbers
])
def test_a_covariate_is_numeric_when_half_its_values_are_numbers(tmp_path, values,
                                                                 needle) -> None:
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tcov\n" + "".join(
        f"p{i}\tASD\t{v}\n" for i, v in enumerate(values)), encoding="utf-8")
    if needle is None:
        check_sheet_covariates(sheet, ["cov"])
        return
    with pytest.raises(InputError) as err:
        check_sheet_covariates(sheet, ["cov"])
    assert needle in str(err.value)


def test_a_table_only_covariate_with_gaps_excludes_those_participants(cohort,
                                                                      write_cohort) -> None:
    table, sheet = cohort()
    gone = table.loc[4, "participant_id"]
    table.loc[4, "age"] = np.nan
    data = load_cohort(*write_cohort(table, sheet.drop(columns=["age"])),
                       StatsConfig(covariates=["sex", "age"], exclude_incomplete=True))
    assert data.exclusions.to_dict("list") == {"participant_id": [gone],
                                               "reason": ["missing covariate age"]}
    assert gone not in set(data.table["participant_id"])
    assert list(data.table.columns) == ["participant_id", "group", "sex", "age", "action",
                                        "percent_time", "valid_s"]


def test_a_ragged_file_names_the_line_with_too_many_cells(tmp_path) -> None:
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id\tgroup\na\tASD\nb\tTDC\tx\ty\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^participant sheet {path}: line 3 has 4 "
                       "tab-separated cells, the header line 2"):
        read_tsv(path, ("participant_id", "group"), "participant sheet")


@pytest.mark.parametrize("magic", [b"PK\x03\x04\x14\x00\x06\x00",  # .xlsx, .ods (zip)
                                   b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00"])  # .xls (OLE2)
def test_a_workbook_given_as_the_sheet_is_named_as_such(cohort, write_cohort, magic) -> None:
    tpath, spath = write_cohort(*cohort())
    spath.write_bytes(magic + b"\x00" * 64)
    with pytest.raises(InputError, match=r"participant sheet .* is a spreadsheet workbook, not "
                       "text; save it from the spreadsheet as tab-separated text"):
        load_cohort(tpath, spath, StatsConfig())


def test_only_a_covariate_value_that_differs_between_the_files_is_named(
        cohort, write_cohort, caplog) -> None:
    """The table's 6 decimals, a cell's trailing space and cells empty in both files (a number,
    a text) are the same value; an age edited by a thousandth in the table is not."""
    table, sheet = cohort(n_actions=2)
    pids = sheet["participant_id"].tolist()
    sheet.loc[0, "age"] = 9.12345678
    sheet.loc[1, "sex"] = sheet.loc[1, "sex"] + " "
    sheet.loc[2, ["age", "sex"]] = np.nan
    table.loc[table["participant_id"] == pids[2], "sex"] = np.nan
    ages = dict(zip(pids, sheet["age"], strict=True))
    table["age"] = table["participant_id"].map(ages).map(
        lambda a: "" if pd.isna(a) else f"{a:.6f}")  # as the workflow writes it
    table.loc[table["participant_id"] == pids[3], "age"] = f"{sheet.loc[3, 'age'] + 0.001:.6f}"
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*write_cohort(table, sheet),
                    StatsConfig(covariates=["age", "sex"], exclude_incomplete=True))
    differs = [r.getMessage() for r in caplog.records if "differs" in r.getMessage()]
    assert len(differs) == 1 and f"for participant_id(s) {pids[3]} (" in differs[0], differs


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_sheet_saved_as_unicode_text_is_read(cohort, write_cohort, encoding) -> None:
    """Excel's "Unicode Text" is tab-separated UTF-16 with a byte-order mark, CRLF lines: read
    as the same sheet (once refused as `byte 0xff is not UTF-8 text` at line 1, column 1)."""
    tpath, spath = write_cohort(*cohort())
    expected = load_cohort(tpath, spath, StatsConfig())
    text = spath.read_text(encoding="utf-8").replace("\n", "\r\n")
    spath.write_bytes(("\ufeff" if encoding == "utf-16-be" else "").encode(encoding)
                      + text.encode(encoding))
    read = load_cohort(tpath, spath, StatsConfig())
    pd.testing.assert_frame_equal(read.table, expected.table)
    assert read.groups == expected.groups
    spath.write_bytes(spath.read_bytes()[:-1])  # an odd byte count: not UTF-16 throughout
    with pytest.raises(InputError, match=rf"^participant sheet {spath} starts as UTF-16 text "
                       r"\(a spreadsheet's 'Unicode Text'\) but byte \d+ is not"):
        load_cohort(tpath, spath, StatsConfig())


def test_a_folder_given_as_the_sheet_is_named_as_a_folder(cohort, write_cohort) -> None:
    tpath, spath = write_cohort(*cohort())
    with pytest.raises(InputError, match=r"participant sheet .* is a folder; give the file"):
        load_cohort(tpath, spath.parent, StatsConfig())
    with pytest.raises(InputError, match=r"participant sheet .*nowhere.tsv does not exist"):
        load_cohort(tpath, spath.parent / "nowhere.tsv", StatsConfig())


def test_a_tab_after_each_rows_last_cell_shifts_no_column(tmp_path) -> None:
    """Rows with one more (empty) cell than the header: pandas alone reads the first column
    as row names, so each participant's group became their id and their age their group."""
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tage\nsub-001\tASD\t5\t\nsub-002\tTDC\t6\t\n")
    got = read_sheet(sheet)
    assert list(got.columns) == ["participant_id", "group", "age"]
    assert got["participant_id"].tolist() == ["sub-001", "sub-002"]
    assert got["group"].tolist() == ["ASD", "TDC"] and got["age"].tolist() == [5, 6]


@pytest.mark.parametrize("text, needle", [
    ("participant_id\tgroup\nsub-001\tASD\n\nsub-002\tTDC\tyes\n",
     ": line 4 has 3 tab-separated cells, the header line 2; a cell holds a tab"),
    ('participant_id\tgroup\nsub-001\t"ASD\tx"\nsub-002\tTDC\t\tz\n',  # a quoted tab is a cell
     ": line 3 has 4 tab-separated cells, the header line 2"),
    ("\n \n\t\n", " is empty"),
    ("participant_id,group\nsub-001,ASD\n", " lacks column(s) ['participant_id', 'group']; "
     "found ['participant_id,group']: the file looks comma-separated; save it tab-separated"),
    ("participant_id;group\nsub-001;ASD\n", "the file looks semicolon-separated"),
    ('participant_id\tgroup\nsub-001\t"ASD\n', " is not a readable TSV: "),
    # A ditto mark: the quote runs to the next one, the rows between would become its text.
    ('participant_id\tgroup\tnote\nsub-001\tASD\t"\nsub-002\tASD\t\nsub-003\tTDC\t"\n',
     ': line 2: a cell begins with a double quote (") that closes only on line 4, so the '
     "lines between are read as that cell's text, not as rows; remove the stray quote"),
    ("participant_id\tgroup\n#sub-001\tASD\nsub-002\tTDC\n",  # commented out: still a row
     ": line 2 starts with '#': it is read as data (a first cell '#sub-001'), not skipped"),
    ("# study A\nparticipant_id\tgroup\nsub-001\tASD\n", ": line 1 starts with '#'"),
    ("\nparticipant_id\tage\tgroup\tage \t\t\nsub-001\t5\tASD\t6\t\t\n",
     ": line 2 (the header) names column 'age' twice; rename or remove one"),
])
def test_a_malformed_sheet_is_one_error_naming_the_file(tmp_path, text, needle) -> None:
    sheet = tmp_path / "participants.tsv"
    sheet.write_text(text)
    with pytest.raises(InputError) as err:
        read_sheet(sheet)
    assert str(err.value).startswith(f"participant sheet {sheet}")
    assert needle in str(err.value)


def test_a_blank_line_or_a_mac_line_ending_keeps_the_line_numbers(tmp_path) -> None:
    """pandas skips a blank line, so row labels were off by one after it (an error named the
    line above the bad cell); Excel for Mac's tab-delimited text ends lines in CR alone,
    which the layout check's csv reader refused with a traceback."""
    sheet = tmp_path / "participants.tsv"
    rows = ["participant_id\tgroup\tage", "sub-001\tASD\t5", "", "sub-002\tTDC\tx7"]
    for newline in ("\n", "\r\n", "\r"):
        sheet.write_bytes(newline.join(rows + [""]).encode())
        with pytest.raises(InputError, match="holds numbers, but 'x7' on line 4;"):
            check_sheet_covariates(sheet, ["age"])
    sheet.write_bytes("\r".join(["participant_id\tgroup\tage", "sub-001\tASD\t5",
                                  "sub-002\tTDC\t7", ""]).encode())
    got = read_sheet(sheet)
    assert got["participant_id"].tolist() == ["sub-001", "sub-002"]
    assert got["age"].tolist() == [5, 7]


def test_a_true_false_covariate_with_a_gap_excludes_that_participant(cohort,
                                                                      write_cohort) -> None:
    """pandas reads TRUE/FALSE as truth values (an object column once a cell is empty):
    stripping them as text raised AttributeError instead of excluding the gap."""
    table, sheet = cohort()
    sheet["medicated"] = np.where(np.arange(len(sheet)) % 3 == 0, "TRUE", "FALSE")
    sheet.loc[4, "medicated"] = ""
    gone = sheet.loc[4, "participant_id"]
    data = load_cohort(*write_cohort(table, sheet),
                       StatsConfig(covariates=["medicated"], exclude_incomplete=True))
    assert data.exclusions["participant_id"].tolist() == [gone]
    assert set(data.table["medicated"]) == {True, False}


def test_numbers_with_a_unit_in_a_covariate_are_refused(cohort, write_cohort) -> None:
    """'7 y' is text: age would be a factor with a level per year, silently."""
    table, sheet = cohort()
    sheet["age"] = [f"{int(a)} y" for a in sheet["age"]]
    paths = write_cohort(table.drop(columns=["age"]), sheet)
    with pytest.raises(InputError, match=r"covariate column age in participant sheet .*: every "
                       r"value is a number followed by 'y' \('\d+ y' on lines 2, 3, .*\), so "
                       r"each of the \d+ values would be a level of its own, not a number"):
        load_cohort(*paths, StatsConfig(covariates=["age"]))
    for levels in (["1.5T", "3T"],  # two levels: one contrast, factor or number
                   ["1A", "2B", "3C"]):  # names that begin with a number: a factor
        sheet["age"] = [levels[i % len(levels)] for i in range(len(sheet))]
        data = load_cohort(*write_cohort(table.drop(columns=["age"]), sheet),
                           StatsConfig(covariates=["age"]))
        assert set(data.table["age"]) == set(levels)


def test_participant_ids_differing_only_in_case_are_refused(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[7, "participant_id"] = sheet.loc[2, "participant_id"].upper()
    with pytest.raises(InputError, match=r"column participant_id holds 'ASD-002' on line 9 and "
                       "'asd-002' on line 4, which differ only in case"):
        read_sheet(write_cohort(table, sheet)[1])


def test_an_action_spelled_otherwise_by_one_participant_is_named(cohort, write_cohort) -> None:
    """One participant's 'Action 0' makes everyone else lack a row: name the actions."""
    table, sheet = cohort()
    table.loc[0, "action"] = "Action 0"
    with pytest.raises(InputError, match=r"lack rows for some of the 4 actions .*; participants "
                       r"with a row for each action: 'Action 0' \(1 of 110\), 'action 0' "
                       r"\(109 of 110\)$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


@pytest.mark.parametrize("cov", ["sex", "age"])
def test_a_covariate_cell_of_spaces_is_missing(cohort, write_cohort, cov) -> None:
    """Empty to the eye: sex was analysed with a level '' of its own, and age was refused as
    "holds numbers, but ''" (advising to leave the cell empty)."""
    table, sheet = cohort()
    sheet[cov] = sheet[cov].astype(str)
    sheet.loc[3, cov] = "  "
    paths = write_cohort(table.drop(columns=["age", "sex"]), sheet)
    with pytest.raises(InputError, match=f"covariate column {cov} has missing values in "
                       "participant sheet .* on line 5;"):
        load_cohort(*paths, StatsConfig(covariates=[cov]))
    data = load_cohort(*paths, StatsConfig(covariates=[cov], exclude_incomplete=True))
    assert data.exclusions["participant_id"].tolist() == [sheet.loc[3, "participant_id"]]
    assert "" not in set(data.table[cov].astype(str))
    assert (cov == "age") == pd.api.types.is_float_dtype(data.table[cov])
