"""Dataset readers: MA-52 layout (synthetic clips), iMiGUE segments, label maps, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from microdualnet.data import imigue, ma52, sources
from microdualnet.data.labelmap import (
    LabelMap,
    imigue_label_map,
    ma52_label_map,
    read_label_map,
)
from microdualnet.data.sampling import sample_indices
from microdualnet.labels import BODY_MAP
from pipeio.errors import InputError


def test_label_map_of_synthetic_set(tiny_clips):
    lm = ma52.label_map_for(tiny_clips)
    assert lm.label_ids == (9, 45, 52)  # nodding, covering face, background
    assert lm.names[-1] == "no action" and lm.body_ids == (1, 5, -1)
    assert lm.index_of(45) == 1 and lm.index_of(3) is None


def test_builtin_label_maps():
    assert ma52_label_map().body_ids == BODY_MAP and ma52_label_map().num_classes == 52
    lm = imigue_label_map()
    assert lm.num_classes == 32 and lm.index_of(1) == 0 and lm.index_of(32) == 31
    assert lm.body_ids is None


def test_ma52_split_reading(tiny_clips):
    lm = ma52.label_map_for(tiny_clips)
    records, problems = ma52.read_split(tiny_clips, "train", lm)
    assert len(records) == 12 and not problems
    rec = records[0]
    assert rec.video.is_file() and rec.pose_dir.is_dir() and rec.pose_stem == rec.name
    assert sorted({r.label for r in records}) == [0, 1, 2]


def test_ma52_bad_lines_become_problems(clips_copy):
    listing = clips_copy / "val_list_videos.txt"
    lines = listing.read_text().splitlines()
    lines += ["gone.mp4 9", f"{lines[0].split()[0]} 17", "no label here", ""]
    listing.write_text("\n".join(lines) + "\n")
    lm = read_label_map(clips_copy / "label_map.tsv")
    records, problems = ma52.read_split(clips_copy, "val", lm)
    assert len(records) == 6
    text = [str(p) for p in problems]
    assert len(text) == 3
    assert "gone.mp4: clip listed but missing" in text[0]
    assert "label 17 is not in the label map" in text[1] and ":8:" in text[1]
    # the synthetic ids are not a run: "ids 9-52" made 17 look valid
    assert text[1].endswith("(ids 9, 45, 52)")
    assert "expected '<name>.mp4 <action_id>'" in text[2]


def test_only_the_fallback_table_is_said_to_stand_for_a_missing_label_map(clips_copy):
    """The hint needs both: MA-52's table given as a label_map.tsv, or another map with the
    folder's file missing, gets the plain message."""
    own = ma52.label_map_for(clips_copy)
    (clips_copy / "label_map.tsv").unlink()
    with open(clips_copy / "train_list_videos.txt", "a", encoding="utf-8") as fh:
        fh.write("extra.mp4 77\n")  # outside the folder's own map
    _, problems = ma52.read_split(clips_copy, "train", own)
    assert str(problems[-1]).endswith("label 77 is not in the label map (ids 9, 45, 52)")
    table = ma52_label_map()
    rows = zip(table.label_ids, table.names, table.body_ids, strict=True)
    (clips_copy / "label_map.tsv").write_text(
        "action_id\tname\tbody_id\n" + "".join(f"{i}\t{n}\t{b}\n" for i, n, b in rows))
    labels = ma52.label_map_for(clips_copy)
    assert labels == table
    _, problems = ma52.read_split(clips_copy, "train", labels)
    assert str(problems[0]).endswith("label 52 is not in the label map (ids 0-51)")


def test_a_label_outside_the_fallback_ma52_table_says_the_label_map_is_missing(clips_copy):
    """A synthetic folder copied without its label_map.tsv is read with the MA-52 table:
    'label 52 is not in the label map' sent the researcher looking for a map they never gave."""
    (clips_copy / "label_map.tsv").unlink()
    records, problems = ma52.read_split(clips_copy, "train", sources.label_map("ma52", clips_copy))
    assert records and problems
    assert str(problems[0]).endswith(
        f"label 52 is not in the label map (ids 0-51: the MA-52 class table, as {clips_copy} "
        "has no label_map.tsv)")


def test_ma52_missing_list_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"split list .* does not exist \(none is there\)$"):
        ma52.read_split(tmp_path, "train", ma52_label_map())


