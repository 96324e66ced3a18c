"""The core loads without the file format or the wire: importing it pulls in no pydantic, yaml or aiohttp.

import-linter checks the import graph statically (pyproject.toml); this checks what really lands
in sys.modules, lazy imports and re-exports included, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CORE = ("assertions", "catalogue", "chaos", "clock", "conditional", "deadline", "delays", "durations",
        "engine", "errors", "journal", "matching", "packs", "request", "responses", "rng", "rules",
        "sandbox", "signature", "state", "template_names", "templating")
HEAVY = ("aiohttp", "pydantic", "pydantic_core", "yaml")
BENCH = Path(__file__).parents[2] / "bench" / "scenarios"


def _loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    probe = code + (
        "\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          check=True)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_core_loads_no_pydantic_yaml_or_aiohttp() -> None:
    code = "\n".join(f"import mockserver.{name}" for name in CORE)
    assert _loaded_after(code) == []


def test_the_probe_sees_the_loader_import_pydantic_and_yaml() -> None:
    # the check above can fail: importing the loading layer does load them
    loaded = _loaded_after("import mockserver.scenario")
    assert "pydantic" in loaded and "yaml" in loaded


def test_jinja2_loads_with_the_first_template_only() -> None:
    """A scenario without templates is served without importing Jinja2 (about 2 MB of a serving
    process, docs/performance.md); the first template loads it."""
    plain = ("from mockserver.scenario import load_paths\nfrom mockserver.engine import Engine\n"
             f"import mockserver.cli\nEngine(load_paths([{str(BENCH / 'static.yaml')!r}]))\n")
    assert _loaded_after(plain, ("jinja2",)) == []
    templated = plain + f"load_paths([{str(BENCH / 'templated.yaml')!r}])\n"
    assert "jinja2" in _loaded_after(templated, ("jinja2",))

