"""Atomic files, provenance records and the model folder's checks."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeio import atomic_path, atomic_write_text, write_provenance
from pipeio.atomic import staged_directory
from pipeio.errors import InputError
from pipeio.provenance import git_commit


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "table.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed half-way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_atomic_path_flushes_the_file_before_it_takes_the_name(tmp_path, monkeypatch):
    """Otherwise a power cut after the rename can leave the final name on an empty file."""
    import pipeio.atomic as atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: events.append(
        ("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))) or real_fsync(fd))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: events.append(
        ("replace", os.path.basename(b))) or real_replace(a, b))
    atomic_write_text(tmp_path / "t.tsv", "x")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(".t.") and events[2][1] == tmp_path.name


def test_a_killed_jobs_temporary_file_is_no_windows_file(tmp_path):
    from analysis.aggregate import windows_files

    (tmp_path / "sub-001.parquet").write_bytes(b"")
    (tmp_path / ".sub-002.k3j9x.tmp.parquet").write_bytes(b"")  # SIGKILL mid-write
    assert windows_files([tmp_path]) == [tmp_path / "sub-001.parquet"]


def test_staged_directory_keeps_a_folder_made_meanwhile_and_restores_on_failure(
        tmp_path, monkeypatch):
    final = tmp_path / "out"
    with pytest.raises(InputError, match="already exists"), staged_directory(final) as stage:
        (stage / "new.txt").write_text("new")
        final.mkdir()  # another process made it while this one was building
        (final / "theirs.txt").write_text("theirs")
    assert [p.name for p in final.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    import pipeio.atomic as atomic

    real_replace = os.replace

    def fail_on_the_swap(src, dst):
        if ".partial-" in str(src):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_on_the_swap)
    with pytest.raises(OSError, match="disk full"), \
            staged_directory(final, overwrite=True) as stage:
        (stage / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_directory_overwrite_swaps_in_the_new_folder_and_leaves_nothing_else(
        tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    umask = os.umask(0o022)  # mkdtemp's private 0700 must not survive into the output
    try:
        with staged_directory(final, overwrite=True) as stage:
            (stage / "new.txt").write_text("new")
    finally:
        os.umask(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.old-PID left
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert final.stat().st_mode & 0o777 == 0o755
    fresh = tmp_path / "fresh"
    umask = os.umask(0o027)
    try:
        with staged_directory(fresh) as stage:
            (stage / "a.txt").write_text("a")
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]


def test_git_commit_names_the_checkout_and_its_local_changes(tmp_path):
    here = Path(__file__).resolve().parent
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True).returncode:
        pytest.skip("the tests run outside a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", git_commit() or "")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    (repo / "untracked.txt").write_text("x")  # untracked files do not count
    assert git_commit(repo) == head
    (repo / "a.txt").write_text("changed")
    assert git_commit(repo) == head + "+dirty"
    outside = tmp_path / "not-git"
    outside.mkdir()
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=outside,
                      capture_output=True).returncode:
        assert git_commit(outside) is None


def test_provenance_records_inputs_and_versions(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    out = write_provenance(tmp_path / "prov.json", "demo", {"seed": 3}, [src])
    rec = json.loads(out.read_text())
    assert rec["step"] == "demo" and rec["params"] == {"seed": 3}
    assert rec["inputs"][str(src)] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert "numpy" in rec["versions"] and rec["versions"]["python"].startswith("3.11")
    assert rec["git_commit"] == git_commit()


def test_atomic_path_stages_beside_the_target_with_its_suffix(tmp_path):
    """The rename is atomic only within one folder's file system, and writers that infer a
    format from the name (pandas, matplotlib, PyAV) must see the final suffix."""
    target = tmp_path / "new" / "sub" / "plot.png"  # its folder does not exist yet
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png"
        assert tmp.name.startswith(".")  # hidden from a reader listing the folder
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    assert [p.name for p in target.parent.iterdir()] == ["plot.png"]


def test_staged_directory_refuses_an_existing_folder_before_building(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    built = []
    with pytest.raises(InputError, match=r"output folder .*out already exists; choose another "
                       r"path or pass --overwrite"), staged_directory(final) as stage:
        built.append(stage)  # hours of work would be thrown away at the end
    assert built == []
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_staged_directory_flushes_before_the_swap_and_the_folder_after(tmp_path, monkeypatch):
    """The new folder's files are on disk before it takes the name, and the rename itself is
    flushed; while it is built the folder is hidden."""
    import pipeio.atomic as atomic

    events = []
    real_replace, real_fsync = os.replace, atomic._fsync
    monkeypatch.setattr(atomic.os, "sync", lambda: events.append("sync"))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: events.append(
        ("replace", Path(b).name)) or real_replace(a, b))
    monkeypatch.setattr(atomic, "_fsync", lambda p: events.append(
        ("fsync", Path(p).name)) or real_fsync(p))
    final = tmp_path / "out"
    with staged_directory(final) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".out.")
        (stage / "a.txt").write_text("a")
    assert events == ["sync", ("replace", "out"), ("fsync", tmp_path.name)]


def test_package_versions_omit_absent_packages():
    from importlib import metadata

    from pipeio.provenance import package_versions

    assert package_versions(["numpy", "no-such-package-xyz"]) == {
        "numpy": metadata.version("numpy")}


def test_provenance_names_the_libraries_that_write_figures_windows_and_weights(tmp_path):
    """A figure's record without matplotlib's version (or a windows file's without
    pyarrow's, the weights' without safetensors') cannot say what drew or wrote it."""
    from importlib import metadata

    from pipeio.provenance import provenance_record

    versions = provenance_record("plots")["versions"]
    for name in ("matplotlib", "pyarrow", "safetensors"):
        try:
            assert versions[name] == metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in versions


def test_git_commit_is_the_code_checkouts_from_any_working_folder(tmp_path, monkeypatch):
    """Snakemake runs in a study's folder, which is not the code's checkout."""
    here = Path(__file__).resolve().parent
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True).returncode:
        pytest.skip("the tests run outside a git checkout")
    expected = git_commit()
    monkeypatch.chdir(tmp_path)
    assert git_commit() == expected


