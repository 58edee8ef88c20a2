"""Run the repository's workflow from a bench script, in a work folder of its own.

Benches that measure the workflow end to end start from the shipped config.yaml (so they
measure what a user runs), change a few keys, and run Snakemake with the repository's
Snakefile and profile and `--directory WORKDIR`: relative paths in the config are then
relative to the work folder, and nothing is written into the checkout.

Imported by sibling scripts run as `python bench/<name>.py` (bench/ is then on sys.path).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def workflow_config(**changes: Any) -> dict[str, Any]:
    """config.yaml with `changes`: a dict merges into that section, any other value replaces
    the key. A key config.yaml does not have is refused, so a renamed key cannot leave a bench
    silently running the default."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for key, value in changes.items():
        if key not in cfg:
            raise KeyError(f"config.yaml has no key {key!r}")
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(cfg[key]))
            if unknown:
                raise KeyError(f"config.yaml's {key!r} has no key(s) {unknown}")
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def run_workflow(workdir: Path, config: dict[str, Any], targets: Sequence[str | Path] = (),
                 cores: int = 2) -> float:
    """Write `config` as `workdir`/config.yaml and run Snakemake on it up to `targets` (all
    when empty), logging to `workdir`/snakemake.log; the wall seconds it took. A failed run
    exits naming the log and showing its end."""
    workdir = workdir.resolve()  # Snakemake runs from the checkout
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--directory",
           str(workdir), *map(str, targets)]
    log = workdir / "snakemake.log"
    print(f"running: {' '.join(cmd)} (log: {log})", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"the workflow in {workdir} failed (exit {done.returncode}); "
                         f"end of {log}:\n{tail}")
    return time.perf_counter() - start
