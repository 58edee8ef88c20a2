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