def test_file_sha256_streams_in_chunks(tmp_path):
    from pipeio.provenance import file_sha256

    src = tmp_path / "in.txt"
    src.write_text("abc")
    assert file_sha256(src, chunk=2) == file_sha256(src) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_file_sha256_shows_a_bar_when_asked_once_hashing_takes_a_while(tmp_path, capsys,
                                                                        monkeypatch):
    """A recording of several GB takes seconds to minutes to hash after the step's own work
    is done: a bar says what the pause is. A quick file, or a step run without progress
    (the workflow's jobs), shows none."""
    import hashlib

    import pipeio.provenance as provenance

    src = tmp_path / "video.mp4"
    src.write_bytes(b"abc" * 1000)
    expected = hashlib.sha256(b"abc" * 1000).hexdigest()
    assert provenance.file_sha256(src, chunk=1000, progress=True) == expected
    assert capsys.readouterr().err == ""  # done before PROGRESS_AFTER_S
    monkeypatch.setattr(provenance, "PROGRESS_AFTER_S", 0)
    assert provenance.file_sha256(src, chunk=1000) == expected
    assert capsys.readouterr().err == ""
    record = provenance.provenance_record("pose", inputs=[src], progress=True)
    assert record["inputs"] == {str(src): expected}
    err = capsys.readouterr().err
    assert "sha256 video.mp4: 100%" in err and "2.93k/2.93k" in err
    provenance.write_provenance(tmp_path / "prov.json", "pose", inputs=[src], progress=True)
    assert "sha256 video.mp4: 100%" in capsys.readouterr().err


