"""Reading codings: BORIS exports (both layouts, tabular and aggregated) and ELAN files,
the mapping file, and the errors that name file, line or annotation, and behaviour."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis.codings import CodingMap, load_mapping, read_codings
from analysis.codings.boris import read_boris
from analysis.codings.elan import read_elan, write_elan
from analysis.codings.events import CodedEvent, check_events, to_table
from pipeio import InputError

MAPPING = CodingMap(behaviours={"nod": "nodding", "legs": "shaking legs", "smile": None},
                    participant_subject="child", other_subjects=["interviewer"])
# the participant id from the observation id ("visit sub-003")
BY_OBSERVATION = MAPPING.model_copy(update={"participant_id_from": "observation",
                                            "participant_id_pattern": r"sub-\d+"})

V8_HEADER = ("Observation id\tObservation date\tDescription\tObservation duration\t"
             "Observation type\tSource\tTime offset (s)\tMedia duration (s)\tFPS\tSubject\t"
             "Behavior\tBehavioral category\tBehavior type\tTime\tMedia file name\t"
             "Image index\tImage file path\tComment")


def v8(rows: list[tuple[str, str, str, float]], duration: float = 60.0) -> str:
    """A BORIS 8 tabular events export: (subject, behaviour, status, time) rows."""
    lines = [V8_HEADER] + [
        f"sub-001\t2026-01-01 10:00:00\t\t{duration}\tMedia file(s)\tplayer #1:/v/sub-001.mp4"
        f"\t0.0\t{duration:.3f}\t25.000\t{s}\t{b}\t\t{st}\t{t:.3f}\t/v/sub-001.mp4\t0\tNA\t"
        for s, b, st, t in rows]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def events(table: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in table.itertuples(index=False)]


def test_boris_v8_tabular(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([
        ("child", "nod", "START", 1.0), ("interviewer", "nod", "START", 1.5),
        ("child", "smile", "POINT", 2.0), ("child", "nod", "STOP", 2.5),
        ("child", "legs", "START", 3.0), ("interviewer", "nod", "STOP", 4.0),
        ("child", "legs", "STOP", 5.25)]))
    table, pids = read_boris(path, MAPPING)
    assert pids == ["sub-001"]
    assert events(table) == [("sub-001", "nodding", 1.0, 2.5),
                             ("sub-001", "shaking legs", 3.0, 5.25)]


def test_boris_older_layout_with_status_column(tmp_path):
    text = ("Observation id\tobs-7\n\nMedia file(s)\n\nObservation date\t2019-03-01\n\n"
            "Time offset (s)\t0.000\n\n"
            "Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tBehavioral category"
            "\tComment\tStatus\n"
            "4.000\t/v/sub-002.mp4\t30.00\t25.0\tchild\tnod\t\t\tSTART\n"
            "6.500\t/v/sub-002.mp4\t30.00\t25.0\tchild\tnod\t\t\tSTOP\n")
    mapping = MAPPING.model_copy(update={"participant_id_from": "media"})
    table, pids = read_boris(write(tmp_path, "export.tsv", text), mapping)
    assert pids == ["sub-002"] and events(table) == [("sub-002", "nodding", 4.0, 6.5)]


def test_boris_exports_joined_into_one_file_are_named_at_the_second_header(tmp_path):
    """Two exports pasted one under the other: the second header (and, in the older layout,
    the observation rows above it) used to read as events ("time offset 'Time offset (s)'
    is not a number", "observation 'obs-7' has several media files (/v/sub-002.mp4,
    obs-7...)")."""
    first = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.0)])
    joined = write(tmp_path, "sub-001.tsv", first + first)
    with pytest.raises(InputError, match=r"sub-001.tsv, line 4: a second header row \(the "
                       "first is on line 1\\): exports joined into one file"):
        read_boris(joined, MAPPING)
    older = ("Observation id\tobs-7\n\nTime offset (s)\t0.000\n\n"
             "Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
             "4.000\t/v/sub-002.mp4\t30.00\t25.0\tchild\tnod\t\tSTART\n"
             "6.500\t/v/sub-002.mp4\t30.00\t25.0\tchild\tnod\t\tSTOP\n")
    with pytest.raises(InputError, match=r"sub-002.tsv, line 12: a second header row \(the "
                       "first is on line 5"):
        read_boris(write(tmp_path, "sub-002.tsv", older + older), MAPPING)


def test_boris_export_saved_with_cr_line_ends_reads_as_with_lf(tmp_path):
    """A spreadsheet on a Mac saves tab-delimited text with CR alone between lines; the csv
    module used to stop on it with "new-line character seen in unquoted field"."""
    text = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.5),
               ("child", "legs", "START", 3.0), ("child", "legs", "STOP", 5.25)])
    table, _ = read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)
    cr = tmp_path / "cr" / "sub-001.tsv"
    cr.parent.mkdir()
    cr.write_bytes(text.replace("\n", "\r").encode())
    again, _ = read_boris(cr, MAPPING)
    assert events(again) == events(table) == [("sub-001", "nodding", 1.0, 2.5),
                                              ("sub-001", "shaking legs", 3.0, 5.25)]


def test_boris_cell_the_csv_module_cannot_read_is_named_by_line(tmp_path):
    """A stray quote opens a cell that runs on past the csv module's field limit (128 KiB):
    its csv.Error used to come out as a traceback."""
    text = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.5)])
    path = write(tmp_path, "sub-001.tsv", text + '"' + "x" * 200_000 + "\n")
    with pytest.raises(InputError, match=r"sub-001.tsv, line 4: not readable as a BORIS "
                       r"export \(field larger than field limit \(131072\)\); export it "
                       "again from BORIS"):
        read_boris(path, MAPPING)


def test_boris_aggregated_header_without_stop_is_refused(tmp_path):
    text = ("Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tDuration (s)\n"
            "sub-001\tchild\tnod\tSTATE\t1.000\t2.000\n")
    with pytest.raises(InputError, match=r"sub-001.tsv, line 1: the header has Start \(s\) "
                       r"but no Stop \(s\)"):  # was a KeyError
        read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)


def test_boris_event_row_above_the_header_is_refused_not_dropped(tmp_path):
    """An export sorted in a spreadsheet with its header among the rows: the events above the
    header used to be read as the older layout's name-value rows, and lost."""
    rows = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.5),
               ("child", "legs", "START", 3.0), ("child", "legs", "STOP", 5.25)]).splitlines()
    moved = "\n".join([rows[1], rows[2], rows[0], *rows[3:]]) + "\n"
    with pytest.raises(InputError, match=r"sub-001.tsv, line 1: a row of 15 values above the "
                       r"header row \(line 3\), expected the header first"):
        read_boris(write(tmp_path, "sub-001.tsv", moved), MAPPING)


def test_boris_aggregated_csv_grouped_observations(tmp_path):
    text = ("Observation id,Observation date,Description,Observation type,Source,"
            "Time offset (s),Coding duration,Media duration (s),FPS,Subject,"
            "Observation duration by subject by observation,Behavior,Behavioral category,"
            "Behavior type,Start (s),Stop (s),Duration (s),Media file name,Image index start,"
            "Image index stop,Image file path start,Image file path stop,Comment start,"
            "Comment stop\n"
            "visit sub-003,,,Media file,player #1:a.mp4,0.0,20,20.000,25,child,5,nod,,STATE,"
            "1.000,3.000,2.000,a.mp4,NA,NA,NA,NA,,\n"
            "visit sub-004,,,Media file,player #1:b.mp4,0.0,20,20.000,25,child,5,legs,,STATE,"
            "2.000,4.500,2.500,b.mp4,NA,NA,NA,NA,,\n")
    mapping = BY_OBSERVATION
    table, pids = read_boris(write(tmp_path, "all.csv", text), mapping)
    assert pids == ["sub-003", "sub-004"]
    assert events(table) == [("sub-003", "nodding", 1.0, 3.0),
                             ("sub-004", "shaking legs", 2.0, 4.5)]


