from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from microdualnet.model import cli


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_model_info_paper_prints_routing_size(capsys: pytest.CaptureFixture[str]) -> None:
    """The defaults are the paper's MA-52 model: 52 classes, ResNet-101."""
    out = run(["model-info"], capsys)
    assert "preset=paper " in out and "ResNet-101" in out
    routing = next(line for line in out.splitlines() if "routing" in line)
    assert "397,080" in routing and "0.397M" in routing
    classifier = next(line for line in out.splitlines() if "classifier" in line)
    assert "144,692" in classifier  # 512*256 + 256 + 256*52 + 52
    check_shares(out)


def check_shares(out: str) -> None:
    """The module rows add up to the total row, and each shows its share of it."""
    rows = [line.split() for line in out.splitlines()[1:]]
    counts = [int(r[-3].replace(",", "")) for r in rows]
    shares = [float(r[-1].rstrip("%")) for r in rows]
    assert sum(counts[:-1]) == counts[-1] and shares[-1] == 100.0
    assert shares[:-1] == [round(100 * n / counts[-1], 1) for n in counts[:-1]]


def test_model_info_demo_variant(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["model-info", "--preset", "demo", "--variant", "pose-only",
               "--num-entities", "5"], capsys)
    assert "no CNN" in out and "K=5" in out and "backbone" not in out
    check_shares(out)


def test_registering_does_not_import_torch() -> None:
    code = ("import sys, argparse; import microdualnet.model.cli as c; "
            "c.register(argparse.ArgumentParser().add_subparsers()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_model_info_counts_the_presets_own_classes(capsys: pytest.CaptureFixture[str]) -> None:
    """paper-imigue has 32 classes: its classifier is 512*256 + 256 + 256*32 + 32, unless
    --num-classes overrides C."""
    out = run(["model-info", "--preset", "paper-imigue"], capsys)
    assert " C=32" in out.splitlines()[0]
    classifier = next(line for line in out.splitlines() if "classifier" in line)
    assert f"{512 * 256 + 256 + 256 * 32 + 32:,d}" in classifier  # 139,552
    out = run(["model-info", "--preset", "paper-imigue", "--num-classes", "52"], capsys)
    assert " C=52" in out.splitlines()[0] and "144,692" in out
