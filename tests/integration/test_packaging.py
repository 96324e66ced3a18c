"""The wheel a user installs: every package, and the built-in scenarios served by name from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (found,) = out.glob("mockserver-*.whl")
    return found


def test_the_wheel_holds_every_module_and_every_shipped_scenario(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mockserver").rglob("*.py")}
    assert modules - names == set()  # pyproject lists packages by name: a new one must be added
    shipped = {"mockserver/" + p.relative_to(ROOT).as_posix()
               for p in (ROOT / "scenarios").rglob("*") if p.is_file()}
    assert len(shipped) >= 15 and shipped - names == set()


def test_built_in_names_resolve_inside_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import mockserver.packs as p, sys; print(p.BUILTIN_DIR); "
            "from mockserver.cli import main; sys.exit(main(['validate', 'css', 'chaos/throttled']))")
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, result = done.stdout.splitlines()
    assert Path(where) == site / "mockserver" / "scenarios"
    assert result.startswith("ok: 4 scenario(s), ")  # the pack's three files and its overlay


def test_every_data_folder_is_named_as_a_package() -> None:
    """setuptools warns "Package would be ignored" on every install for a folder of data that
    pyproject.toml leaves out of its package list (a new scenario pack, say)."""
    import tomllib

    named = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    shipped = ROOT / "scenarios"
    folders = {".".join(("mockserver.scenarios", *p.relative_to(shipped).parts))
               for p in [shipped, *shipped.rglob("*")] if p.is_dir()}
    folders |= {".".join(p.relative_to(ROOT).parts) for p in (ROOT / "mockserver").rglob("*")
                if p.is_dir() and p.name != "__pycache__"}
    assert folders - named == set()
