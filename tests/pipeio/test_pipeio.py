"""Atomic files and provenance records."""

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
