"""What a template may name: the roots of its data, the request's fields, the callables, and the
path parameters it reads (checked against the rule's path at load). Shared by the template front
(templating.py) and the sandbox that enforces them (sandbox.py), without Jinja2."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CALLABLE", "REQUEST_FIELDS", "ROOTS", "Read"]

# item and collection are None until resources exist (issue 15, part 2); they are reserved names
ROOTS = ("path", "query", "query_all", "headers", "json", "form", "body", "request", "now", "random",
         "item", "collection")
REQUEST_FIELDS = ("method", "path", "query_string", "id", "client", "body")
CALLABLE = {"query": ("getall",), "form": ("getall",), "random": ("int", "uniform", "choice")}


@dataclass(frozen=True, slots=True)
class Read:
    """A path parameter a template reads, for the load-time check against the rule's path."""

    root: str
    key: str | None
    has_fallback: bool
    text: str
