"""Every file the code writes goes through `pipeio.atomic` (a crash never leaves half a file).

Read from the source: a call that writes a file (`to_csv`, `savefig`, `write_text`, `np.savez`,
`torch.save`, `save_file`, `cv2.imwrite`, `open(..., "w")`, ...) must sit inside a
`with atomic_path(...)` or `with staged_directory(...)` block, or in a function listed below
with the reason its target is already staged or is no result.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("microdualnet", "analysis", "pipeio", "bench", "scripts")
GUARDS = {"atomic_path", "staged_directory"}

# (file, function) -> why its writes need no guard of their own.
STAGED_OR_SCRATCH = {
    ("microdualnet/openpose_io.py", "write_sequence"):
        "called only by the synth generators, into their staged_directory",
    ("microdualnet/synthetic/cohort.py", "make_participant"): "task.root is staged",
    ("bench/stats_benchmark.py", "write_inputs"): "the benchmark's own input, in a temp dir",
    ("bench/stats_benchmark.py", "main"): "a config for the run, in a temp dir",
    ("bench/stats_pipeline_calibration.py", "run_seed"): "a config in a scratch workdir",
    ("bench/workflow_run.py", "run_workflow"): "config and log of a scratch workdir",
    ("bench/gpu_share.py", "run_jobs"): "a child's stderr, streamed while it runs",
    ("bench/decode_speed.py", "synthesise"): "written as .part.mp4, renamed when complete",
    ("bench/decode_speed.py", "check"): "reference frames, a scratch file of the run",
    ("bench/decode_speed.py", "run_lib"): "a child's answer to its parent, read once",
    ("bench/stretch_seek.py", "synthesise"): "the benchmark's own videos, in a temp dir",
    ("bench/workflow_overhead.py", "make_sources"): "a fabricated study in a scratch folder",
    ("bench/workflow_overhead.py", "make_cohort"): "a fabricated study in a scratch folder",
    ("bench/workflow_overhead.py", "main"): "a stand-in scontrol in the scratch folder",
    ("scripts/check_wheels.py", "check"): "a requirements file in a temp dir for pip",
}

_WRITE_ATTRS = {"to_csv", "to_parquet", "to_excel", "savefig", "write_text", "write_bytes",
                "imwrite", "savez", "savez_compressed", "save_file", "tofile"}


def _mode(call: ast.Call, position: int) -> str:
    args = [kw.value for kw in call.keywords if kw.arg == "mode"]
    if len(call.args) > position:
        args.append(call.args[position])
    return next((a.value for a in args if isinstance(a, ast.Constant)
                 and isinstance(a.value, str)), "r")


def _writes(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
    if name in _WRITE_ATTRS:
        return True
    if name == "save" and owner in {"np", "numpy", "torch"}:
        return True
    if name == "write_table" and owner in {"pq", "parquet"}:  # pyarrow's Parquet writer
        return True
    if name in {"dump", "safe_dump"} and owner in {"json", "yaml"}:
        return len(call.args) >= 2 or any(kw.arg == "stream" for kw in call.keywords)
    if name == "open":  # open(path, mode), Path.open(mode), av.open(path, mode)
        position = 0 if isinstance(func, ast.Attribute) and owner not in {"av", "io"} else 1
        return any(c in _mode(call, position) for c in "wax")
    return False


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and getattr(
                        expr.func, "id", getattr(expr.func, "attr", None)) in GUARDS:
                    return True
    return False


def _function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node.name
    return "<module>"


def unguarded_writes(path: Path) -> list[tuple[str, int]]:
    """(function, line) of each write in `path` outside an atomic_path/staged_directory block."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    return [(_function(node, parents), node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _writes(node) and not _guarded(node, parents)]


def test_every_file_write_is_atomic_or_listed_with_its_reason():
    found, listed = [], set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for function, line in unguarded_writes(path):
                if (rel, function) in STAGED_OR_SCRATCH:
                    listed.add((rel, function))
                else:
                    found.append(f"{rel}:{line} ({function})")
    assert found == []
    assert listed == set(STAGED_OR_SCRATCH)  # no stale entry


def test_the_scan_sees_a_plain_write_and_accepts_a_guarded_one(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "def bad(t, p):\n    t.to_csv(p)\n    open(p, 'w')\n    p.open('a')\n"
        "def good(t, p):\n    with atomic_path(p) as tmp:\n        t.to_csv(tmp)\n"
        "    open(p)\n    yaml.safe_dump(t)\n")
    assert unguarded_writes(path) == [("bad", 2), ("bad", 3), ("bad", 4)]
