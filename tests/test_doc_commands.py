"""Commands in the docs (README.md, docs/*.md) name subcommands, options and files that exist.

Why: a flag renamed in code leaves a doc command that fails for whoever copies it, and nothing
else reads the docs' commands. The parsers are built, never run: `python -m microdualnet`,
`python -m analysis` and `python -m pipeio.gpu` by their own code; bench/ and scripts/ tools
build theirs inside `main()`, after heavy imports, so their `add_argument` calls (and a shell
script's `case` labels) are read instead, as are those of snakemake/cli.py (importing it takes
10 s; its executor plugins' options, `--slurm-...`, are not there).

Checked: every fenced-block line (`\\` continuations joined; a comment line that starts with
`--` lists more options of the command above it) and every inline code span that is
`python -m microdualnet|analysis|pipeio.gpu ...` (also after torchrun), `[python] bench/X.py`
or `scripts/X`, a bare `X.py --flag` of bench/ or scripts/, a subcommand of either CLI on its
own (`infer --batch-size`, `synth cohort`), `snakemake ...` (its options, and `--config` keys
against the config schema), or a span of options alone (`--min-iou`: some parser here, or
another tool's in OTHER_TOOLS, must take it). Option values are checked where the parser has
choices; upper-case words (`N`, `DIR`) and `<...>` are placeholders. Repository paths in code
(`configs/...`, `tests/...`) and relative Markdown links must exist.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Top-level folders of the repository: a path in the docs' code that starts with one of them
# names a file here (others are outputs or the user's files: results/, codings/, ...).
REPO_DIRS = ("analysis", "bench", "configs", "docs", "envs", "microdualnet", "pipeio",
             "profiles", "scripts", "tests", "workflow", ".ci", ".test")
# Options of other tools (the value names it), which the docs name in a span of their own.
OTHER_TOOLS = {
    "--pdb": "pytest",
    "--cpus-per-task": "sbatch", "--mem": "sbatch", "--gpus": "sbatch",
    "--keypoint_scale": "OpenPose", "--model_pose": "OpenPose",
    "--nnodes": "torchrun", "--rdzv-endpoint": "torchrun",
}
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*|<.*>|\.\.\.")
OPTION = re.compile(r"--[A-Za-z][\w-]*")
_DIRS = "|".join(re.escape(d) for d in REPO_DIRS)
REPO_PATH = re.compile(rf"(?<![\w./-])((?:{_DIRS})/[^\s`'\"(),;:|]*)")


@dataclass
class Cli:
    """A command's long options (each with its choices, or None for any value), those it
    requires, and its subcommands."""

    name: str
    options: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    commands: dict[str, Cli] = field(default_factory=dict)

    def all_options(self) -> set[str]:
        return set(self.options).union(*(c.all_options() for c in self.commands.values()))


def from_argparse(parser: argparse.ArgumentParser, name: str) -> Cli:
    cli = Cli(name)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            cli.commands = {sub: from_argparse(p, f"{name} {sub}")
                            for sub, p in action.choices.items()}
        for option in action.option_strings:
            if option.startswith("--"):
                cli.options[option] = tuple(map(str, action.choices)) if action.choices else None
                if action.required:
                    cli.required.add(option)
    return cli


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def parser_of(main: Callable[[list[str]], object]) -> argparse.ArgumentParser:
    """The parser `main` builds, caught at its `parse_args` call, before anything runs."""
    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", caught):
        try:
            main([])
        except _Built as built:
            return built.parser
    raise AssertionError(f"{main} built no parser")


def _add_arguments(cli: Cli, tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            choices = next((k.value for k in node.keywords if k.arg == "choices"), None)
            literal = None
            if isinstance(choices, ast.Tuple | ast.List) and all(
                    isinstance(e, ast.Constant) for e in choices.elts):
                literal = tuple(str(e.value) for e in choices.elts)
            required = any(k.arg == "required" and getattr(k.value, "value", False) is True
                           for k in node.keywords)
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("--"):
                    cli.options[arg.value] = literal
                    if required:
                        cli.required.add(arg.value)


def script_cli(path: Path) -> Cli:
    """A bench/ or scripts/ tool's options: its `add_argument` calls and those of the functions
    it imports from beside it (bench/checkout_timing.py's `checkout_args`); a shell script's
    `case` labels."""
    cli = Cli(path.relative_to(ROOT).as_posix())
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".sh":
        for label in re.findall(r"^\s*(--[\w|-]+)\)", text, re.M):
            cli.options.update(dict.fromkeys(label.split("|")))
        return cli
    tree = ast.parse(text)
    _add_arguments(cli, tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        sibling = path.with_name(f"{node.module}.py")
        if sibling.is_file():
            names = {alias.name for alias in node.names}
            for function in ast.parse(sibling.read_text(encoding="utf-8")).body:
                if isinstance(function, ast.FunctionDef) and function.name in names:
                    _add_arguments(cli, function)
    return cli


@dataclass(frozen=True)
class Snippet:
    """Code from a doc: one fenced-block command line (`whole`: all its required options are
    given), or one inline code span or comment line (a part of a command)."""

    where: str
    text: str
    whole: bool = False


def snippets(doc: Path, name: str) -> Iterator[Snippet]:
    """The code in `doc` (shown as `name`), with the line each piece starts on."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    prose: list[str] = []
    in_block = False
    start, pending, last = 0, "", ""
    for number, line in enumerate(lines, 1):
        fence = line.lstrip().startswith(("```", "~~~"))
        prose.append(line if not (in_block or fence) else "")
        if fence:
            in_block, pending, last = not in_block, "", ""
            continue
        if not in_block:
            continue
        stripped = line.strip()
        if not pending and stripped.startswith("#"):
            note = stripped.lstrip("#").strip()
            if note.startswith("--") and last:  # more options of the command above
                yield Snippet(f"{name}:{number}", f"{last.split(' --')[0]} {note}")
            continue
        code = re.sub(r"\s#\s.*$", "", stripped)
        start = start if pending else number
        continued = code.endswith("\\")
        pending = " ".join(filter(None, (pending, code.removesuffix("\\").strip())))
        if not continued:
            if pending:
                yield Snippet(f"{name}:{start}", pending, whole=True)
            pending, last = "", pending or last
    paragraph_start = 1
    for paragraph in re.split(r"\n[ \t]*\n", "\n".join(prose)):
        for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", paragraph, re.S):
            line = paragraph_start + paragraph.count("\n", 0, m.start())
            yield Snippet(f"{name}:{line}", " ".join(m.group(2).split()))
        paragraph_start += paragraph.count("\n") + 2


def words_of(text: str) -> list[str]:
    """Shell words, quotes removed (text that is no valid shell: split at spaces)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


class Checker:
    """Everything a doc's code may name: the CLIs, the tools, the config keys, the files."""

    def __init__(self) -> None:
        from analysis.__main__ import _parser as analysis_parser
        from microdualnet.cli import build_parser
        from pipeio import gpu

        self.gpu_env = gpu.OPTIONS_ENV
        self.modules = {
            "microdualnet": from_argparse(build_parser(), "python -m microdualnet"),
            "analysis": from_argparse(analysis_parser(), "python -m analysis"),
            "pipeio.gpu": from_argparse(parser_of(gpu.main), "python -m pipeio.gpu"),
        }
        self.snakemake = Cli("snakemake")
        spec = importlib.util.find_spec("snakemake")
        assert spec is not None and spec.submodule_search_locations
        cli_py = Path(spec.submodule_search_locations[0], "cli.py")
        _add_arguments(self.snakemake, ast.parse(cli_py.read_text(encoding="utf-8")))
        schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
        self.config_keys = set(schema["properties"])
        self.scripts = {p.relative_to(ROOT).as_posix(): script_cli(p)
                        for d in ("bench", "scripts") for p in sorted((ROOT / d).iterdir())
                        if p.suffix in (".py", ".sh")}
        self.known = set(OTHER_TOOLS).union(
            self.snakemake.options, *(c.all_options() for c in self.modules.values()),
            *(c.options for c in self.scripts.values()))
        self.files = [p.relative_to(ROOT).as_posix() for d in REPO_DIRS
                      for p in (ROOT / d).rglob("*") if p.is_file()]

    def doc_problems(self, doc: Path) -> list[str]:
        name = doc.relative_to(ROOT).as_posix() if doc.is_relative_to(ROOT) else doc.name
        found = [f"{s.where}: `{s.text}`: {p}" for s in snippets(doc, name)
                 for p in self.problems(s.text, s.whole)]
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"\]\(([^)\s#]+)[^)]*\)", text):
            target = m.group(1)
            if not re.match(r"[a-z]+:", target) and not (doc.parent / target).exists():
                found.append(f"{name}:{text.count(chr(10), 0, m.start()) + 1}: link to "
                             f"{target}, which does not exist")
        return found

    def problems(self, text: str, whole: bool = False) -> list[str]:
        found = self.path_problems(text)
        for command in re.split(r"\s(?:&&|\|\|)\s", text):
            command = command.strip()
            if m := re.fullmatch(rf"{self.gpu_env}=(['\"]?)(.*)\1", command):
                found += self.cli_problems(self.modules["pipeio.gpu"], m.group(2))
                continue
            command = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", command)  # VAR=value command
            found += self.command_problems(command, whole)
        return found

    def command_problems(self, command: str, whole: bool) -> list[str]:
        if m := re.search(r"(?:^|\s)-m\s+(microdualnet|analysis|pipeio\.gpu)(?=\s|$)(.*)",
                          command):
            return self.cli_problems(self.modules[m.group(1)], m.group(2), whole)
        prefix = r"(?:\S*python3?\s+|bash\s+)?(?:\./)?"
        if m := re.match(prefix + r"((?:bench|scripts)/\S+?\.(?:py|sh))(?=\s|$)(.*)", command):
            script = self.scripts.get(m.group(1))  # a missing one: path_problems says so
            return self.cli_problems(script, m.group(2), whole) if script else []
        if m := re.match(prefix + r"([\w-]+\.py)(\s.*--.*)", command):
            script = next((self.scripts[f"{d}/{m.group(1)}"] for d in ("bench", "scripts")
                           if f"{d}/{m.group(1)}" in self.scripts), None)
            if script is None:
                return [f"no bench/ or scripts/ tool is called {m.group(1)}"]
            return self.cli_problems(script, m.group(2), whole)
        if m := re.match(r"(?:\S*/)?snakemake(?=\s|$)(.*)", command):
            return self.snakemake_problems(m.group(1))
        first, _, rest = command.partition(" ")
        if rest and not rest.startswith("..."):
            for cli in self.modules.values():
                if first in cli.commands:
                    return self.cli_problems(cli, command)
        if command.startswith("--"):
            return [f"{o} is no option of this project's tools, nor of another tool in "
                    f"OTHER_TOOLS" for o in OPTION.findall(command) if o not in self.known]
        return []

    def cli_problems(self, cli: Cli, args: str, whole: bool = False) -> list[str]:
        words = [w for w in (w.strip("[](),;:") for w in args.split(" -- ")[0].split()) if w]
        while cli.commands and words and not words[0].startswith("-"):
            word = words.pop(0)
            if PLACEHOLDER.fullmatch(word):
                return []
            bad = [n for n in word.split("|") if n not in cli.commands]
            if bad:
                return [f"`{cli.name}` has no subcommand {', '.join(bad)} "
                        f"(it has {', '.join(cli.commands)})"]
            if "|" in word:  # a list of subcommands
                return []
            cli = cli.commands[word]
        found = []
        missing = cli.required - {m.group() for w in words if (m := OPTION.match(w))}
        if whole and missing and "..." not in words:
            found.append(f"`{cli.name}` needs {', '.join(sorted(missing))}")
        for i, word in enumerate(words):
            option = OPTION.match(word)
            if option is None:
                continue
            option_name = option.group()
            if option_name not in cli.options:
                near = difflib.get_close_matches(option_name, cli.options, n=1)
                found.append(f"`{cli.name}` has no option {option_name}"
                             + (f" (did you mean {near[0]}?)" if near else ""))
                continue
            value = word.partition("=")[2] or (words[i + 1] if i + 1 < len(words) else "")
            choices = cli.options[option_name]
            if choices and value and not value.startswith("-"):
                bad = [v for v in value.split("|")
                       if v not in choices and not PLACEHOLDER.fullmatch(v)]
                if bad:
                    found.append(f"`{cli.name} {option_name}` takes {', '.join(choices)}, "
                                 f"not {', '.join(bad)}")
        return found

    def snakemake_problems(self, args: str) -> list[str]:
        found = []
        words = words_of(args)
        for i, word in enumerate(words):
            option = word.partition("=")[0]
            if not option.startswith("--"):
                continue
            if option not in self.snakemake.options:
                found.append(f"snakemake has no option {option}")
            if option == "--config":
                for item in words[i + 1:]:
                    if item.startswith("-"):
                        break
                    key = item.partition("=")[0]
                    if "=" in item and key not in self.config_keys:
                        found.append(f"--config {item}: {key!r} is no top-level key of "
                                     "workflow/schemas/config.schema.yaml")
        return found

    def path_problems(self, text: str) -> list[str]:
        found = []
        for m in REPO_PATH.finditer(text):
            path = m.group(1).rstrip(".")
            if re.search(r"[<>*{}\[\]]|\.\.\.", path) or (ROOT / path).exists():
                continue
            found.append(f"{path} does not exist")
        if re.fullmatch(r"[\w./-]+\.(?:py|sh)", text) and not any(
                f"/{f}".endswith(f"/{text}") for f in self.files):
            found.append(f"no file of the repository is {text}")
        return found


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def test_doc_commands_exist(checker: Checker) -> None:
    problems = [p for doc in DOCS for p in checker.doc_problems(doc)]
    assert not problems, "\n".join(problems)