def test_a_misspelt_split_names_the_splits_there_are(tiny_clips):
    """`data.val_split: valid` (or `evaluate --split validation`) said only that
    valid_list_videos.txt does not exist; the splits the folder does list point to the slip."""
    with pytest.raises(InputError, match=r"valid_list_videos\.txt does not exist \(its splits: "
                                         r"test, train, val\)$"):
        ma52.read_split(tiny_clips, "valid", ma52.label_map_for(tiny_clips))


def test_imigue_segments(tiny_clips, tmp_path, long_video):
    """A long 'interview' video (one synthetic clip) with two annotated segments."""
    root = tmp_path / "imigue"
    long_video(tiny_clips, root)
    (root / "train.csv").write_text(
        "video_id,label_id,start_time,start_frame,end_time,end_frame,class,subject_id\n"
        "0001,6,0,0,0.5,3,covering face,1\n"
        "0001,31,0.5,4,1,7,shaking shoulders,1\n"
        "0001,40,0,0,1,7,no such class,1\n"
        "0002,6,0,0,1,7,covering face,1\n")
    records, problems = imigue.read_split(root, "train", imigue_label_map())
    assert [(r.label, r.start_frame, r.end_frame) for r in records] == [(5, 0, 4), (30, 4, 8)]
    assert records[1].pose_stem == "0001"
    assert "label 40" in str(problems[0]) and "0002.mp4: video listed but missing" in str(problems[1])
    from microdualnet.data.clipio import read_clip

    frames, kp = read_clip(records[1], lambda n: np.arange(n), need_pose=True)
    assert frames.shape[0] == 4 and kp.shape == (4, 25, 3) and kp[..., 2].max() > 0


def test_imigue_missing_column(tmp_path):
    (tmp_path / "train.csv").write_text("video_id,label_id,start_frame\n1,2,3\n")
    with pytest.raises(InputError, match="missing column 'end_frame'"):
        imigue.read_split(tmp_path, "train", imigue_label_map())


@pytest.mark.parametrize(("text", "message"), [
    ("action_id\tname\n0\thead up\n1\n", r"line 3: name is empty"),
    ("action_id\tname\tbody_id\n0\thead up\t0\n1\tnod\t\n", r"line 3: body_id is empty"),
    ("action_id\tname\n0\thead up\n0\tnod\n", r"label id\(s\) \[0\] listed more than once"),
])
def test_label_map_rows_are_read_strictly(tmp_path, text, message):
    """A short row named a class None, and one blank body_id dropped the body level (and
    F1_mean with it) for every class, without a word."""
    path = tmp_path / "label_map.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_label_map(path)


def test_annotation_files_with_a_byte_order_mark_are_read(tmp_path):
    (tmp_path / "label_map.tsv").write_bytes(b"\xef\xbb\xbfaction_id\tname\n0\thead up\n")
    assert read_label_map(tmp_path / "label_map.tsv").names == ("head up",)
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbfvideo_id,label_id,start_frame\n1,2,3\n")
    with pytest.raises(InputError, match="missing column 'end_frame'"):  # not 'video_id'
        imigue.read_split(tmp_path, "train", imigue_label_map())


def test_sampling_centred_jittered_and_short():
    assert sample_indices(30, 8, 2).tolist() == [8, 10, 12, 14, 16, 18, 20, 22]  # half up
    rng = np.random.default_rng(0)
    starts = {int(sample_indices(30, 8, 2, rng)[0]) for _ in range(200)}
    assert starts == set(range(0, 16))  # every start with the whole window inside the clip
    assert sample_indices(10, 8, 4).tolist() == [1, 2, 3, 4, 5, 6, 7, 8]  # largest stride fitting
    assert sample_indices(15, 8, 4).tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    assert sample_indices(3, 4, 2).tolist() == [0, 1, 2, 2]  # shorter than T: last frame repeats


def test_label_map_ids_must_be_whole_numbers(tmp_path):
    path = tmp_path / "label_map.tsv"
    path.write_text("action_id\tname\tbody_id\n9\tnodding\t1\n45\tcovering face\thead\n")
    with pytest.raises(InputError, match=r"label_map.tsv, line 3: body_id 'head' is not a "
                                          r"whole number"):
        read_label_map(path)


