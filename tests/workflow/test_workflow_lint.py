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


def _shell_rules():
    """(file, rule, shell text, params text) of every rule that has a shell command: the
    command is the string literals after `shell:`, joined."""
    import re
    from pathlib import Path

    rules = Path(__file__).resolve().parents[2] / "workflow" / "rules"
    out = []
    for path in sorted(rules.glob("*.smk")):
        text = path.read_text()
        for block in re.split(r"\n(?=rule \w+:)", text)[1:]:
            name = block.split(":", 1)[0].removeprefix("rule ")
            if "\n    shell:" not in block:
                continue
            head, shell = block.split("\n    shell:", 1)
            shell = re.split(r"\n\S", shell, maxsplit=1)[0]
            command = "".join(m.group(1) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', shell))
            params = head.split("\n    params:", 1)[1] if "\n    params:" in head else ""
            out.append((path.name, name, command.replace('\\"', '"'), params))
    return out


def test_every_shell_rule_is_one_call_of_a_package_cli_with_quoted_paths():
    """Rules stay thin: one `"$MDN_PY" -m microdualnet|analysis ...` (through pipeio.gpu for
    GPU jobs), no second command; file placeholders carry `:q`, and a parameter used bare
    is built with shlex (a path with a space stays one argument)."""
    import re

    rules = _shell_rules()
    assert len(rules) >= 12  # every rules file was read
    problems = []
    for file, name, command, params in rules:
        body = command.split(" > {log:q} 2>&1")[0]
        if not re.fullmatch(r'("\$MDN_PY"|\{params\.launch\}) -m (microdualnet|analysis|'
                            r'pipeio\.gpu)\b.*', body):
            problems.append(f"{file} {name}: not a package CLI: {body[:60]}")
        if re.search(r"&&|\|\||;|\|(?!\|)", body):
            problems.append(f"{file} {name}: more than one command")
        if not command.endswith(" > {log:q} 2>&1"):
            problems.append(f"{file} {name}: output not to its log")
        for field in re.findall(r"\{((?:input|output|log)[^}:]*)\}", command):
            problems.append(f"{file} {name}: {{{field}}} without :q")
        for param in re.findall(r"\{params\.(\w+)\}", command):
            line = re.search(rf"\n        {param}=(.*(?:\n            .*)*)", params)
            built = line.group(1) if line else ""
            if not re.search(r"shlex|DECISION_ARGS|seat_args|TRAIN_LAUNCH", built):
                problems.append(f"{file} {name}: {{params.{param}}} bare, not built with shlex")
    assert problems == []