def test_checker_finds_what_a_rename_breaks(checker: Checker, tmp_path: Path) -> None:
    """Each kind of broken command is found, at its line; other tools' commands, output,
    placeholders and partial commands in prose are not."""
    doc = tmp_path / "d.md"
    doc.write_text(
        "# Title\n"
        "```bash\n"
        "python -m analysis stats --percent-time p.tsv --participants s.tsv \\\n"
        "    --out o --confg c.yaml   # --not-checked in a trailing comment\n"
        "#   --verbos: log progress\n"
        "ffmpeg -i in.mp4 --not-ours out.mp4\n"
        "python -m microdualnet infer --model M --video V --pose P --out O [--device auto|gpu]\n"
        "python -m microdualnet pose --video v.mp4 --out p.npz\n"
        "```\n"
        "\n"
        "```\n"
        "error: invalid option --nonsense\n"
        "```\n"
        "Run `synth cohorts` or `infer --batch-sizes 8`, `bench/agreement_demo.py --work-dir D\n"
        "--cohort-seconds 180`, `snakemake --cores 2 --config model.train=false`, `--min-ious`,\n"
        "`configs/none.yaml`, `sbatch --gpus=1`, [there](none.md), `infer`,\n"
        "`python -m microdualnet train --config ...`, `python -m analysis agreement --windows W`,\n"
        "`torchrun --nnodes 2 -m microdualnet train --confg c`.\n",
        encoding="utf-8")
    found = checker.doc_problems(doc)
    expected = [
        ("d.md:3", "`python -m analysis stats` has no option --confg (did you mean --config?)"),
        ("d.md:5", "`python -m analysis stats` has no option --verbos (did you mean --verbose?)"),
        ("d.md:7", "`python -m microdualnet infer --device` takes auto, cpu, cuda, not gpu"),
        ("d.md:8", "`python -m microdualnet pose` needs --backend"),
        ("d.md:14", "`python -m microdualnet synth` has no subcommand cohorts"),
        ("d.md:14", "`python -m microdualnet infer` has no option --batch-sizes"),
        ("d.md:14", "`bench/agreement_demo.py` has no option --work-dir"),
        ("d.md:15", "'model.train' is no top-level key"),
        ("d.md:15", "--min-ious is no option"),
        ("d.md:16", "configs/none.yaml does not exist"),
        ("d.md:18", "`python -m microdualnet train` has no option --confg"),
        ("d.md:16", "link to none.md, which does not exist"),
    ]
    assert len(found) == len(expected), "\n".join(found)
    for problem, (where, message) in zip(found, expected, strict=True):
        assert problem.startswith(f"{where}:") and message in problem, problem