def test_ma52_list_lines_are_read_strictly(clips_copy):
    """Three fields, a non-number or "--5" (which passed `isdigit`, then crashed `int`) are
    problems naming the line; a BOM (Notepad) is not part of the first clip's name."""
    listing = clips_copy / "train_list_videos.txt"
    first = listing.read_text().splitlines()[0]
    name = first.split()[0]
    listing.write_bytes(b"\xef\xbb\xbf" + "\n".join(
        [first, f"{name} 9 extra", f"{name} nine", f"{name} --9", f"{name} \u00b2"]).encode())
    records, problems = ma52.read_split(clips_copy, "train", ma52.label_map_for(clips_copy))
    assert [r.name for r in records] == [name.removesuffix(".mp4")]
    assert [p.file.rsplit(":", 1)[1] for p in problems] == ["2", "3", "4", "5"]
    assert all("expected '<name>.mp4 <action_id>'" in p.reason for p in problems)
    listing.write_bytes(first.encode() + b"\nclip_\xe9t\xe9.mp4 9\n")  # Latin-1: a traceback
    with pytest.raises(InputError, match=r"^MA-52 split list .*train_list_videos.txt: line 2, "
                       "column 6: byte 0xe9 is not UTF-8 text; save the list as UTF-8$"):
        ma52.read_split(clips_copy, "train", ma52.label_map_for(clips_copy))


def test_label_id_summary_shows_a_run_as_a_range():
    assert ma52._id_summary(ma52_label_map().label_ids) == "ids 0-51"
    assert ma52._id_summary((2, 0, 1)) == "ids 0-2"
    assert ma52._id_summary(tuple(range(0, 50, 2))) == (
        "ids " + ", ".join(map(str, range(0, 40, 2))) + ", ... (5 more)")


def _imigue_csv(root, rows: list[str]) -> None:
    (root / "train.csv").write_text(
        "video_id,label_id,start_time,start_frame,end_time,end_frame,class,subject_id\n"
        + "".join(r + "\n" for r in rows))


def test_imigue_rows_are_read_strictly(tiny_clips, tmp_path, long_video):
    """A one-frame segment is kept (end_frame inclusive); the rest are problems naming the
    CSV line; a space around the video id (Excel) is ignored; names keep segments apart."""
    root = tmp_path / "imigue"
    long_video(tiny_clips, root)
    _imigue_csv(root, ["0001,6,0,2,0,2,covering face,1", " 0001 ,7,0,5,0,6,rubbing eyes,1",
                       "0001,6,0,3,0,2,backwards,1", "0001,6,0,-1,0,2,negative,1",
                       "0001,6,0,x,0,2,not a number,1"])
    records, problems = imigue.read_split(root, "train", imigue_label_map())
    assert [(r.name, r.label, r.start_frame, r.end_frame) for r in records] == [
        ("0001_2", 5, 2, 3), ("0001_5", 6, 5, 7)]
    assert [(p.file.rsplit(":", 1)[1], p.reason) for p in problems] == [
        ("4", "bad segment: frames 3-2"), ("5", "bad segment: frames -1-2"),
        ("6", "label_id, start_frame and end_frame must be integers")]


