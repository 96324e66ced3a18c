"""Every example in README.md and docs/ runs here: YAML loads, Python runs, shell transcripts match."""

from __future__ import annotations

import re
import shlex

import pytest

from mockserver.cli import main
from mockserver.scenario import load_text
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
