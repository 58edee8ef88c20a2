"""A finished run's statistics rerun from its results folder alone: the stats stage writes the
participant sheet's columns it read (participants_used.tsv), which stands in for the sheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.__main__ import main
from analysis.inputs import read_sheet, sheet_used

SAME = ["hurdle.tsv", "table_v.tsv", "table_v.md", "table_v.tex", "methods.md",
        "exclusions.tsv", "participants_used.tsv"]


def _stats(percent_time: Path, participants: Path, config: Path, out: Path) -> None:
    assert main(["stats", "--percent-time", str(percent_time), "--participants",
                 str(participants), "--config", str(config), "--out", str(out)]) == 0


def test_a_rerun_from_participants_used_gives_the_same_files(cohort, tmp_path: Path) -> None:
    table, sheet = cohort(sizes={"ASD": 12, "PSY": 12, "TDC": 12}, n_actions=2, seed=3)
    # age in both files (the sheet's is used), sex in the sheet only, site in the table only
    table = table.drop(columns="sex").assign(
        site=lambda t: t["participant_id"].str[-1].isin(list("02468")).map({True: "A",
                                                                             False: "B"}))
    sheet["sex"] = sheet["sex"].replace({"F": " F"})  # a cell is copied as written
    sheet.loc[4, "age"] = None  # a missing covariate: excluded
    sheet = pd.concat([sheet, pd.DataFrame([{  # in the sheet only: excluded
        "participant_id": "tdc-099", "group": "TDC", "video": "x.mp4", "age": 9.5,
        "sex": "M"}])], ignore_index=True)
    tpath, spath = tmp_path / "percent_time.tsv", tmp_path / "participants.tsv"
    table.to_csv(tpath, sep="\t", index=False)
    sheet.to_csv(spath, sep="\t", index=False)
    config = tmp_path / "config.yaml"
    config.write_text("stats:\n  covariates: [age, sex, site]\n  exclude_incomplete: true\n"
                      "  min_engagers: 3\n  permutations: 99\n")

    _stats(tpath, spath, config, tmp_path / "run")
    used = tmp_path / "run" / "participants_used.tsv"
    _stats(tpath, used, config, tmp_path / "again")

    assert list(pd.read_csv(used, sep="\t").columns) == ["participant_id", "group", "age", "sex"]
    excluded = pd.read_csv(tmp_path / "run" / "exclusions.tsv", sep="\t")
    assert sorted(excluded["participant_id"]) == ["asd-004", "tdc-099"]
    assert "adjusted for age, sex, and site" in (tmp_path / "run" / "methods.md").read_text()
    for name in SAME:
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name

    captions = []
    for run in ("run", "again"):
        assert main(["plots", "--percent-time", str(tpath), "--hurdle",
                     str(tmp_path / run / "hurdle.tsv"), "--config", str(config),
                     "--out", str(tmp_path / f"figures_{run}")]) == 0
        captions.append((tmp_path / f"figures_{run}" / "caption.md").read_bytes())
    assert captions[0] == captions[1]


def test_participants_used_holds_only_ids_groups_and_covariates(cohort, write_cohort,
                                                                tmp_path: Path) -> None:
    table, sheet = cohort(sizes={"ASD": 6, "PSY": 6, "TDC": 6}, n_actions=1)
    sheet["notes"] = "lives at 12 Elm Street"
    sheet["dob"] = "2015-03-0" + (sheet.index % 9 + 1).astype(str)
    sheet["codings_ann"] = "/study/codings/" + sheet["participant_id"] + ".csv"
    sheet["participant_side"] = "left"
    sheet["video"] = "/study/videos/Emma_2023-05-01/" + sheet["participant_id"] + ".mp4"
    tpath, spath = write_cohort(table, sheet)
    for covariates, columns in (("[age]", ["participant_id", "group", "age"]),
                                ("[]", ["participant_id", "group"])):
        config = tmp_path / "config.yaml"
        config.write_text(f"stats:\n  covariates: {covariates}\n  permutations: 99\n")
        _stats(tpath, spath, config, tmp_path / "out")
        text = (tmp_path / "out" / "participants_used.tsv").read_text()
        assert text.splitlines()[0].split("\t") == columns
        assert len(text.splitlines()) == len(sheet) + 1
        for private in ("/study", "Emma", ".mp4", ".csv", "Elm", "2015-", "left"):
            assert private not in text, private


def test_participants_used_has_ids_as_read_and_covariates_as_written(tmp_path: Path) -> None:
    """Ids and groups trimmed, as the statistics read them; covariate cells as written
    (`09.50`, `NA`); the columns in the config's order whatever the sheet's, a covariate the
    sheet lacks (from the percent-time table) left out."""
    path = tmp_path / "participants.tsv"
    path.write_text("age\tvideo\tgroup\tsex\tparticipant_id\n"
                    "09.50\ta.mp4\t ASD \tNA\t asd-000 \n"
                    "7\tb.mp4\tTDC\tF\ttdc-001\n")
    used = sheet_used(path, read_sheet(path), ["sex", "age", "site"])
    assert used.to_dict("list") == {"participant_id": ["asd-000", "tdc-001"],
                                    "group": ["ASD", "TDC"], "sex": ["NA", "F"],
                                    "age": ["09.50", "7"]}
    assert list(used.columns) == ["participant_id", "group", "sex", "age"]