@pytest.mark.parametrize(("text", "message"), [
    (None, r"iMiGUE annotation file .*train.csv"),
    ("video_id,label_id,start_frame,end_frame\n", r"train.csv: no annotation rows"),
    ("video_id,start_frame\n1,2\n", r"missing column 'label_id'"),
    ("video_id,label_id,start_frame,end_frame\n1,2,3," + "x" * 200_000 + "\n",
     r"field larger than field limit"),
])
def test_imigue_unusable_annotation_files_are_one_line_errors(tmp_path, text, message):
    if text is not None:
        (tmp_path / "train.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        imigue.read_split(tmp_path, "train", imigue_label_map())


def test_imigue_class_names_follow_the_release_numbering():
    """C1-C32 of the iMiGUE paper: label id k is class C<k>."""
    lm = imigue_label_map()
    name = {lab: lm.names[lm.index_of(lab)] for lab in lm.label_ids}
    assert (name[1], name[21], name[28], name[29], name[30], name[32]) == (
        "turtle neck", "sitting straightly", "head up", "pressing lips", "arms akimbo",
        "illustrative body language")
    assert lm.to_rows()[0] == {"index": 0, "label_id": 1, "name": "turtle neck", "body_id": ""}


@pytest.mark.parametrize(("ids", "names", "bodies"), [
    ((1, 2), ("a",), None), ((1, 2), ("a", "b"), (0,))])
def test_label_map_parts_must_agree_in_length(ids, names, bodies):
    with pytest.raises(InputError, match="differ in length"):
        LabelMap(ids, names, bodies)


@pytest.mark.parametrize(("text", "message"), [
    ("id\tname\n0\thead up\n", r"expected a TSV with columns action_id and name"),
    ("action_id\tname\tbody_id\n0\t\t\n", r"line 2: name is empty"),
    ("action_id\tname\n0\thead up\n0\tnod\n", r"label_map.tsv: label map: label id\(s\) \[0\]"),
    ("action_id\tname\n--5\thead up\n", r"line 2: action_id '--5' is not a whole number"),
    ("action_id\tname\n0\t" + "x" * 200_000 + "\n", r"cannot read label map \(field larger"),
    # A blank line shifted the line named; a name given twice trained a model whose
    # model.json inference refuses; body ids under a header without body_id were dropped.
    ("action_id\tname\tbody_id\n9\tnodding\t1\n\n14\tshaking\thead\n",
     r"line 4: body_id 'head' is not a whole number"),
    ("action_id\tname\n9\tnodding\n14\tnodding\n",
     r"label map: name\(s\) \['nodding'\] given to more than one id"),
    ("action_id\tname\n9\tnodding\t1\n", r"line 2: more cells than the header's columns "
                                         r"\(action_id, name\); extra '1'"),
])
def test_label_map_errors_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "label_map.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_label_map(path)


def test_label_map_cells_are_stripped(tmp_path):
    path = tmp_path / "label_map.tsv"
    path.write_text("action_id\tname\tbody_id\n 9 \t nodding \t 1 \n")
    lm = read_label_map(path)
    assert (lm.label_ids, lm.names, lm.body_ids) == ((9,), ("nodding",), (1,))


def test_split_files_of_each_format(tmp_path):
    assert sources.split_file("imigue", tmp_path, "val") == tmp_path / "val.csv"
    assert sources.split_file("ma52", tmp_path, "val") == tmp_path / "val_list_videos.txt"


def test_sampling_refuses_no_frames_and_jitters_clips_shorter_than_the_window():
    with pytest.raises(ValueError, match="at least one frame"):
        sample_indices(0, 4, 2)
    rng = np.random.default_rng(0)
    assert sample_indices(3, 4, 2, rng).tolist() == [0, 1, 2, 2]  # no slack: nothing to jitter


def test_ma52_a_clip_listed_twice_is_a_problem(clips_copy):
    """A clip listed again (a merged list, or a relabelled line appended) was read twice: it
    counted double in training and scoring, under both labels when they differed."""
    listing = clips_copy / "train_list_videos.txt"
    lines = listing.read_text().splitlines()
    name = lines[0].split()[0]
    listing.write_text("\r\n".join([lines[0], "", f"{name}\t52 ", *lines[1:]]) + "\r\n")
    records, problems = ma52.read_split(clips_copy, "train", ma52.label_map_for(clips_copy))
    assert len(records) == len(lines) and [r.name for r in records].count(
        name.removesuffix(".mp4")) == 1
    assert [str(p) for p in problems] == [
        f"{listing}:3: clip {name} is listed again (first on line 1)"]


def test_imigue_problems_name_the_csv_line_and_each_lost_segment(tiny_clips, tmp_path,
                                                                 long_video):
    """Blank lines (skipped by the csv reader) shifted the reported line numbers; a segment
    listed twice was read twice; the segments of one missing video were one bad clip."""
    root = tmp_path / "imigue"
    long_video(tiny_clips, root)
    (root / "train.csv").write_text(
        "video_id,label_id,start_frame,end_frame\n\n"
        "0001,6,0,3\n\n"
        "0001,40,0,3\n"
        "0001,7,0,3\n"
        "0002,6,0,3\n"
        "0002,6,4,7\n")
    records, problems = imigue.read_split(root, "train", imigue_label_map())
    assert [(r.label, r.start_frame) for r in records] == [(5, 0)]
    table = root / "train.csv"
    assert [str(p) for p in problems] == [
        f"{table}:5: label 40 is not in the label map",
        f"{table}:6: segment 0001 frames 0-3 is listed again (first on line 3)",
        f"{table}:7: {root / 'videos' / '0002.mp4'}: video listed but missing",
        f"{table}:8: {root / 'videos' / '0002.mp4'}: video listed but missing"]
    assert len({p.file for p in problems}) == 4  # counted apart against max_bad_clips


def test_label_map_trailing_tabs_are_not_extra_cells(tmp_path):
    path = tmp_path / "label_map.tsv"
    path.write_text("action_id\tname\n9\tnodding\t\n14\tshaking\t \t\n")
    assert read_label_map(path).names == ("nodding", "shaking")