@pytest.mark.parametrize(("rows", "message"), [
    ([("child", "nod", "START", 1.0)], r"sub-001.tsv, line 2: START of 'nod' has no STOP"),
    ([("child", "nod", "STOP", 1.0)], r"sub-001.tsv, line 2: STOP of 'nod' without a START"),
    ([("child", "nod", "START", 1.0), ("child", "nod", "START", 2.0)],
     r"line 3: START of 'nod' while the START on line 2 has no STOP"),
    ([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 61.0)],
     r"lines 2-3: 'nod' ends at 61.000 s, after the end of the 60.000 s video"),
    ([("child", "wave", "START", 1.0), ("child", "wave", "STOP", 2.0),
      ("child", "blink", "POINT", 3.0)],
     r"behaviour\(s\) \['blink', 'wave'\] are not in the mapping file"),
    ([("mother", "nod", "POINT", 1.0)], r"subject\(s\) \['mother'\] are neither"),
    ([("child", "nod", "POINT", 1.0)], r"line 2: POINT event of 'nod'"),
])
def test_boris_errors_name_file_line_and_behaviour(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        read_boris(write(tmp_path, "sub-001.tsv", v8(rows)), MAPPING)


def test_boris_point_events_get_the_mapping_length_cut_at_the_next_event_and_video_end(
        tmp_path):
    # 1-s points at 5.0 and 5.5 s: the first is cut where the second begins; one at 59.5 s
    # of a 60-s video is cut at its end. The length is ours, not the coder's overlap.
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "POINT", 5.0),
                                              ("child", "nod", "POINT", 5.5),
                                              ("child", "nod", "POINT", 59.5)]))
    table, _ = read_boris(path, MAPPING.model_copy(update={"point_duration_s": 1.0}))
    assert events(table) == [("sub-001", "nodding", 5.0, 6.5),  # touching: merged
                             ("sub-001", "nodding", 59.5, 60.0)]
    # a point at the video's end has nothing in the video, and is named as a point
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "POINT", 60.0)]))
    with pytest.raises(InputError, match=r"sub-001.tsv, line 2: POINT event of 'nod' at "
                                         r"60.000 s, at or past the video's end \(60.000 s\)"):
        read_boris(path, MAPPING.model_copy(update={"point_duration_s": 1.0}))


def test_boris_zero_length_state_event_is_not_called_a_point(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 3.0),
                                              ("child", "nod", "STOP", 3.0)]))
    with pytest.raises(InputError, match=r"lines 2-3: 'nod' ends at 3.000 s, not after its "
                                         "start"):
        read_boris(path, MAPPING)


def test_boris_windows_media_paths_upper_case_csv_and_no_focal_subject(tmp_path):
    text = ("Observation id,Subject,Behavior,Behavior type,Start (s),Stop (s),"
            "Media file name\n"
            "o1,No focal subject,nod,STATE,1.0,2.0,C:\\Users\\anna\\videos\\sub-009.mp4\n")
    mapping = MAPPING.model_copy(update={"participant_id_from": "media",
                                         "participant_subject": "No focal subject"})
    table, pids = read_boris(write(tmp_path, "export.CSV", text), mapping)
    assert pids == ["sub-009"] and events(table) == [("sub-009", "nodding", 1.0, 2.0)]


def test_boris_empty_export_without_file_ids_is_refused(tmp_path):
    path = write(tmp_path, "export.tsv", V8_HEADER + "\n")
    mapping = MAPPING.model_copy(update={"participant_id_from": "observation"})
    with pytest.raises(InputError, match=r"export.tsv: no events, so the participant it "
                                         "codes cannot be read from its observation"):
        read_boris(path, mapping)


def test_two_observations_in_one_file_named_by_the_file(tmp_path):
    text = ("Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)\n"
            "visit 1\tchild\tnod\tSTATE\t1.0\t2.0\n"
            "visit 2\tchild\tnod\tSTATE\t1.0\t2.0\n")
    with pytest.raises(InputError, match=r"sub-005 is coded by two observations of .*"
                                         r"sub-005.tsv \(participant_id_from: file"):
        read_codings([write(tmp_path, "sub-005.tsv", text)], MAPPING)


def test_boris_overlap_of_one_behaviour_is_refused(tmp_path):
    text = ("Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)\n"
            "sub-001\tchild\tnod\tSTATE\t1.0\t3.0\n"
            "sub-001\tchild\tnod\tSTATE\t2.0\t4.0\n")
    with pytest.raises(InputError, match=r"line 3: 'nod' from 2.000 s overlaps the one at "
                                         r".*line 2 \(1.000-3.000 s\)"):
        read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)


def test_boris_video_length_from_the_windows_files(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 10.0),
                                              ("child", "nod", "STOP", 12.0)], duration=11.8))
    with pytest.raises(InputError, match="after the end of the 11.000 s video"):
        read_boris(path, MAPPING, durations={"sub-001": 11.0})


def test_boris_coding_of_a_video_of_another_length_is_refused(tmp_path):
    """A media duration 30 s longer than the analysed video: the coder coded another
    recording or an untrimmed copy, so every event time is off. Within a second (a
    re-encoding) it is the same video."""
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 10.0),
                                              ("child", "nod", "STOP", 12.0)], duration=90.0))
    with pytest.raises(InputError, match=r"sub-001.tsv: observation 'sub-001' was coded on a "
                                         r"video of 90.0 s .* participant sub-001's video is "
                                         r"60.0 s"):
        read_boris(path, MAPPING, durations={"sub-001": 60.0})
    table, _ = read_boris(path, MAPPING, durations={"sub-001": 89.2})
    assert events(table) == [("sub-001", "nodding", 10.0, 12.0)]


def test_unknown_behaviours_warned_when_asked(tmp_path, caplog):
    path = write(tmp_path, "sub-001.tsv", v8([("child", "wave", "START", 1.0),
                                              ("child", "wave", "STOP", 2.0),
                                              ("child", "nod", "START", 3.0),
                                              ("child", "nod", "STOP", 4.0)]))
    with caplog.at_level(logging.WARNING):
        table, _ = read_boris(path, MAPPING.model_copy(update={"unknown": "warn"}))
    assert "['wave'] are not in the mapping file and are left out" in caplog.text
    assert events(table) == [("sub-001", "nodding", 3.0, 4.0)]


def test_two_behaviours_of_one_class_merge(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([
        ("child", "nod", "START", 1.0), ("child", "head nod", "START", 2.0),
        ("child", "nod", "STOP", 3.0), ("child", "head nod", "STOP", 4.0)]))
    mapping = MAPPING.model_copy(update={"behaviours": {**MAPPING.behaviours,
                                                        "head nod": "nodding"}})
    assert events(read_boris(path, mapping)[0]) == [("sub-001", "nodding", 1.0, 4.0)]
    inside = write(tmp_path, "sub-002.tsv", v8([  # one inside the other: the outer span
        ("child", "nod", "START", 1.0), ("child", "head nod", "START", 2.0),
        ("child", "head nod", "STOP", 3.0), ("child", "nod", "STOP", 5.0)]))
    assert events(read_boris(inside, mapping)[0]) == [("sub-002", "nodding", 1.0, 5.0)]


def eaf(tmp_path: Path, name: str,
        tiers: dict[str, list[tuple[int | None, int, str]]]) -> Path:
    """A minimal hand-written ELAN 3.0 file (the format as ELAN writes it, without pympi)."""
    slots, body, n = [], [], 0
    for tier, spans in tiers.items():
        body.append(f'<TIER TIER_ID="{tier}" LINGUISTIC_TYPE_REF="lt">')
        for start, end, value in spans:
            at = "" if start is None else f' TIME_VALUE="{start}"'  # None: unaligned
            slots += [f'<TIME_SLOT TIME_SLOT_ID="ts{n}"{at}/>',
                      f'<TIME_SLOT TIME_SLOT_ID="ts{n + 1}" TIME_VALUE="{end}"/>']
            body.append(f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{n}" '
                        f'TIME_SLOT_REF1="ts{n}" TIME_SLOT_REF2="ts{n + 1}"><ANNOTATION_VALUE>'
                        f'{value}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>')
            n += 2
        body.append("</TIER>")
    text = ('<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT AUTHOR="" '
            'DATE="2026-01-01T00:00:00+00:00" FORMAT="3.0" VERSION="3.0" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">'
            '<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"><MEDIA_DESCRIPTOR '
            'MEDIA_URL="file:///videos/sub-009.mp4" MIME_TYPE="video/mp4"/></HEADER>'
            f'<TIME_ORDER>{"".join(slots)}</TIME_ORDER>{"".join(body)}'
            '<LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="lt" TIME_ALIGNABLE="true"/>'
            '</ANNOTATION_DOCUMENT>\n')
    return write(tmp_path, name, text)


