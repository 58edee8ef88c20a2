"""Guard rails: each one triggered on its own, with a message naming the file, line or key."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import (
    MIN_ENGAGERS_FLOOR,
    MIN_PARTICIPANTS_FLOOR,
    WALD_MIN_ENGAGERS,
    StatsConfig,
    load_stats_config,
)
from analysis.hurdle import run_hurdle
from analysis.inputs import load_cohort
from analysis.selection import action_frequency, select_actions
from analysis.tables import table_v
from pipeio import InputError

GROUPS = ["ASD", "PSY", "TDC"]


def one_action(values: dict[str, list[float]]) -> pd.DataFrame:
    """A single-action table from explicit percent times per group."""
    return pd.DataFrame([{"participant_id": f"{g}{i}", "group": g, "action": "nodding",
                          "percent_time": pt, "valid_s": 100.0}
                         for g, pts in values.items() for i, pt in enumerate(pts)])


def varied(n: int, zeros: int, seed: int) -> list[float]:
    """n percent times, the first `zeros` of them 0, the rest spread around 20."""
    rng = np.random.default_rng(seed)
    return [0.0] * zeros + list(np.round(rng.uniform(6, 34, n - zeros), 3))


def rows_for(results: pd.DataFrame, part: str) -> pd.DataFrame:
    return results[results["part"] == part].set_index("contrast")


@pytest.mark.parametrize(("key", "floor"), [("min_participants", MIN_PARTICIPANTS_FLOOR),
                                            ("min_engagers", MIN_ENGAGERS_FLOOR)])
def test_count_floors_name_the_key(key: str, floor: int) -> None:
    assert getattr(load_stats_config({"stats": {key: floor}}), key) == floor
    with pytest.raises(InputError, match=rf"stats\.{key}: .*greater than or equal to {floor} "
                       rf"\(got {floor - 1}\)"):
        load_stats_config({"stats": {key: floor - 1}})


def test_wald_needs_its_engager_floor_where_permutation_does_not() -> None:
    # PSY: 4 engagers, enough for min_engagers 3, too few for a Wald z (which gives absurd
    # p-values from a handful of residuals); the other groups have plenty.
    data = one_action({"ASD": varied(30, 5, 1), "PSY": varied(30, 26, 2),
                       "TDC": varied(30, 6, 3)})
    wald = StatsConfig(intensity_test="wald", min_engagers=3)
    res = run_hurdle(data, GROUPS, ["nodding"], wald)
    inten = rows_for(res, "intensity")
    reason = (f"group PSY has 4 engagers (< {WALD_MIN_ENGAGERS}, the fewest for a Wald test "
              "of intensity)")
    for contrast in ("ASD vs PSY", "PSY vs TDC"):
        assert not inten.loc[contrast, "estimable"] and inten.loc[contrast, "reason"] == reason
        assert pd.isna(inten.loc[contrast, "p"])
    assert inten.loc["ASD vs TDC", "estimable"]
    assert not [c for c in table_v(res, 1.0)["Contrast"] if "PSY" in c and "%" in c]
    perm = run_hurdle(data, GROUPS, ["nodding"], StatsConfig(min_engagers=3, permutations=199))
    assert rows_for(perm, "intensity")["estimable"].all()


def test_n_model_is_blank_where_the_group_was_not_in_the_model(tmp_path: Path) -> None:
    data = one_action({"ASD": varied(30, 10, 1), "PSY": varied(30, 27, 2),
                       "TDC": varied(30, 12, 3)})
    res = run_hurdle(data, GROUPS, ["nodding"], StatsConfig())
    inten = rows_for(res, "intensity")
    assert "group PSY has 3 engagers" in inten.loc["ASD vs PSY", "reason"]
    assert pd.isna(inten.loc["ASD vs PSY", "n_model"])
    assert pd.isna(inten.loc["PSY vs TDC", "n_model"])
    assert inten.loc["ASD vs TDC", "n_model"] == 20 + 18  # ASD and TDC engagers only
    assert (rows_for(res, "engagement")["n_model"] == 90).all()
    nobody = run_hurdle(one_action({g: [0.0] * 10 for g in GROUPS}), GROUPS, ["nodding"],
                        StatsConfig())
    assert nobody["n_model"].isna().all()
    res.to_csv(tmp_path / "h.tsv", sep="\t", index=False)
    assert pd.read_csv(tmp_path / "h.tsv", sep="\t")["n_model"].isna().sum() == 2


def test_stray_group_labels_are_an_error_listing_each(cohort, write_cohort) -> None:
    table, sheet = cohort()
    sheet.loc[4, "group"], sheet.loc[9, "group"] = "AUT", "asd"
    table.loc[table["participant_id"] == sheet.loc[4, "participant_id"], "group"] = "AUT"
    table.loc[table["participant_id"] == sheet.loc[9, "participant_id"], "group"] = "asd"
    with pytest.raises(InputError, match=r"participants.tsv: column group has value\(s\) "
                       r"\['AUT', 'asd'\] not in stats.groups \['ASD', 'PSY', 'TDC'\] on "
                       r"lines 6, 11$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig(groups=GROUPS))


def test_table_labels_outside_the_sheets_groups_name_the_table(cohort, write_cohort) -> None:
    table, sheet = cohort()
    table.loc[2, "group"] = "AUT"
    with pytest.raises(InputError, match=r"percent_time.tsv: column group has value\(s\) "
                       r"\['AUT'\] not in the participant sheet's groups .* \(stats.groups is "
                       r"not set\) on line 4$"):
        load_cohort(*write_cohort(table, sheet), StatsConfig())


def test_unset_groups_warn_with_each_group_and_its_n(cohort, write_cohort, caplog) -> None:
    table, sheet = cohort()
    paths = write_cohort(table, sheet)
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*paths, StatsConfig())
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith("stats.groups is not set")
    assert f"participant sheet {paths[1]}: ASD (n=40), PSY (n=30), TDC (n=40)" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*paths, StatsConfig(groups=GROUPS))
    assert not caplog.records


def test_fractions_instead_of_percent_warn(cohort, write_cohort, caplog) -> None:
    table, sheet = cohort()
    paths = write_cohort(table.assign(percent_time=table["percent_time"] / 100), sheet)
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*paths, StatsConfig(groups=GROUPS))
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"percent-time table {paths[0]}: every value of column "
                              "percent_time lies within 0-1")
    assert "look like fractions" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="analysis.inputs"):
        load_cohort(*write_cohort(table, sheet), StatsConfig(groups=GROUPS))
    assert not caplog.records


def test_the_cli_prints_the_warnings(cohort, write_cohort, tmp_path: Path) -> None:
    table, sheet = cohort(n_actions=1)
    tpath, spath = write_cohort(table.assign(percent_time=table["percent_time"] / 100), sheet)
    run = subprocess.run([sys.executable, "-m", "analysis", "stats", "--percent-time",
                          str(tpath), "--participants", str(spath), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "stats.groups is not set" in run.stderr and "look like fractions" in run.stderr


def test_top_k_actions_by_mean_percent_time_ties_by_name() -> None:
    """Mean over participants, zeros included: 'b' (one long bout) ranks with 'a' (many short
    ones) and the tie goes to the name; a median would rank 'b' last."""
    table = pd.DataFrame({"participant_id": [1, 2, 3, 4] * 4,
                          "action": ["c"] * 4 + ["b"] * 4 + ["a"] * 4 + ["d"] * 4,
                          "percent_time": [2, 2, 2, 2, 0, 0, 0, 40, 10, 10, 10, 10,
                                           0, 0, 0, 1]})
    assert action_frequency(table).to_dict() == {"a": 10.0, "b": 10.0, "c": 2.0, "d": 0.25}
    assert select_actions(table, 2, None) == ["a", "b"]
    assert select_actions(table, 3, None) == ["a", "b", "c"]
    assert select_actions(table, 10, None) == ["a", "b", "c", "d"]
    assert select_actions(table, 1, ["d", "a"]) == ["d", "a"]  # a list is taken as it is


def test_unknown_actions_are_an_error_naming_the_key() -> None:
    table = pd.DataFrame({"participant_id": [1, 2], "action": ["nodding", "waving"],
                          "percent_time": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"^stats\.actions names action\(s\) \['clapping'\] "
                       r"that are not in the percent-time table \(column action\); known: "
                       r"\['nodding', 'waving'\]$"):
        select_actions(table, 10, ["nodding", "clapping"])


def test_a_tie_at_the_top_k_cut_goes_to_the_name_whatever_the_row_order(caplog) -> None:
    """'a' and 'b' hold the same percent times in another participant order; a running sum
    gives them means a bit apart (0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1), so the file's row
    order, not the name, picked the one analysed."""
    table = pd.DataFrame({"participant_id": [1, 2, 3] * 3, "action": ["b"] * 3 + ["a"] * 3
                          + ["c"] * 3, "percent_time": [0.1, 0.2, 0.3, 0.3, 0.2, 0.1, 0, 0, 0]})
    for rows in (table, table.iloc[::-1], table.sample(frac=1, random_state=1)):
        assert action_frequency(rows)["a"] == action_frequency(rows)["b"]
        assert select_actions(rows, 1, None) == ["a"]
    assert "actions ['a', 'b'] tie at the stats.top_k 1 cut" in caplog.text
    caplog.clear()
    assert select_actions(table, 2, None) == ["a", "b"]  # the tie is above the cut
    assert "tie" not in caplog.text
