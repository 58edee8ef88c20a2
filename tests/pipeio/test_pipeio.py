"""Atomic files and provenance records."""

import json
import os

import pytest

from pipeio import atomic_path, atomic_write_text, write_provenance


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


def test_provenance_records_inputs_and_versions(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    out = write_provenance(tmp_path / "prov.json", "demo", {"seed": 3}, [src])
    rec = json.loads(out.read_text())
    assert rec["step"] == "demo" and rec["params"] == {"seed": 3}
    assert rec["inputs"][str(src)] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert "numpy" in rec["versions"] and rec["versions"]["python"].startswith("3.11")