def test_elan_one_tier_per_behaviour(tmp_path):
    path = eaf(tmp_path, "sub-005.eaf", {"nod": [(1000, 2500, ""), (4000, 4500, "x")],
                                         "smile": [(0, 500, "")]})
    table, pids = read_elan(path, MAPPING)
    assert pids == ["sub-005"]
    assert events(table) == [("sub-005", "nodding", 1.0, 2.5), ("sub-005", "nodding", 4.0, 4.5)]


def test_elan_tiers_left_out_are_not_read(tmp_path):
    """A tier mapped to null is skipped unread, as ELAN's own sample files need (their
    time-subdivision tiers hold unaligned slots); an empty tier is not a behaviour."""
    path = eaf(tmp_path, "sub-007.eaf", {"nod": [(1000, 2000, "")],
                                         "smile": [(None, 500, "")], "default": []})
    table, _ = read_elan(path, MAPPING)
    assert events(table) == [("sub-007", "nodding", 1.0, 2.0)]
    with pytest.raises(InputError, match=r"tier 'nod', annotation a0: 'nod' has an unaligned"):
        read_elan(eaf(tmp_path, "sub-008.eaf", {"nod": [(None, 2000, "")]}), MAPPING)


def test_elan_labels_as_values_and_media_as_participant(tmp_path):
    path = eaf(tmp_path, "coder-a.eaf", {"behaviour": [(1000, 2000, "nod"),
                                                       (3000, 3500, " legs ")],
                                         "notes": [(0, 100, "free text")]})
    mapping = MAPPING.model_copy(update={"elan_behaviour_from": "value",
                                         "elan_tiers": ["behaviour"],
                                         "participant_id_from": "media"})
    table, pids = read_elan(path, mapping)
    assert pids == ["sub-009"]
    assert events(table) == [("sub-009", "nodding", 1.0, 2.0),
                             ("sub-009", "shaking legs", 3.0, 3.5)]


@pytest.mark.parametrize(("tiers", "durations", "message"), [
    ({"nod": [(1000, 3000, ""), (2000, 4000, "")]}, None,
     r"tier 'nod', annotation a2: 'nod' from 2.000 s overlaps the one at .*annotation a0"),
    ({"nod": [(1000, 13000, "")]}, {"sub-006": 12.0},
     r"annotation a0: 'nod' ends at 13.000 s, after the end of the 12.000 s video"),
    ({"wave": [(1000, 2000, "")]}, None, r"behaviour\(s\) \['wave'\] are not in the mapping"),
])
def test_elan_errors_name_tier_annotation_and_behaviour(tmp_path, tiers, durations, message):
    with pytest.raises(InputError, match=message):
        read_elan(eaf(tmp_path, "sub-006.eaf", tiers), MAPPING, durations)


def test_not_an_eaf(tmp_path):
    with pytest.raises(InputError, match="is not an ELAN .eaf file"):
        read_elan(write(tmp_path, "x.eaf", "<not xml"), MAPPING)


def test_read_codings_folder_and_participants_without_events(tmp_path):
    write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                       ("child", "nod", "STOP", 2.0)]))
    write(tmp_path, "sub-002.tsv", V8_HEADER + "\n")  # coded: nothing happened
    write_elan(tmp_path / "sub-003.eaf", pd.DataFrame(
        {"participant_id": ["x"], "action": ["legs"], "start_s": [1.0], "end_s": [2.0]}),
        tmp_path / "sub-003.mp4", ["nod", "legs"])
    got = read_codings([tmp_path], MAPPING)
    assert got.participants == ["sub-001", "sub-002", "sub-003"]
    assert events(got.events) == [("sub-001", "nodding", 1.0, 2.0),
                                  ("sub-003", "shaking legs", 1.0, 2.0)]
    (tmp_path / "more").mkdir()
    write(tmp_path / "more", "sub-001.tsv", V8_HEADER + "\n")
    with pytest.raises(InputError, match="participant sub-001 is coded in both"):
        read_codings([tmp_path, tmp_path / "more"], MAPPING)


def test_mapping_file(tmp_path):
    path = write(tmp_path, "m.yaml", "behaviours:\n  nod: nodding\n  smile: null\n"
                 "participant_subject: child\nunknown: warn\n")
    got = load_mapping(path, ["nodding", "shaking legs"])
    assert got.behaviours == {"nod": "nodding", "smile": None} and got.unknown == "warn"
    with pytest.raises(InputError, match=r"target\(s\) \['nodding'\] are not model classes"):
        load_mapping(path, ["shaking legs"])
    bad = write(tmp_path, "bad.yaml", "behaviours:\n  nod: nodding\nunknwon: warn\n")
    with pytest.raises(InputError, match="bad.yaml: unknwon: Extra inputs"):
        load_mapping(bad)
    with pytest.raises(InputError, match="does not match participant_id_pattern"):
        CodingMap(behaviours={"a": "b"}, participant_id_pattern=r"sub-\d+").participant_id(
            "visit 3", "f.tsv")


def test_boris_event_starting_before_the_video_is_refused(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", -1.0),
                                               ("child", "nod", "STOP", 2.0)]))
    with pytest.raises(InputError, match=r"sub-001\.tsv, lines 2-3: 'nod' starts before the "
                       r"video \(-1\.000 s\)"):
        read_boris(path, MAPPING)


def test_boris_time_offset_is_taken_off_every_time(tmp_path):
    # exported over the observed events: the observation duration is theirs (1.5 s)
    text = v8([("child", "nod", "START", 6.0), ("child", "nod", "STOP", 7.5)]).replace(
        "\t60.0\t", "\t1.5\t")
    assert text.count("sub-001.mp4\t0.0\t") == 2
    path = write(tmp_path, "sub-001.tsv", text.replace("sub-001.mp4\t0.0\t", "sub-001.mp4\t5\t"))
    assert events(read_boris(path, MAPPING)[0]) == [("sub-001", "nodding", 1.0, 2.5)]
    path.write_text(text.replace("sub-001.mp4\t0.0\t", "sub-001.mp4\t-2.5\t"))
    assert events(read_boris(path, MAPPING)[0]) == [("sub-001", "nodding", 8.5, 10.0)]
    # an offset that puts an event before the video's start is named like any such event
    path.write_text(text.replace("sub-001.mp4\t0.0\t", "sub-001.mp4\t6.5\t"))
    with pytest.raises(InputError, match=r"sub-001\.tsv, lines 2-3 \(times less the time offset, "
                                         r"6\.5 s\): 'nod' starts before the video"):
        read_boris(path, MAPPING)
    path.write_text(text.replace("sub-001.mp4\t0.0\t", "sub-001.mp4\tlate\t"))
    with pytest.raises(InputError, match=r"sub-001\.tsv, line 2: time offset 'late' is not a "
                                         "number of seconds"):
        read_boris(path, MAPPING)
    aggregated = ("Observation id\tTime offset (s)\tSubject\tBehavior\tBehavior type\t"
                  "Start (s)\tStop (s)\nsub-001\t10\tchild\tnod\tSTATE\t12.0\t13.0\n")
    path.write_text(aggregated)
    assert events(read_boris(path, MAPPING)[0]) == [("sub-001", "nodding", 2.0, 3.0)]


