"""Every example in README.md and docs/ runs here: YAML loads, Python runs, shell transcripts match."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mockserver.cli import main
from mockserver.scenario import load_paths, load_text
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == language:
                line = text[:m.start()].count("\n") + 1
                found.append((f"{doc.name}:{line}", m.group(2)))
    return found


YAML = [b for b in blocks("yaml") if re.search(r"^name:", b[1], re.M)]
PYTHON = blocks("python")
TRANSCRIPTS = [b for b in blocks("text") if b[1].startswith("$ mockserver")]


@pytest.mark.parametrize(("where", "source"), YAML, ids=[w for w, _ in YAML])
def test_yaml_examples_are_valid_scenarios(where: str, source: str) -> None:
    scenario = load_text(source, where)
    assert scenario.rules or scenario.applies_to


@pytest.mark.parametrize(("where", "source"), PYTHON, ids=[w for w, _ in PYTHON])
def test_python_examples_run(where: str, source: str) -> None:
    exec(compile(source, where, "exec"), {"__name__": "__doc_example__"})


@pytest.mark.parametrize(("where", "source"), TRANSCRIPTS, ids=[w for w, _ in TRANSCRIPTS])
def test_shell_transcripts_match(where: str, source: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    for command in re.split(r"^\$ ", source, flags=re.M)[1:]:
        line, _, expected = command.partition("\n")
        args = shlex.split(line)
        assert args[0] == "mockserver"
        main(args[1:])
        assert capsys.readouterr().out == expected


def test_every_doc_has_its_examples_collected() -> None:
    assert len(YAML) >= 8 and len(PYTHON) >= 2 and TRANSCRIPTS


SHELL = blocks("sh") + blocks("bash")
NAMED_YAML = {m.group(1): source for _, source in blocks("yaml")
              if (m := re.match(r"# ([\w.-]+\.ya?ml)\n", source))}
COMMAND = re.compile(r"^(?:\$ )?(?:[A-Z_]+=\S* )*(mockserver (?:serve|validate)\b[^#&|\n]*)", re.M)
MOUNT = re.compile(r'-v "\$PWD/([^:"]+):/scenarios')


def _commands() -> list[tuple[str, str]]:
    return [(where, m.group(1).strip()) for where, source in SHELL for m in COMMAND.finditer(source)]


@pytest.mark.parametrize(("where", "command"), _commands(), ids=[w for w, _ in _commands()])
def test_documented_commands_name_scenarios_that_exist(where: str, command: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`mockserver serve css chaos/throttled` as the docs write it, run from the repository root:
    its paths (or built-in names) load. Files that a doc writes in a YAML block come from it."""
    import io

    from mockserver.cli import _parser

    parser, _ = _parser(io.StringIO(), io.StringIO())
    args = parser.parse_args(shlex.split(command)[1:])
    monkeypatch.chdir(ROOT)
    paths = []
    for name in args.paths:
        if name in NAMED_YAML:
            (tmp_path / name).write_text(NAMED_YAML[name])
        paths.append(str(tmp_path / name) if name in NAMED_YAML else name)
    if args.command == "serve" and not paths:
        return  # the built-in default, loaded by tests/integration/test_builtin_scenarios.py
    assert load_paths(paths)


@pytest.mark.parametrize("where", [w for w, s in SHELL if MOUNT.search(s)])
def test_documented_container_mounts_exist_from_the_root(where: str) -> None:
    source = dict(SHELL)[where]
    for folder in MOUNT.findall(source):
        assert load_paths([ROOT / folder])


def test_the_shell_examples_are_collected() -> None:
    assert len(_commands()) >= 5 and "css chaos/throttled" in " ".join(c for _, c in _commands())
