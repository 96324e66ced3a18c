"""mockserver: an HTTP test double that replays YAML scenarios faithfully.

The public API is what ``__all__`` lists; everything else may change.
"""

from .catalogue import CATALOGUE, reason_phrase
from .engine import Engine, Resolution
from .errors import MockServerError, Problem, ScenarioError
from .journal import Entry, Journal
from .request import RequestSnapshot
from .scenario import Rule, Scenario, load_paths, load_scenario
from .server import MockServer

__all__ = [
    "CATALOGUE",
    "Engine",
    "Entry",
    "Journal",
    "MockServer",
    "MockServerError",
    "Problem",
    "RequestSnapshot",
    "Resolution",
    "Rule",
    "Scenario",
    "ScenarioError",
    "load_paths",
    "load_scenario",
    "reason_phrase",
]
