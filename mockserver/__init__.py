"""mockserver: an HTTP test double that replays YAML scenarios faithfully.

The public API is what ``__all__`` lists; everything else may change. Names are imported on
first use: the pytest plugin (``mockserver.pytest_plugin``) is loaded by every pytest run of
every project that installs us, and must not pay for aiohttp and pydantic until a test needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app.server import MockServer
    from .assertions import MockAssertionError
    from .catalogue import CATALOGUE, reason_phrase
    from .control.remote import ControlAPIError, RemoteMockServer
    from .engine import Engine, Resolution
    from .errors import MockServerError, Problem, ScenarioError
    from .journal import Entry, Journal
    from .request import RequestSnapshot
    from .scenario import Rule, Scenario, load_paths, load_scenario

_HOME = {
    "CATALOGUE": "catalogue",
    "ControlAPIError": "control.remote",
    "Engine": "engine",
    "Entry": "journal",
    "Journal": "journal",
    "MockAssertionError": "assertions",
    "MockServer": "app.server",
    "MockServerError": "errors",
    "Problem": "errors",
    "RemoteMockServer": "control.remote",
    "RequestSnapshot": "request",
    "Resolution": "engine",
    "Rule": "scenario",
    "Scenario": "scenario",
    "ScenarioError": "errors",
    "load_paths": "scenario",
    "load_scenario": "scenario",
    "reason_phrase": "catalogue",
}

__all__ = [
    "CATALOGUE",
    "ControlAPIError",
    "Engine",
    "Entry",
    "Journal",
    "MockAssertionError",
    "MockServer",
    "MockServerError",
    "Problem",
    "RemoteMockServer",
    "RequestSnapshot",
    "Resolution",
    "Rule",
    "Scenario",
    "ScenarioError",
    "load_paths",
    "load_scenario",
    "reason_phrase",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
