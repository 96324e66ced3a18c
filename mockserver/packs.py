"""The built-in scenarios, served by name: ``mockserver serve css css/chaos/throttled``.

They live at the top of the repository (``scenarios/``) and ship in the wheel as
``mockserver/scenarios/``, so a name means the same thing in a checkout and after ``pip install``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["BUILTIN_DIR", "SCENARIO_SUFFIXES", "builtin_names", "resolve"]

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


def _builtin_dir() -> Path:
    installed = Path(__file__).parent / "scenarios"  # a wheel
    return installed if installed.is_dir() else Path(__file__).parent.parent / "scenarios"  # a checkout


BUILTIN_DIR = _builtin_dir()


def builtin_names() -> list[str]:
    """Every name ``resolve`` accepts: folders (a pack) and files (one scenario), without suffix."""
    names = []
    for path in sorted(BUILTIN_DIR.rglob("*")):
        if path.is_dir() or path.suffix in SCENARIO_SUFFIXES:
            names.append(path.relative_to(BUILTIN_DIR).with_suffix("").as_posix())
    return names


def resolve(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Paths as given, except that one naming nothing on disk may name a built-in scenario.

    A name is looked up first beside the last built-in pack named (so ``css chaos/throttled`` is
    the CSS pack's overlay), then from the top (``chaos/throttled`` alone is the generic example).
    A name that is neither stays as it is, for the loader to report.
    """
    out: list[Path] = []
    base: Path | None = None
    for raw in paths:
        path = Path(raw)
        if path.exists() or path.is_absolute():
            out.append(path)
            continue
        found = None
        for root in (base, BUILTIN_DIR):
            if root is not None and (found := _lookup(root, path)) is not None:
                break
        if found is None:
            out.append(path)
            continue
        out.append(found)
        if found.is_dir():
            base = found
    return out


def _lookup(root: Path, name: Path) -> Path | None:
    candidate = root / name
    if ".." in name.parts:
        return None  # names stay inside the built-in folder
    if candidate.is_dir() or (candidate.is_file() and candidate.suffix in SCENARIO_SUFFIXES):
        return candidate
    for suffix in SCENARIO_SUFFIXES:
        if (file := candidate.with_name(candidate.name + suffix)).is_file():
            return file
    return None
