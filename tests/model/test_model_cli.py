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
    out = run(["model-info", "--preset", "paper"], capsys)
    assert "ResNet-101" in out
    routing = next(line for line in out.splitlines() if "routing" in line)
    assert "397,080" in routing and "0.397M" in routing


def test_model_info_demo_variant(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["model-info", "--preset", "demo", "--variant", "pose-only",
               "--num-entities", "5"], capsys)
    assert "no CNN" in out and "K=5" in out and "backbone" not in out


def test_registering_does_not_import_torch() -> None:
    code = ("import sys, argparse; import microdualnet.model.cli as c; "
            "c.register(argparse.ArgumentParser().add_subparsers()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
