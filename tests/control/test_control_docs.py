"""docs/control-api.md and docs/container.md: shell examples run, tables match the code.

Each ```sh block runs in order in one scratch folder, with $MOCK set to the server's URL; when
a ```json or ```text block follows it, that is what it must print (JSON compared as values).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver import MockServer
from mockserver.control.api import ERRORS, PREFIX
from tests.conftest import ROOT
from tests.control.conftest import serve

DOC = ROOT / "docs" / "control-api.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```\n", re.S | re.M)


def examples() -> tuple[str, list[tuple[str, str | None, str | None]]]:
    text = DOC.read_text()
    blocks = [(m.group(1), m.group(2), m.end(), m.start()) for m in FENCE.finditer(text)]
    hello = next(body for lang, body, _, _ in blocks if lang == "yaml" and body.startswith("# hello.yaml"))
    out: list[tuple[str, str | None, str | None]] = []
    for i, (lang, body, end, _) in enumerate(blocks):
        if lang != "sh":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        adjacent = following is not None and text[end:following[3]].strip() == ""
        if following is not None and adjacent and following[0] in ("json", "text"):
            out.append((body, following[0], following[1]))
        else:
            out.append((body, None, None))
    return hello, out


def json_values(text: str) -> list[object]:
    decoder = json.JSONDecoder()
    values, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        if isinstance(value, dict) and isinstance(value.get("pid"), int):
            value["pid"] = "a process id"  # health says which process answered: the docs show one
        values.append(value)
    return values


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                    reason="needs bash and curl")
def test_shell_examples_of_the_control_api(tmp_path: Path) -> None:
    hello, steps = examples()
    assert len(steps) >= 4
    (tmp_path / "hello.yaml").write_text(hello)
    with serve(str(tmp_path / "hello.yaml")) as served:
        for script, kind, expected in steps:
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, text=True,
                                  capture_output=True, timeout=30, check=False,
                                  env={**os.environ, "MOCK": served.url})
            assert proc.returncode == 0, f"{script}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            if kind == "json":
                assert json_values(proc.stdout) == json_values(expected or ""), script
            elif kind == "text":
                assert proc.stdout == expected, script


def test_error_table_is_the_code_table() -> None:
    rows = re.findall(r"^\| (\d{3}) \| `(\w+)` \|", DOC.read_text(), re.M)
    assert {(int(status), code) for status, code in rows} == {(s, c) for c, (s, _) in ERRORS.items()}


def test_every_endpoint_is_in_the_table() -> None:
    rows = set(re.findall(r"^\| `(GET|POST|PUT|DELETE) (/__mock/[^` \[]*)", DOC.read_text(), re.M))
    server = MockServer({"name": "t", "rules": [{"respond": {}}]})
    assert rows == {(r.method, PREFIX + r.path) for r in server.control_api()[0].routes}


def test_documented_options_and_variables_are_the_cli_ones() -> None:
    # the settings table (config.py) spells the variables the command line reads
    cli = (ROOT / "mockserver" / "cli.py").read_text() + (ROOT / "mockserver" / "config.py").read_text()
    help_text = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True,
                               text=True, cwd=ROOT, timeout=30, check=True).stdout
    for doc in (DOC, ROOT / "docs" / "container.md"):
        text = doc.read_text()
        variables = set(re.findall(r"`(MOCKSERVER_[A-Z_]+)", text))
        assert variables and all(f'"{v}"' in cli for v in variables), sorted(v for v in variables
                                                                              if f'"{v}"' not in cli)
        table = "\n".join(line for line in text.splitlines() if line.startswith("|"))
        flags = set(re.findall(r"`(--[a-z-]+)", table))
        assert flags and all(flag in help_text for flag in flags), flags
    documented = set(re.findall(r"`(MOCKSERVER_[A-Z_]+)`", (ROOT / "docs" / "container.md").read_text()))
    assert documented >= set(re.findall(r'"(MOCKSERVER_[A-Z_]+)"', cli))