def test_folder_manifest_changes_with_any_listed_file_and_only_those(tmp_path, monkeypatch):
    from pipeio.provenance import folder_manifest

    folder = tmp_path / "openpose"
    assert folder_manifest(folder) == "absent"
    folder.mkdir()
    (folder / "f_000.json").write_text("{}")
    (folder / "f_001.json").write_text("{}")
    first = folder_manifest(folder)
    (folder / "notes.txt").write_text("not a frame")  # the default pattern is *.json
    assert folder_manifest(folder) == first
    assert folder_manifest(folder, "*") != first

    import pathlib

    real_glob = pathlib.Path.glob
    monkeypatch.setattr(pathlib.Path, "glob",
                        lambda self, pattern: reversed(list(real_glob(self, pattern))))
    assert folder_manifest(folder) == first  # not the file system's listing order
    monkeypatch.undo()

    frame = folder / "f_001.json"
    kept = frame.stat()
    frame.write_text("[]")  # same size, rewritten: only the time tells
    os.utime(frame, ns=(kept.st_atime_ns, kept.st_mtime_ns + 10**9))
    second = folder_manifest(folder)
    assert second != first
    kept = frame.stat()
    frame.write_text("[1]")  # another size, the time put back
    os.utime(frame, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert folder_manifest(folder) not in (first, second)


def test_folder_manifest_sorts_names_not_paths_and_keeps_its_value(tmp_path, monkeypatch):
    """The workflow fingerprints an OpenPose file per frame of every participant each time it
    builds its job graph: comparing Path objects to sort them cost half its CPU. The value is
    the one sorting the paths gave, so no finished pose job reruns for it."""
    import hashlib
    import pathlib

    from pipeio.provenance import folder_manifest

    folder = tmp_path / "openpose"
    folder.mkdir()
    names = ["f_9.json", "f_10.json", "F_2.json", "f_1.json"]
    for name in names:
        (folder / name).write_text(name)
    lines = "".join(f"{name}\t{(folder / name).stat().st_size}\t"
                    f"{(folder / name).stat().st_mtime_ns}\n"
                    for name in sorted(names))  # F_2, f_1, f_10, f_9: as sorted(paths) gave
    assert [p.name for p in sorted(folder.glob("*.json"))] == sorted(names)

    def no_path_comparison(self, other):
        raise AssertionError("Path objects compared")

    for op in ("__lt__", "__le__", "__gt__", "__ge__"):
        monkeypatch.setattr(pathlib.PurePath, op, no_path_comparison)
    assert folder_manifest(folder) == hashlib.sha256(lines.encode()).hexdigest()


def test_provenance_records_the_command_and_only_files_among_its_inputs(tmp_path):
    import sys

    from pipeio.provenance import provenance_record, read_provenance

    src = tmp_path / "in.txt"
    src.write_text("abc")
    (tmp_path / "folder").mkdir()
    rec = provenance_record("demo", None, [src, tmp_path / "folder", tmp_path / "absent.txt"])
    assert rec["params"] == {} and rec["command"] == sys.argv
    assert list(rec["inputs"]) == [str(src)]  # a folder or an absent path has no hash
    assert rec["created_utc"].endswith("+00:00")
    out = write_provenance(tmp_path / "prov.json", "demo", {"model": tmp_path / "m"})
    assert out.read_text().endswith("}\n")
    assert read_provenance(out)["params"] == {"model": str(tmp_path / "m")}  # a Path as text


@pytest.mark.parametrize(("text", "problem"), [
    ('{"step": ', "is not readable JSON"), ("[1, 2]", "is not a JSON object"),
    (b"\xff\xfe", "is not readable JSON")])
def test_a_damaged_provenance_record_is_named(tmp_path, text, problem):
    from pipeio.provenance import read_provenance

    path = tmp_path / "provenance.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=rf"^cohort provenance {path} {problem}"):
        read_provenance(path, "cohort provenance")
    with pytest.raises(InputError, match=rf"^provenance record {tmp_path / 'none.json'} is "
                       "not readable JSON"):
        read_provenance(tmp_path / "none.json")


def _safetensors(path, header, data: bytes) -> Path:
    """A safetensors file: 8 bytes little-endian header length, the JSON header, the data."""
    import struct

    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


TENSORS = {"__metadata__": {"format": "pt"},
           "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]},
           "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


def test_a_whole_weights_file_passes_and_a_truncated_one_names_the_bytes(tmp_path):
    from pipeio.modelfiles import check_weights_file

    header_len = len(json.dumps(TENSORS).encode())
    path = _safetensors(tmp_path / "model.safetensors", TENSORS, bytes(20))
    check_weights_file(path)
    check_weights_file(_safetensors(tmp_path / "empty.safetensors",
                                    {"__metadata__": {"format": "pt"}}, b""))  # no tensor bytes
    _safetensors(path, TENSORS, bytes(19))  # a download cut one byte short
    need = 8 + header_len + 20
    with pytest.raises(InputError, match=rf"^weights file {path} is damaged or incomplete \(copy "
                       rf"or download it again\): {need - 1} bytes, its header needs {need}$"):
        check_weights_file(path)
    _safetensors(path, TENSORS, bytes(21))  # a resumed download that appended a byte
    with pytest.raises(InputError, match=rf": {need + 1} bytes, its header needs {need}$"):
        check_weights_file(path)  # the loader would refuse it in every job


def test_the_weights_check_agrees_with_the_safetensors_loader(tmp_path):
    import numpy as np
    from safetensors import SafetensorError
    from safetensors import numpy as numpy_io

    from pipeio.modelfiles import check_weights_file

    path = tmp_path / "model.safetensors"
    numpy_io.save_file({"a": np.zeros(2, np.float32), "b": np.ones(3, np.float32)}, str(path))
    check_weights_file(path)
    whole = path.read_bytes()
    for damaged in (whole[:-1], whole + b"\0"):
        path.write_bytes(damaged)
        with pytest.raises(SafetensorError):
            numpy_io.load_file(str(path))
        with pytest.raises(InputError, match="is damaged or incomplete"):
            check_weights_file(path)


@pytest.mark.parametrize("header", [
    [1, 2], {"a": {"data_offsets": [0]}}, {"a": {"data_offsets": None}}, {"a": {"shape": [1]}},
    {"a": {"data_offsets": [0, float("inf")]}}])  # JSON's Infinity: was an OverflowError
def test_a_weights_file_with_a_strange_header_is_no_safetensors_file(tmp_path, header):
    from pipeio.modelfiles import check_weights_file

    path = _safetensors(tmp_path / "model.safetensors", header, bytes(8))
    with pytest.raises(InputError, match=r"is damaged or incomplete \(copy or download it "
                       r"again\): not a safetensors file$"):
        check_weights_file(path)
    path.write_bytes(b"ab")  # shorter than the header length
    with pytest.raises(InputError, match=r": not a safetensors file$"):
        check_weights_file(path)


def test_a_weights_header_nested_past_the_json_parser_is_no_safetensors_file(tmp_path):
    import struct

    from pipeio.modelfiles import check_weights_file

    raw = b"[" * 100_000 + b"]" * 100_000  # was a RecursionError from json
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(InputError, match=r"is damaged or incomplete \(copy or download it "
                       r"again\): not a safetensors file$"):
        check_weights_file(path)


def test_a_model_folder_is_checked_and_fingerprinted_by_both_files(tmp_path):
    import hashlib

    from pipeio.modelfiles import check_model_folder, model_digest

    folder = tmp_path / "model"
    with pytest.raises(InputError, match=rf"^model folder {folder} does not exist$"):
        check_model_folder(folder)
    folder.mkdir()
    _safetensors(folder / "model.safetensors", TENSORS, bytes(20))
    with pytest.raises(InputError, match=rf"^model folder {folder}: missing model.json$"):
        check_model_folder(folder)
    with pytest.raises(InputError, match=rf"^model folder {folder}: missing model.json$"):
        model_digest(folder)
    (folder / "model.json").write_text('{"classes": ["nod"]}')
    check_model_folder(folder)
    weights = (folder / "model.safetensors").read_bytes()
    digest = model_digest(folder)
    assert digest == hashlib.sha256(b'{"classes": ["nod"]}' + weights).hexdigest()
    (folder / "model.json").write_text('{"classes": ["shake"]}')  # another model's classes
    assert model_digest(folder) != digest
    (folder / "model.safetensors").write_bytes(weights[:-1])
    with pytest.raises(InputError, match=r"model.safetensors is damaged or incomplete"):
        check_model_folder(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match=rf"^model folder {folder}: missing model.safetensors$"):
        check_model_folder(folder)


@pytest.mark.parametrize(("data", "message"), [
    (b"a: [1,\n", r" is not valid YAML \(line 2, column 1: expected the node content, but "
     r"found '<stream end>'\)$"),
    (b"a: \xff\n", r": line 1, column 4: byte 0xff is not UTF-8 text; save the file as "
     r"UTF-8$"),
    (b"a: " + b"{b: " * 2000 + b"1" + b"}" * 2000 + b"\n", r": lists or mappings nested too "
     r"deeply to read \(a damaged file\?\); expected a config of a few levels$"),
])
def test_a_yaml_file_that_cannot_be_read_is_one_line_naming_it(tmp_path, data, message):
    """PyYAML's syntax errors span lines and name "<unicode string>"; a byte that is not
    UTF-8 and nesting past PyYAML's recursion were tracebacks."""
    from pipeio.yamlfile import load_yaml_file

    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    with pytest.raises(InputError, match=rf"^study config {re.escape(str(path))}{message}"):
        load_yaml_file(path, "study config")
    path.write_bytes(b"\xef\xbb\xbfa: [1, 2]\n")  # a BOM (Notepad) is not part of the key
    assert load_yaml_file(path, "study config") == {"a": [1, 2]}


def test_safe_load_unique_reads_as_the_safe_loader_but_refuses_a_repeated_key() -> None:
    import yaml

    from pipeio.yamlfile import safe_load_unique

    text = ("base: &b {x: 1, y: [1, 2]}\nmerged:\n  <<: *b\n  y: 3\n"
            "flags: [yes, off, 1e-2, 0.05]\n")
    assert safe_load_unique(text, "f.yaml") == yaml.safe_load(text)
    with pytest.raises(InputError, match=r"^f\.yaml, line 4: 'a' is given twice \(also on "
                       r"line 2\); YAML would keep only the last, so give each key once$"):
        safe_load_unique("top: 1\na:\n  b: 1\na: 2\n", "f.yaml")
    with pytest.raises(InputError, match=r"^f\.yaml, line 1: 'b' is given twice \(also on "
                       r"line 1\)"):
        safe_load_unique("a: {b: 1, b: 2}\n", "f.yaml")
    with pytest.raises(InputError, match=r"line 3: 'y' is given twice \(also on line 2\)"):
        safe_load_unique("s:\n  y: 1\n  y: 2\n", "f.yaml")  # nested: the inner mapping's
    with pytest.raises(yaml.YAMLError):
        safe_load_unique("a: [\n", "f.yaml")


def _windows_file(path: Path, times: list[tuple[float, float]], **meta: object) -> Path:
    """Valid 2-class windows at `times` (start, end), metadata overridden by `meta`."""
    import pandas as pd

    from pipeio.windows import write_windows

    table = pd.DataFrame({"start_s": [t[0] for t in times], "end_s": [t[1] for t in times],
                          "valid": True, "prob_nodding": 0.9, "prob_no action": 0.1})
    return write_windows(path / "a.parquet", table, {
        "participant_id": "a", "class_names": ["nodding", "no action"], "duration_s": 6.0,
        "hop_s": 1.0, "window_s": 2.0, "fps": 29.97, **meta})


@pytest.mark.parametrize(("times", "meta", "message"), [
    # Ends before it starts: its probabilities were subtracted from its neighbours' bins.
    ([(0, 4), (3, 1)], {}, r"window 1 ends at 1 s, not after its start 3 s, expected "
     r"end_s > start_s$"),
    ([(0, 2), (2, 2)], {}, r"window 1 ends at 2 s, not after its start 2 s"),
    # Two runs in one file: averaged together unseen.
    ([(0, 2), (1, 3), (0, 2)], {}, r"window 2 \(0-2 s\) repeats window 0, expected each "
     r"window once"),
    # The video's length in minutes: every window after 0.1 s was left out.
    ([(0, 2), (1, 3), (2, 4)], {"duration_s": 0.1}, r"window 2 starts at 2 s, more than 1 s "
     r"after the video's end \(0\.1 s: duration_s after first_frame_s in its metadata\), "
     r"expected windows within"),
    # The video's end is on the player's clock: its lead-in before the first frame counts.
    ([(0, 2), (9, 10)], {"first_frame_s": 1.5}, r"window 1 starts at 9 s, more than 1 s after "
     r"the video's end \(7\.5 s: "),
    ([(0, 2)], {"first_frame_s": "0.5"}, r"its metadata has first_frame_s '0\.5', expected the "
     r"time \(s\) a player shows the video's first frame at$"),
    ([(0, 2)], {"first_frame_s": float("inf")}, r"its metadata has first_frame_s inf, "),
    ([(0, 2)], {"first_frame_s": False}, r"its metadata has first_frame_s False, "),
    # Not numbers: tracebacks in the bin grid, the view spans and the timeline's pose check.
    ([(0, 2)], {"duration_s": float("nan")}, r"its metadata has duration_s nan, expected a "
     r"number of seconds$"),
    ([(0, 2)], {"duration_s": "3:00"}, r"its metadata has duration_s '3:00', expected"),
    ([(0, 2)], {"duration_s": -6.0}, r"its metadata has duration_s -6\.0, expected"),
    ([(0, 2)], {"hop_s": "1"}, r"its metadata has hop_s '1', expected a number of seconds$"),
    ([(0, 2)], {"fps": "29.97"}, r"its metadata has fps '29\.97', expected a number of "
     r"frames a second$"),
    # The video's length in ms (or another video's), far past the windows: 6,000,000 empty
    # bins, and at 1e12 s or 1e308 s a MemoryError or OverflowError in the bin grid.
    ([(0, 2), (1, 3)], {"duration_s": 600_000.0}, r"its windows end at 3 s, but the video at "
     r"600000 s \(duration_s after first_frame_s in its metadata\), expected windows up to "
     r"the video's end \(a length in other units, or of another video\)$"),
    ([(0, 2), (1, 3)], {"duration_s": 1e308}, r"its windows end at 3 s, but the video at "
     r"1e\+308 s"),
    # Half a second past the last window's end, a window, a hop and 1 s (7 s passes).
    ([(0, 2), (1, 3)], {"duration_s": 7.5}, r"its windows end at 3 s, but the video at 7\.5 s"),
    # An integer past a float's range: was an OverflowError.
    ([(0, 2)], {"window_s": 10**309}, r"its metadata has window_s 10{309}, expected a number "
     r"of seconds$"),
    ([(0, 2)], {"first_frame_s": -10**309}, r"its metadata has first_frame_s -10{309}, "),
    # A class name that is not text: was a TypeError.
    ([(0, 2)], {"class_names": ["nodding", ["no action"]]}, r"its metadata has class_names "
     r"\['nodding', \['no action'\]\], expected a list of class names$"),
    ([(0, 2)], {"class_names": "nodding"}, r"its metadata has class_names 'nodding', expected"),
    # One prob_ column read for both: the second class's time was lost.
    ([(0, 2)], {"class_names": ["nodding", "nodding", "no action"]},
     r"its class_names \['nodding', 'nodding', 'no action'\] name \['nodding'\] twice"),
])
def test_windows_whose_times_or_settings_would_mislead_the_bins_are_refused(
        tmp_path, times, meta, message):
    from pipeio.windows import read_windows

    path = _windows_file(tmp_path, times, **meta)
    with pytest.raises(InputError, match=rf"^windows file {re.escape(str(path))}: {message}"):
        read_windows(path)


def test_windows_ending_a_window_and_a_hop_before_the_video_pass(tmp_path):
    """The window plan's last window ends at most a hop before the video's end (a tail
    shorter than a hop has no window of its own); up to a window and a hop (and 1 s) is
    taken as its windows."""
    from pipeio.windows import read_windows

    table, _ = read_windows(_windows_file(tmp_path, [(0, 2), (1, 3)], duration_s=7.0))
    assert len(table) == 2


def test_windows_in_any_order_ending_past_the_video_pass(tmp_path):
    """Out of order, and last windows reaching or starting (up to 1 s) past a rounded video
    length, are fine: the bins place them, and the video's end cuts them."""
    from pipeio.windows import read_windows

    table, _ = read_windows(_windows_file(tmp_path, [(2, 4), (0, 2), (4, 6.2), (6.5, 8.5)]))
    assert table["start_s"].tolist() == [2, 0, 4, 6.5]
    # The video's end is measured from the latest window, wherever the file lists it.
    table, _ = read_windows(_windows_file(tmp_path, [(6, 8), (0, 2)], duration_s=11.0))
    assert table["start_s"].tolist() == [6, 0]


def test_windows_of_a_video_shown_from_10_s_pass(tmp_path):
    """A video whose first frame a player shows at 10 s (an mp4 made with ffmpeg
    `-output_ts_offset 10`): its windows run 10-16 s on that clock, which ends at 16 s."""
    from pipeio.windows import read_windows, video_end_s

    path = _windows_file(tmp_path, [(10, 12), (14, 16)], first_frame_s=10.0)
    table, meta = read_windows(path)
    assert table["start_s"].tolist() == [10, 14] and video_end_s(meta) == 16.0
    assert video_end_s({"duration_s": 6.0}) == 6.0 and video_end_s({"first_frame_s": 1}) is None


def test_a_valid_column_with_a_gap_is_named_not_a_traceback(tmp_path):
    """A nullable boolean column (pandas' `boolean`, as another tool may write it) with a
    missing value: pandas cannot select rows by it."""
    import pandas as pd

    from pipeio.windows import read_windows, write_windows

    path = _windows_file(tmp_path, [(0, 2), (2, 4)])
    table, meta = read_windows(path)
    write_windows(path, table.assign(valid=pd.array([True, None], dtype="boolean")), meta)
    with pytest.raises(InputError, match=r"a\.parquet: window 1 has valid missing, expected "
                       r"true/false$"):
        read_windows(path)
    write_windows(path, table.assign(valid=pd.array([True, False], dtype="boolean")), meta)
    assert read_windows(path)[0]["valid"].tolist() == [True, False]