def test_coding_folder_skips_hidden_files_and_reads_upper_case_suffixes(tmp_path):
    write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                       ("child", "nod", "STOP", 2.0)]))
    write(tmp_path, "._sub-001.tsv", "\x00\x05\x16\x07 macOS resource fork")
    write(tmp_path, ".sub-009.tsv", V8_HEADER + "\n")
    write(tmp_path, "sub-002.TSV", V8_HEADER + "\n")
    write_elan(tmp_path / "sub-003.EAF", pd.DataFrame(
        {"participant_id": ["x"], "action": ["legs"], "start_s": [1.0], "end_s": [2.0]}),
        tmp_path / "sub-003.mp4", ["nod", "legs"])
    write(tmp_path, "notes.txt", "not a coding")
    got = read_codings([tmp_path], MAPPING)
    assert got.participants == ["sub-001", "sub-002", "sub-003"]
    assert events(got.events) == [("sub-001", "nodding", 1.0, 2.0),
                                  ("sub-003", "shaking legs", 1.0, 2.0)]


def test_the_same_coding_file_given_twice_is_named_as_such(tmp_path):
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                              ("child", "nod", "STOP", 2.0)]))
    file_mapping = CodingMap(behaviours=MAPPING.behaviours, participant_subject="child",
                             other_subjects=["interviewer"], participant_id_from="file")
    for sources in ([tmp_path, tmp_path], [path, tmp_path], [path, tmp_path / "." / path.name]):
        for mapping in (MAPPING, file_mapping):
            with pytest.raises(InputError, match=r"coding file .*sub-001\.tsv is given twice "
                               r"\(from .* and from .*\): give each file or folder once"):
                read_codings(sources, mapping)


# Files as BORIS and ELAN write them, by hand (tests/analysis/fixtures/codings_real), and
# what coders do to them: re-save in a spreadsheet, export another format.
REAL = Path(__file__).parent / "fixtures" / "codings_real"


def test_boris7_aggregated_observation_of_two_videos_is_refused():
    """BORIS 7 names each row's video; times run on from one video into the next."""
    with pytest.raises(InputError, match=r"two_media.tsv, line 4: observation 'sub-011 visit "
                       r"1' has several media files \(C:\\videos\\sub-011_part1.mp4, "
                       r"C:\\videos\\sub-011_part2.mp4; .*code one video per observation"):
        read_boris(REAL / "boris7_aggregated_two_media.tsv", MAPPING)


def test_boris8_live_observation_has_no_media():
    path = REAL / "boris8_live_observation.tsv"
    assert events(read_boris(path, MAPPING)[0]) == [("boris8_live_observation", "nodding",
                                                     12.104, 14.9)]
    with pytest.raises(InputError, match=r"live_observation.tsv: observation 'sub-017 live' "
                       "names no media file .*use file or observation"):
        read_boris(path, MAPPING.model_copy(update={"participant_id_from": "media"}))


# Made by BORIS 8.27.4 itself (fixtures/codings_real/README.md says how).
REAL_MAPPING = CodingMap(
    behaviours={"nodding": "nodding", "shaking legs": "shaking legs", "smile": "smiling",
                "looking away": None},
    participant_subject="child", other_subjects=["interviewer", "No focal subject"],
    participant_id_from="observation", point_duration_s=0.5)
SUB_002 = [("sub-002", "nodding", 1.0, 2.5), ("sub-002", "shaking legs", 4.5, 9.0),
           ("sub-002", "smiling", 7.0, 7.5), ("sub-002", "smiling", 8.0, 8.5)]


def test_boris8_27_export_of_the_review_project_reads_back_to_the_model_events():
    table, pids = read_boris(REAL / "boris8_review_export.tsv", REAL_MAPPING, {"sub-001": 12.0})
    assert pids == ["sub-001"]
    assert events(table) == [("sub-001", "nodding", 1.0, 2.5),
                             ("sub-001", "shaking legs", 4.0, 6.2),
                             ("sub-001", "nodding", 8.0, 9.0)]


def test_boris8_27_offset_modifiers_points_and_two_subjects():
    """Times less the 5-s offset; START/STOP paired by modifiers; POINTs given the mapping's
    length; the interviewer and the no-subject events left out; a row whose time with the
    offset lies past the video names its media `Not found`."""
    path = REAL / "boris8_offset_modifiers_points.tsv"
    for by in ("observation", "media"):
        mapping = REAL_MAPPING.model_copy(update={"participant_id_from": by})
        table, pids = read_boris(path, mapping, {"sub-002": 12.0})
        assert pids == ["sub-002"] and events(table) == SUB_002


def test_boris8_27_aggregated_workbook_of_two_observations():
    table, pids = read_boris(REAL / "boris8_aggregated_two_observations.xlsx", REAL_MAPPING,
                             {"sub-002": 12.0, "sub-003": 20.0})
    assert pids == ["sub-002", "sub-003"]
    assert events(table) == SUB_002 + [("sub-003", "nodding", 1.0, 2.0),
                                       ("sub-003", "nodding", 3.0, 4.0),
                                       ("sub-003", "smiling", 5.0, 5.5)]


@pytest.mark.parametrize("name", ["boris8_aggregated_media_duration_offset.tsv",
                                  "boris8_tabular_media_duration_offset.tsv"])
def test_boris8_export_over_the_media_duration_with_an_offset_is_refused(name):
    """BORIS 8 cuts such an export at the media's duration with the offset added: shaking
    legs read 4.5-7.0 s and the second smile was lost (aggregated), or the STOP was lost."""
    with pytest.raises(InputError, match=rf"{name}: observation 'sub-002' has a time offset "
                       r"\(5 s\) and was exported over the media file's duration \(12.000 s\)"
                       r".*video's last 5 s is left out or cut short; export it again with "
                       "the time interval 'Observed events'$"):
        read_boris(REAL / name, REAL_MAPPING, {"sub-002": 12.0, "sub-003": 20.0})


def test_boris8_offset_refusal_needs_the_media_duration_as_span_and_every_time_within_it(
        tmp_path):
    text = v8([("child", "nod", "START", 0.5), ("child", "nod", "STOP", 7.5)])
    negative = text.replace("sub-001.mp4\t0.0\t", "sub-001.mp4\t-0.5\t")
    with pytest.raises(InputError, match=r"sub-001.tsv: observation 'sub-001' has a time "
                       r"offset \(-0.5 s\) .* video's first 0.5 s is left out"):
        read_boris(write(tmp_path, "sub-001.tsv", negative), MAPPING)
    # no offset, or the span of the observed events: read
    assert events(read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)[0]) == [
        ("sub-001", "nodding", 0.5, 7.5)]
    observed = negative.replace("\t60.0\t", "\t7.0\t")
    assert events(read_boris(write(tmp_path, "sub-001.tsv", observed), MAPPING)[0]) == [
        ("sub-001", "nodding", 1.0, 8.0)]
    # over the observed events, a state from the video's start to its end (here the
    # interviewer's) has the media's duration as span, but its STOP with the offset lies past it
    state = v8([("interviewer", "nod", "START", 5.0), ("child", "nod", "START", 6.0),
                ("child", "nod", "STOP", 7.0), ("interviewer", "nod", "STOP", 65.0)]).replace(
        "sub-001.mp4\t0.0\t", "sub-001.mp4\t5\t")
    assert events(read_boris(write(tmp_path, "sub-001.tsv", state), MAPPING)[0]) == [
        ("sub-001", "nodding", 1.0, 2.0)]


