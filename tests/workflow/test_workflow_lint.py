"""`snakemake --lint` finds nothing, on the truth path and on the model path (other rules)."""

import pytest
from workflow_testkit import reduced_workdir, run_snakemake


@pytest.mark.parametrize("source", ["truth", "model"])
def test_lint_reports_nothing(tmp_path, source):
    wd = reduced_workdir(tmp_path, percent_time_source=source)
    res = run_snakemake(wd, "--lint")
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert "Lints for" not in log
    assert "Congratulations, your workflow is in a good condition!" in log


def test_paths_built_in_python_for_a_shell_command_are_quoted():
    """Snakemake quotes `{input.x:q}` in a shell string; an f-string in params does not, and
    a study folder with a space then splits into two arguments at the report, after every
    expensive job. Such paths go through shlex.quote."""
    import re
    from pathlib import Path

    unquoted = re.compile(r'f"[^"\n]*\{(?:input|output|log)\.[^}]*\}[^"\n]*"')
    rules = Path(__file__).resolve().parents[2] / "workflow" / "rules"
    found = [f"{p.name}: {m.group(0)}" for p in sorted(rules.glob("*.smk"))
             for m in unquoted.finditer(p.read_text())]
    assert not found, found
