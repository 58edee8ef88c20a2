"""Import boundaries: `analysis` never imports torch or `microdualnet`; `microdualnet.pose`
imports neither torch nor `microdualnet.inference`, not even through a helper module.

Why two checks: importing the modules misses an import inside a function (the commands import
their heavy parts lazily), so every import statement is also read from the source, in function
bodies too, following the `microdualnet` modules the pose package reaches.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = ("torch", "torchvision")


def _imported(path: Path) -> set[str]:
    """Every module an import statement (anywhere in the file) or `import_module("...")` names;
    `from a import b` gives both `a` and `a.b` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value))
    return names


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _reached(start: list[Path], package: str) -> dict[str, set[str]]:
    """Module name -> names it imports, for `start` and every `package` module they reach."""
    seen: dict[str, set[str]] = {}
    todo = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in start]
    while todo:
        module = todo.pop()
        path = _source(module)
        if module in seen or path is None:
            continue
        seen[module] = _imported(path)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run too
        todo += [name for name in seen[module] if name.split(".")[0] == package]
    return seen


def _offenders(reached: dict[str, set[str]], banned: tuple[str, ...]) -> list[str]:
    return sorted(f"{module} imports {name}" for module, names in reached.items()
                  for name in names if any(name == b or name.startswith(b + ".")
                                           for b in banned))


def test_analysis_imports_neither_torch_nor_microdualnet_even_inside_functions():
    reached = _reached(sorted((ROOT / "analysis").rglob("*.py")), "analysis")
    assert len(reached) > 20  # the whole package was read
    assert _offenders(reached, (*TORCH, "microdualnet")) == []


def test_pose_reaches_neither_torch_nor_inference_through_any_module():
    reached = _reached(sorted((ROOT / "microdualnet" / "pose").glob("*.py")), "microdualnet")
    assert "microdualnet.contract" in reached  # followed into the modules pose uses
    assert _offenders(reached, (*TORCH, "microdualnet.inference")) == []


def test_the_boundary_scan_sees_an_import_inside_a_function(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from microdualnet.model import checkpoint\n"
                    "    import importlib\n    importlib.import_module('torch.nn')\n")
    assert {"microdualnet.model", "microdualnet.model.checkpoint", "torch.nn"} <= _imported(path)


def test_running_the_analysis_and_pose_modules_loads_no_torch(tmp_path):
    """Every module imported, and a real analysis command run, in a fresh interpreter."""
    qc = tmp_path / "a.qc.json"
    qc.write_text(json.dumps({"participant_id": "a", "backend": "openpose", "excluded": False,
                              "frames_processed": 10, "frames_with_person": 9}))
    code = (
        "import importlib, pkgutil, sys, analysis, microdualnet.pose as pose\n"
        "for pkg in (analysis, pose):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "from analysis.__main__ import main\n"
        f"assert main(['pose-quality', '--qc', {str(qc)!r}, '--out', "
        f"{str(tmp_path / 'q.tsv')!r}]) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision'}), "
        "sorted(m for m in sys.modules if m.startswith('microdualnet.inference')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[] []"
    assert (tmp_path / "q.tsv").is_file()
