"""The errors mockserver raises, all under one root.

    MockServerError
     └── ScenarioError   a scenario file or dict is invalid; carries one Problem per finding

Every message names where (file:line:col and the field path), what was found and what would be
valid, because the reader is fixing a YAML file, not debugging our code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MockServerError", "Problem", "ScenarioError", "TemplateRenderError", "TemplateSyntaxError"]


class MockServerError(Exception):
    """Root of every error mockserver raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding in a scenario source: where it is, what was found, what is valid."""

    source: str
    line: int | None
    col: int | None
    field: str
    message: str
    warning: bool = False  # legitimate in some setups: reported, never refused

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        kind = "warning: " if self.warning else ""
        return f"{where}: {kind}{self.field}: {self.message}"


class ScenarioError(MockServerError):
    """A scenario could not be loaded; ``problems`` lists every finding, one per line of str()."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateSyntaxError(ValueError):
    """A template refused at load; the message says what was found and what is valid."""


class TemplateRenderError(ValueError):
    """A template that failed on one request (arithmetic on a missing value, a division by zero)."""