def test_boris8_offset_refusal_at_its_bounds_and_in_the_aggregated_layout(tmp_path):
    def offset(text: str, seconds: str) -> str:
        return text.replace("sub-001.mp4\t0.0\t", f"sub-001.mp4\t{seconds}\t")

    # over the observed events: a span 0.3 s short of the media's duration, or a time before
    # 0 (the interviewer's START, with a negative offset), is read
    short = v8([("child", "nod", "START", 0.3), ("child", "nod", "STOP", 60.0)])
    assert events(read_boris(write(tmp_path, "sub-001.tsv", offset(short, "0.3").replace(
        "\t60.0\t", "\t59.7\t")), MAPPING)[0]) == [("sub-001", "nodding", 0.0, 59.7)]
    early = v8([("interviewer", "nod", "START", -0.5), ("child", "nod", "START", 1.0),
                ("child", "nod", "STOP", 2.0), ("interviewer", "nod", "STOP", 59.5)])
    assert events(read_boris(write(tmp_path, "sub-001.tsv", offset(early, "-0.5")),
                             MAPPING)[0]) == [("sub-001", "nodding", 1.5, 2.5)]
    # over the media's duration, a state BORIS cut at 0 is refused
    cut = v8([("child", "nod", "START", 0.0), ("child", "nod", "STOP", 7.5)])
    with pytest.raises(InputError, match=r"observation 'sub-001' has a time offset \(-0.5 s\)"):
        read_boris(write(tmp_path, "sub-001.tsv", offset(cut, "-0.5")), MAPPING)
    # aggregated, over the observed events: the interviewer's Stop past the media's duration
    # (or, with a negative offset, Start before 0) tells
    head = ("Observation id\tTime offset (s)\tCoding duration\tMedia duration (s)\tSubject\t"
            "Behavior\tBehavior type\tStart (s)\tStop (s)\n")
    for shift, (start, stop), read in (("5", (5.0, 65.0), (1.0, 2.0)),
                                       ("-0.5", (-0.5, 59.5), (1.5, 2.5))):
        text = head + "".join(f"sub-001\t{shift}\t60.000\t60.000\t{who}\tnod\tSTATE\t"
                              f"{a:.3f}\t{b:.3f}\n"
                              for who, a, b in (("interviewer", start, stop),
                                                ("child", 6.0, 7.0) if shift == "5" else
                                                ("child", 1.0, 2.0)))
        assert events(read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)[0]) == [
            ("sub-001", "nodding", *read)], shift


def test_boris8_live_observation_with_a_time_offset_is_read(tmp_path):
    """A live observation has no media duration (NA), so nothing to have been cut at."""
    text = (REAL / "boris8_live_observation.tsv").read_text()
    assert text.count("\t0.0\tNA\t") == 2 and text.count("\t95.212\t") == 2
    with_offset = text.replace("\t0.0\tNA\t", "\t2.0\tNA\t")
    for span in ("95.212", "NA"):
        path = write(tmp_path, "sub-017.tsv", with_offset.replace("\t95.212\t", f"\t{span}\t"))
        assert events(read_boris(path, MAPPING)[0]) == [("sub-017", "nodding", 10.104, 12.9)]


def test_boris8_event_outside_every_video_is_not_a_second_video(tmp_path):
    text = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.0)])
    lines = text.splitlines()
    lines[2] = lines[2].replace("\t/v/sub-001.mp4\t", "\tNot found\t")
    path = write(tmp_path, "sub-001.tsv", "\n".join(lines) + "\n")
    assert events(read_boris(path, MAPPING)[0]) == [("sub-001", "nodding", 1.0, 2.0)]


def test_boris_bom_crlf_quoted_csv_non_ascii_and_resaved_copies(tmp_path):
    rows = [("child", "Kopfnicken", "START", 1.0), ("child", "Kopfnicken", "STOP", 2.125)]
    text = v8(rows).replace("\t", ",")
    mapping = MAPPING.model_copy(update={"behaviours": {"Kopfnicken": "nodding"}})
    path = tmp_path / "sub-001.csv"
    path.write_bytes(text.replace("Kopfnicken", '"Kopfnicken"').replace("\n", "\r\n")
                     .encode("utf-8-sig"))
    assert events(read_boris(path, mapping)[0]) == [("sub-001", "nodding", 1.0, 2.125)]
    path.write_bytes(text.replace("Kopfnicken", "Kopfnicken é").encode("cp1252"))
    with pytest.raises(InputError, match=r"^BORIS export .*sub-001.csv: line 2, column 109: "
                       "byte 0xe9 is not UTF-8 text; export it again from BORIS"):
        read_boris(path, mapping)
    path.write_text(text.replace(",", ";"))
    with pytest.raises(InputError, match=r"separated by ';' \(saved by a spreadsheet\?\)"):
        read_boris(path, mapping)


def test_boris_ods_and_xls_exports_are_refused_also_in_a_folder(tmp_path):
    write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                       ("child", "nod", "STOP", 2.0)]))
    (tmp_path / "sub-002.ods").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    with pytest.raises(InputError, match=r"sub-002.ods: BORIS's .ods export is not read; "
                       "export the events again as TSV, CSV or XLSX"):
        read_codings([tmp_path], MAPPING)
    with pytest.raises(InputError, match=r"sub-003.xls: BORIS's .xls export is not read"):
        read_boris(write(tmp_path, "sub-003.xls", "not read"), MAPPING)


def test_boris_project_files_are_refused_also_in_a_folder(tmp_path):
    """A coder who sends back the corrected review project (`.boris`, or `.boris.gz` as
    BORIS saves it compressed) instead of an export: named, not skipped unseen."""
    write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                       ("child", "nod", "STOP", 2.0)]))
    write(tmp_path, "sub-002.boris", '{"project_format_version": "7.0", "observations": {}}')
    with pytest.raises(InputError, match=r"sub-002.boris: a BORIS project file is not read; "
                       "open it in BORIS, export the events"):
        read_codings([tmp_path], MAPPING)
    (tmp_path / "sub-002.boris").unlink()
    (tmp_path / "sub-003.BORIS.gz").write_bytes(b"\x1f\x8b\x08\x00")
    with pytest.raises(InputError, match=r"sub-003.BORIS.gz: a BORIS project file"):
        read_codings([tmp_path], MAPPING)


def typed(cell: str) -> object:
    """A TSV cell as BORIS's spreadsheet export types it: numbers as numbers, dates as dates."""
    try:
        return float(cell)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(cell)
    except ValueError:
        return cell or None


