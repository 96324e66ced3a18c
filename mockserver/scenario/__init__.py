"""Loading: YAML/JSON scenario files in, compiled rules out, or every problem at once.

The only layer that imports pydantic and PyYAML: ``schema`` is the file format, ``source``
reads YAML with positions, ``load`` compiles it. The compiled types live in the core
(``mockserver.rules``) and are re-exported here for users.
"""

from ..rules import Branch, Rule, RuntimeFault, Scenario, WebSocketStep
from .load import (
    BUILTIN_DIR,
    MAX_SCENARIO_BYTES,
    duplicate_names,
    load_document,
    load_paths,
    load_runtime_fault,
    load_scenario,
    load_text,
)

__all__ = [
    "BUILTIN_DIR",
    "MAX_SCENARIO_BYTES",
    "Branch",
    "Rule",
    "RuntimeFault",
    "Scenario",
    "WebSocketStep",
    "duplicate_names",
    "load_document",
    "load_paths",
    "load_runtime_fault",
    "load_scenario",
    "load_text",
]
