"""``mockserver serve`` logs a scenario's warnings on stderr and serves the scenario anyway."""

from __future__ import annotations

import requests

from tests.conftest import DATA
from tests.control.conftest import serve


def test_serve_logs_warnings_and_serves() -> None:
    path = DATA / "warnings" / "legit.yaml"
    with serve(str(path)) as served:
        assert requests.post(served.url + "/coffee", timeout=5).text == "int int"
        warnings = [line for line in served.errors if "warning:" in line]
    assert warnings == [f"mockserver: {path}:{line}" for line in (
        "2:13: warning: applies_to: found 'payments', not loaded (loaded: none); expected the name of a "
        "loaded scenario or *; quiet: [applies_to] silences this",)]