def workbook(tmp_path: Path, name: str, sheets: dict[str, str]) -> Path:
    """An `.xlsx` with one sheet per TSV text, cells typed as BORIS writes them."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, text in sheets.items():
        sheet = book.create_sheet(title)
        for line in text.splitlines():
            sheet.append([typed(c) for c in line.split("\t")])
    path = tmp_path / name
    book.save(path)
    return path


def test_boris_xlsx_reads_as_its_tsv_export(tmp_path):
    rows = [("child", "nod", "START", 1.0), ("interviewer", "nod", "START", 1.5),
            ("child", "smile", "POINT", 2.0), ("child", "nod", "STOP", 2.5),
            ("child", "legs", "START", 3.0), ("child", "legs", "STOP", 5.25)]
    tsv = read_boris(write(tmp_path, "sub-001.tsv", v8(rows)), MAPPING)
    xlsx = read_boris(workbook(tmp_path, "sub-001.xlsx", {"sub-001": v8(rows)}), MAPPING)
    assert events(xlsx[0]) == events(tsv[0]) == [("sub-001", "nodding", 1.0, 2.5),
                                                 ("sub-001", "shaking legs", 3.0, 5.25)]
    assert xlsx[1] == tsv[1] == ["sub-001"]


def test_boris_xlsx_every_sheet_is_an_observation_and_errors_name_sheet_and_row(tmp_path):
    header = "Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)\n"
    mapping = CodingMap(behaviours={"nod": "nodding"}, participant_subject="1",
                        participant_id_from="observation", participant_id_pattern=r"sub-\d+")
    path = workbook(tmp_path, "all.xlsx", {
        "sub-001": header + "sub-001\t1\tnod\tSTATE\t1\t2.5\n",  # subject 1 typed a number
        "sub-002": header + "sub-002\t1\tnod\tSTATE\t4\t6\n"})
    table, pids = read_boris(path, mapping)
    assert pids == ["sub-001", "sub-002"]
    assert events(table) == [("sub-001", "nodding", 1.0, 2.5), ("sub-002", "nodding", 4.0, 6.0)]
    bad = workbook(tmp_path, "bad.xlsx", {
        "sub-001": header + "sub-001\t1\tnod\tSTATE\t1\t2.5\n",
        "sub-002": header + "\nsub-002\t1\tnod\tSTATE\tsoon\t6\n"})
    with pytest.raises(InputError, match=r"bad.xlsx, sheet 'sub-002', row 3: time 'soon' is "
                                         "not a number of seconds"):
        read_boris(bad, mapping)
    tabular = workbook(tmp_path, "open.xlsx", {"sub-001": v8([("child", "nod", "START", 1.0)])})
    with pytest.raises(InputError, match=r"open.xlsx, sheet 'sub-001', row 2: START of 'nod' "
                                         "has no STOP"):
        read_boris(tabular, MAPPING)


def test_boris_xlsx_that_is_not_a_workbook_is_named(tmp_path):
    (tmp_path / "sub-002.xlsx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    with pytest.raises(InputError, match=r"sub-002.xlsx: not a readable .xlsx workbook"):
        read_codings([tmp_path], MAPPING)


ELAN_MAPPING = CodingMap(behaviours={"Kopfnicken": "nodding", "Beine schütteln": "shaking legs"},
                         other_subjects=["interviewer"], elan_behaviour_from="value",
                         participant_id_from="media", participant_id_pattern=r"sub-\d+")


def test_elan_association_tier_of_cv_labels_audio_first_and_time_origin():
    """Labels on a symbolic-association tier (from a controlled vocabulary) under unlabelled
    segments; the extracted audio linked before the video; the video's time origin of 2 s is
    added; the interviewer's tier (PARTICIPANT) is left out; a symbolic-subdivision tier of
    words is not read."""
    table, pids = read_elan(REAL / "elan_association_cv.eaf", ELAN_MAPPING)
    assert pids == ["sub-050"]
    assert events(table) == [("sub-050", "nodding", 3.0, 4.48),
                             ("sub-050", "shaking legs", 6.0, 7.25)]
    only = ELAN_MAPPING.model_copy(update={"elan_tiers": ["Child behaviour"]})
    assert events(read_elan(REAL / "elan_association_cv.eaf", only)[0]) == events(table)
    words = ELAN_MAPPING.model_copy(update={"elan_tiers": ["Child words"]})
    with pytest.raises(InputError, match=r"tier 'Child words' named in elan_tiers is a "
                       "symbolic subdivision tier"):
        read_elan(REAL / "elan_association_cv.eaf", words)
    both = ELAN_MAPPING.model_copy(update={"other_subjects": []})
    with pytest.raises(InputError, match=r"tiers read belong to several participants "
                       r"\(\['child', 'interviewer'\]\); name the participant's tiers"):
        read_elan(REAL / "elan_association_cv.eaf", both)


def test_elan_value_mode_empty_label_names_the_annotation(tmp_path):
    path = eaf(tmp_path, "sub-006.eaf", {"behaviour": [(1000, 2000, "nod"), (3000, 4000, "")]})
    with pytest.raises(InputError, match=r"tier 'behaviour', annotation a2: empty annotation "
                       "value, so no behaviour"):
        read_elan(path, MAPPING.model_copy(update={"elan_behaviour_from": "value"}))


def test_elan_files_as_older_elan_and_other_tools_write_them(tmp_path):
    text = eaf(tmp_path, "sub-006.eaf", {"nod": [(1000, 2000, "")]}).read_text()
    old = text.replace('MEDIA_URL="file:///videos/sub-009.mp4"',
                       'MEDIA_URL="file:/C:\\videos\\sub-009.mp4"').replace("3.0", "2.7")
    mapping = MAPPING.model_copy(update={"participant_id_from": "media"})
    assert read_elan(write(tmp_path, "a.eaf", old), mapping)[1] == ["sub-009"]
    bare = text.replace(' xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/'
                        'EAFv3.0.xsd"', "")
    with pytest.raises(InputError, match=r"b.eaf: the root element lacks "
                       "xsi:noNamespaceSchemaLocation, which ELAN writes"):
        read_elan(write(tmp_path, "b.eaf", bare), MAPPING)
    two = text.replace('MIME_TYPE="video/mp4"/>', 'MIME_TYPE="video/mp4" TIME_ORIGIN="500"/>'
                       '<MEDIA_DESCRIPTOR MEDIA_URL="file:///videos/side.mp4" '
                       'MIME_TYPE="video/mp4"/>')
    with pytest.raises(InputError, match=r"c.eaf: the linked videos have different time "
                       r"origins \(ms: \{'sub-009': '500', 'side': '0'\}\)"):
        read_elan(write(tmp_path, "c.eaf", two), MAPPING)


def test_event_checks_at_their_edges():
    ev = lambda b, s, e: CodedEvent("sub-001", b, s, e, f"f.tsv line {int(s)}")  # noqa: E731
    # From the video's very start, to 0.05 s past its end (within END_TOLERANCE_S): kept.
    check_events([ev("nod", 0.0, 1.0), ev("nod", 1.0, 60.05)], 60.0)
    with pytest.raises(InputError, match=r"f.tsv line 1: 'nod' ends at 60.150 s, after the end "
                       r"of the 60.000 s video \(a coding of another video\?\)"):
        check_events([ev("nod", 1.0, 60.15)], 60.0)
    with pytest.raises(InputError, match=r"f.tsv line 2: 'nod' from 2.000 s overlaps the one at "
                       r"f.tsv line 1 \(1.000-3.000 s\)"):
        check_events([ev("nod", 1.0, 3.0), ev("nod", 2.0, 4.0)], None)
    # Behaviours mapped to null are left out; touching events of one class merge.
    table = to_table([ev("nod", 0.0, 1.0), ev("smile", 0.5, 2.0), ev("head nod", 1.0, 2.0)],
                     {"nod": "nodding", "head nod": "nodding", "smile": None})
    assert events(table) == [("sub-001", "nodding", 0.0, 2.0)]


@pytest.mark.parametrize(("text", "message"), [
    ("behaviours:\n  nod: null\n", "m.yaml: behaviours: Value error, maps no behaviour onto a "
     "model class"),
    ("behaviours:\n  nod: nodding\n  smile: ' '\n", "m.yaml: behaviours: Value error, "
     "'smile' maps onto an empty class name; name a model class, or null to leave it out"),
    ("behaviours:\n  nod: nodding\nparticipant_id_pattern: '(sub-'\n",
     "m.yaml: participant_id_pattern: Value error, not a regular expression"),
    ("behaviours:\n  nod: nodding\npoint_duration_s: 0\n",
     "m.yaml: point_duration_s: Input should be greater than 0"),
    ("behaviours:\n  nod: nodding\nunknown: ignore\n", "m.yaml: unknown: Input should be"),
    ("- nod\n", "m.yaml: expected a mapping with a `behaviours:` key"),
    ("", "m.yaml: expected a mapping with a `behaviours:` key"),
    # PyYAML's own message spans lines and names "<unicode string>", not the file
    ("behaviours: [\n", "m.yaml is not valid YAML (line 2, column 1: expected the node "
     "content, but found '<stream end>')"),
    ("behaviours:\n  nod: caf\xe9\n", "m.yaml: line 2, column 11: byte 0xe9 is not UTF-8 "
     "text; save the file as UTF-8"),
    ("behaviours: " + "[" * 2000 + "]" * 2000 + "\n", "m.yaml: lists or mappings nested too "
     "deeply to read"),  # was a RecursionError from PyYAML
    ("behaviours:\n  nod: nodding\n  1: shaking legs\n", "m.yaml: behaviours: the behaviour 1 "
     "is not text (YAML reads unquoted digits as numbers and yes/no/on/off as true/false); put "
     "it in quotes, e.g. '1': nodding"),
    ("behaviours:\n  yes: nodding\n", "behaviours: the behaviour True is not text"),
    ("behaviours:\n  nod: off\n", "behaviours: the class False is not text"),
    ("behaviours:\n  nod: 2.5\n", "behaviours: the class 2.5 is not text"),
    # PyYAML keeps the last of two equal keys: nod would silently not be compared
    ("behaviours:\n  nod: nodding\n  legs: shaking legs\n  nod: null\n",
     "m.yaml, line 4: 'nod' is given twice (also on line 2); YAML would keep only the last"),
    ("behaviours:\n  nod: nodding\nunknown: warn\nunknown: error\n",
     "m.yaml, line 4: 'unknown' is given twice (also on line 3)"),
    ("behaviours: {nod: nodding, nod: null}\n", "m.yaml, line 1: 'nod' is given twice"),
])
def test_mapping_file_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode("latin-1" if "\xe9" in text else "utf-8"))
    with pytest.raises(InputError) as err:
        load_mapping(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_quoted_number_is_a_behaviour_code(tmp_path):
    path = write(tmp_path, "m.yaml", "behaviours:\n  '1': nodding\n  \"yes\": null\n")
    assert load_mapping(path).behaviours == {"1": "nodding", "yes": None}


def test_participant_id_is_the_patterns_group_or_match():
    grouped = CodingMap(behaviours={"a": "b"}, participant_id_pattern=r"(sub-\d+)_ses")
    assert grouped.participant_id("x_sub-007_ses-1", "f") == "sub-007"
    whole = CodingMap(behaviours={"a": "b"}, participant_id_pattern=r"sub-\d+")
    assert whole.participant_id("x_sub-007_ses-1", "f") == "sub-007"
    assert CodingMap(behaviours={"a": "b"}).participant_id("x_sub-007", "f") == "x_sub-007"
    with pytest.raises(InputError, match=r"f.tsv: behaviour\(s\) \['wave'\] are not in the "
                       "mapping file"):
        grouped.known({"a", "wave"}, "f.tsv")
    assert CodingMap(behaviours={"a": "b"}, unknown="warn").known({"a", "wave"}, "f") == {"a"}


# Audit (mutation testing): rows, cells and columns the readers must get right.

def test_boris_blank_and_padded_rows_and_no_subject_as_another_subject(tmp_path):
    # a blank and a whitespace-only line are no rows; padded cells read as their text
    text = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.0)]).splitlines()
    text[2] = text[2].replace("\tchild\t", "\t child \t")
    path = write(tmp_path, "sub-001.tsv", "\n".join([text[0], text[1], "", "\t \t", text[2]])
                 + "\n\n")
    assert events(read_boris(path, MAPPING)[0]) == [("sub-001", "nodding", 1.0, 2.0)]
    # events coded without a subject, either spelling, left out as other_subjects says
    unsubjected = write(tmp_path, "sub-002.tsv", v8([
        ("", "nod", "START", 1.0), ("No focal subject", "nod", "STOP", 2.0),
        ("child", "legs", "START", 3.0), ("child", "legs", "STOP", 4.0)]))
    mapping = MAPPING.model_copy(update={"other_subjects": ["No focal subject"]})
    assert events(read_boris(unsubjected, mapping)[0]) == [("sub-002", "shaking legs", 3.0, 4.0)]


@pytest.mark.parametrize(("change", "message"), [
    (("\t1.000\t", "\tinf\t"), r"sub-001.tsv, line 2: time 'inf' is not a number of seconds"),
    (("\t60.000\t", "\t60.000;45.000\t"),
     r"sub-001.tsv, line 2: an observation with several media files \(60.000;45.000\)"),
    (("\t60.000\t", "\t60.000|45.000\t"), r"several media files \(60.000\|45.000\)"),
    (("\tSTART\t", "\tPAUSE\t"),
     r"sub-001.tsv, line 2: Behavior type 'PAUSE' of 'nod' is not START, STOP or POINT"),
    (("Behavior type", "Kind"), r"sub-001.tsv: header lacks Status or Behavior type"),
])
def test_boris_refuses_cells_it_cannot_read(tmp_path, change, message):
    text = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.0)])
    with pytest.raises(InputError, match=message):
        read_boris(write(tmp_path, "sub-001.tsv", text.replace(*change, 1)), MAPPING)


def test_boris_older_layout_time_offset_and_observation_id_above_the_header(tmp_path):
    text = ("Observation id\tsub-012 visit 2\n\nObservation date\t2019-03-01\n\n"
            "Time offset (s)\t2.500\n\n"
            "Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
            "4.000\t/v/a.mp4\t30.00\t25.0\tchild\tnod\t\tSTART\n"
            "6.500\t/v/a.mp4\t30.00\t25.0\tchild\tnod\t\tSTOP\n"
            "7.000\t/v/a.mp4\t30.00\t25.0\tchild\tnod\t\tSTART\n"
            "1.000\t/v/a.mp4\t30.00\t25.0\tchild\tnod\t\tSTOP\n")
    mapping = BY_OBSERVATION
    path = write(tmp_path, "export.tsv", text)
    with pytest.raises(InputError, match=r"export.tsv, lines 10-11 \(times less the time "
                       r"offset, 2.5 s\): 'nod' ends at -1.500 s, not after its start at 4.500"):
        read_boris(path, mapping)
    path.write_text(text.rsplit("7.000", 1)[0])
    table, pids = read_boris(path, mapping)
    assert pids == ["sub-012"] and events(table) == [("sub-012", "nodding", 1.5, 4.0)]


def test_boris_modifiers_pair_their_own_start_and_stop(tmp_path):
    """Each modifier's START pairs with its STOP; two at once of one behaviour overlap."""
    text = ("Observation id\tSubject\tBehavior\tModifier #1\tBehavior type\tTime\n"
            "sub-001\tchild\tnod\tleft\tSTART\t1.0\n"
            "sub-001\tchild\tnod\tright\tSTART\t2.0\n"
            "sub-001\tchild\tnod\tleft\tSTOP\t3.0\n"
            "sub-001\tchild\tnod\tright\tSTOP\t4.0\n")
    with pytest.raises(InputError, match=r"lines 3-5: 'nod' from 2.000 s overlaps the one at "
                       r".*sub-001.tsv, lines 2-4 \(1.000-3.000 s\)"):
        read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)


def test_boris_point_is_cut_by_its_own_behaviours_events_only(tmp_path):
    mapping = MAPPING.model_copy(update={"point_duration_s": 1.0})
    # the next event of nod, a state event at 5.5 s, cuts the point; legs at 10.5 s does not
    path = write(tmp_path, "sub-001.tsv", v8([
        ("child", "nod", "POINT", 5.0), ("child", "nod", "START", 5.5),
        ("child", "nod", "STOP", 7.0), ("child", "nod", "POINT", 10.0),
        ("child", "legs", "START", 10.5), ("child", "legs", "STOP", 12.0)]))
    assert events(read_boris(path, mapping)[0]) == [("sub-001", "nodding", 5.0, 7.0),
                                                    ("sub-001", "nodding", 10.0, 11.0),
                                                    ("sub-001", "shaking legs", 10.5, 12.0)]


def test_boris_xlsx_blank_rows_and_empty_sheets_are_skipped(tmp_path):
    rows = v8([("child", "nod", "START", 1.0), ("child", "nod", "STOP", 2.0)]).splitlines()
    path = workbook(tmp_path, "sub-001.xlsx", {"notes": "", "sub-001": "\n".join(
        [rows[0], rows[1], "", rows[2]])})
    table, pids = read_boris(path, MAPPING)
    assert pids == ["sub-001"] and events(table) == [("sub-001", "nodding", 1.0, 2.0)]



def test_boris_aggregated_event_before_the_video_names_the_time_offset(tmp_path):
    text = ("Observation id\tTime offset (s)\tSubject\tBehavior\tBehavior type\t"
            "Start (s)\tStop (s)\nsub-001\t10\tchild\tnod\tSTATE\t9.0\t13.0\n")
    with pytest.raises(InputError, match=r"sub-001.tsv, line 2 \(times less the time offset, "
                       r"10 s\): 'nod' starts before the video \(-1.000 s\)"):
        read_boris(write(tmp_path, "sub-001.tsv", text), MAPPING)


def test_elan_file_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(InputError, match=r"ELAN file .*sub-001.eaf does not exist"):
        read_elan(tmp_path / "sub-001.eaf", MAPPING)


def test_elan_participant_from_a_media_url_an_audio_only_link_or_none(tmp_path):
    text = eaf(tmp_path, "coder-a.eaf", {"nod": [(1000, 2000, "")]}).read_text()
    mapping = MAPPING.model_copy(update={"participant_id_from": "media"})
    spaced = text.replace("file:///videos/sub-009.mp4", "file:///my%20videos/child%20009.mp4")
    assert read_elan(write(tmp_path, "a.eaf", spaced), mapping)[1] == ["child 009"]
    audio = text.replace('MEDIA_URL="file:///videos/sub-009.mp4" MIME_TYPE="video/mp4"',
                         'MEDIA_URL="file:///videos/sub-010.wav" MIME_TYPE="audio/x-wav"')
    table, pids = read_elan(write(tmp_path, "b.eaf", audio), mapping)
    assert pids == ["sub-010"] and events(table) == [("sub-010", "nodding", 1.0, 2.0)]
    bare = text.replace('<MEDIA_DESCRIPTOR MEDIA_URL="file:///videos/sub-009.mp4" '
                        'MIME_TYPE="video/mp4"/>', "")
    with pytest.raises(InputError, match=r"c.eaf: participant_id_from is media, but the file "
                       "links no media"):
        read_elan(write(tmp_path, "c.eaf", bare), mapping)
    assert read_elan(write(tmp_path, "sub-011.eaf", bare), MAPPING)[1] == ["sub-011"]


def test_elan_label_on_a_label_takes_its_grandparents_times(tmp_path):
    """An association tier on an association tier: its label's times are those of the
    time-aligned annotation two levels up (a4 -> a2, 4.000-5.250 s, plus the 2-s origin)."""
    text = (REAL / "elan_association_cv.eaf").read_text(encoding="utf-8").replace(
        '    <TIER LINGUISTIC_TYPE_REF="words"',
        '    <TIER LINGUISTIC_TYPE_REF="behaviour-cv" PARENT_REF="Child behaviour" '
        'PARTICIPANT="child" TIER_ID="Child code"><ANNOTATION><REF_ANNOTATION '
        'ANNOTATION_ID="a9" ANNOTATION_REF="a4"><ANNOTATION_VALUE>Beine schütteln'
        '</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION></TIER>\n'
        '    <TIER LINGUISTIC_TYPE_REF="words"', 1)
    path = tmp_path / "coder-b.eaf"
    path.write_text(text, encoding="utf-8")
    code = ELAN_MAPPING.model_copy(update={"elan_tiers": ["Child code"]})
    assert events(read_elan(path, code)[0]) == [("sub-050", "shaking legs", 6.0, 7.25)]


@pytest.mark.parametrize(("update", "message"), [
    ({"participant_id_from": "observation"},
     r"sub-006.eaf: ELAN files have no observation id; set participant_id_from to file or "
     "media"),
    ({"elan_tiers": ["nod", "Nod", "legs"]},
     r"sub-006.eaf: tier\(s\) \['Nod', 'legs'\] named in elan_tiers are not in the file "
     r"\(its tiers: \['nod', 'smile'\]\)"),
])
def test_elan_mapping_the_file_cannot_satisfy_is_named(tmp_path, update, message):
    path = eaf(tmp_path, "sub-006.eaf", {"nod": [(1000, 2000, "")], "smile": [(0, 500, "")]})
    with pytest.raises(InputError, match=message):
        read_elan(path, MAPPING.model_copy(update=update))


def test_elan_association_tier_by_tier_name_and_tiers_named_over_other_subjects():
    path = REAL / "elan_association_cv.eaf"
    # one tier per behaviour: the association tier the mapping lists is read, with its
    # parents' times (a1: 1.000-2.480 s, a2: 4.000-5.250 s, plus the 2-s time origin)
    by_tier = ELAN_MAPPING.model_copy(update={
        "elan_behaviour_from": "tier",
        "behaviours": {"Child behaviour": "nodding", "Child events": None}})
    assert events(read_elan(path, by_tier)[0]) == [("sub-050", "nodding", 3.0, 4.48),
                                                   ("sub-050", "nodding", 6.0, 7.25)]
    # named in elan_tiers but not listed: an unknown behaviour, not a subdivision tier
    unlisted = by_tier.model_copy(update={"behaviours": {"Child events": "nodding"},
                                          "elan_tiers": ["Child behaviour"]})
    with pytest.raises(InputError, match=r"behaviour\(s\) \['Child behaviour'\] are not in "
                       "the mapping file"):
        read_elan(path, unlisted)
    # tiers named in elan_tiers are read whatever their PARTICIPANT (a5: 6.000-7.000 s)
    named = ELAN_MAPPING.model_copy(update={"elan_tiers": ["Child behaviour",
                                                           "Interviewer behaviour"]})
    assert events(read_elan(path, named)[0]) == [("sub-050", "nodding", 3.0, 4.48),
                                                 ("sub-050", "shaking legs", 6.0, 7.25),
                                                 ("sub-050", "nodding", 8.0, 9.0)]


def test_elan_behaviours_mapped_to_null_are_not_checked(tmp_path):
    """Left out unread: a null behaviour's overlap or end past the video is no error."""
    path = eaf(tmp_path, "sub-006.eaf", {"behaviour": [
        (1000, 3000, "smile"), (2000, 14000, "smile"), (4000, 5000, "nod")]})
    mapping = MAPPING.model_copy(update={"elan_behaviour_from": "value"})
    table, _ = read_elan(path, mapping, {"sub-006": 12.0})
    assert events(table) == [("sub-006", "nodding", 4.0, 5.0)]


def test_elan_unlabelled_segments_read_without_their_labels_are_refused():
    only = ELAN_MAPPING.model_copy(update={"elan_tiers": ["Child events"]})
    with pytest.raises(InputError, match=r"tier 'Child events', annotation a1: empty "
                       "annotation value, so no behaviour"):
        read_elan(REAL / "elan_association_cv.eaf", only)


def test_events_in_any_order_and_ending_at_the_tolerance_are_kept(tmp_path):
    # ELAN numbers annotations as they are made, not in time order
    path = eaf(tmp_path, "sub-005.eaf", {"nod": [(5000, 6000, ""), (1000, 2000, "")]})
    assert events(read_elan(path, MAPPING)[0]) == [("sub-005", "nodding", 1.0, 2.0),
                                                   ("sub-005", "nodding", 5.0, 6.0)]
    # ends exactly END_TOLERANCE_S (0.1 s) past a 60-s video: kept; "more than 0.1 s" is not
    check_events([CodedEvent("sub-001", "nod", 59.0, 60.1, "f.tsv line 2")], 60.0)


def test_two_participants_in_one_export_are_neither_merged_nor_an_overlap(tmp_path):
    text = ("Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)\n"
            "visit sub-003\tchild\tnod\tSTATE\t1.0\t3.0\n"
            "visit sub-004\tchild\tnod\tSTATE\t2.0\t4.5\n")
    mapping = BY_OBSERVATION
    table, pids = read_boris(write(tmp_path, "all.tsv", text), mapping)
    assert pids == ["sub-003", "sub-004"]
    assert events(table) == [("sub-003", "nodding", 1.0, 3.0), ("sub-004", "nodding", 2.0, 4.5)]
    check_events([CodedEvent("sub-003", "nod", 1.0, 3.0, "a"),
                  CodedEvent("sub-004", "nod", 2.0, 4.5, "b")], None)


def test_coding_sources_that_hold_no_coding_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty", "notes.txt", "not a coding")
    with pytest.raises(InputError, match=r"no BORIS export \(.tsv, .csv, .xlsx\) or ELAN file "
                       r"\(.eaf\) in .*empty"):
        read_codings([tmp_path / "empty"], MAPPING)
    with pytest.raises(InputError, match=r"coding file or folder .*sub-404.tsv does not exist"):
        read_codings([tmp_path / "sub-404.tsv"], MAPPING)
    path = write(tmp_path, "sub-001.tsv", v8([("child", "nod", "START", 1.0),
                                              ("child", "nod", "STOP", 2.0)]))
    with pytest.raises(InputError, match=r"sub-001\.tsv is given twice"):
        read_codings([path, tmp_path / "empty" / ".." / "sub-001.tsv"], MAPPING)
