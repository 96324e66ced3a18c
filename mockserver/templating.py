"""Response templates: ``{{ path.id }}``, ``{{ query.limit | 10 }}``, ``{{ headers.X-Trace }}``.

Deliberately not a general template engine: an expression is a dotted lookup into the request
(path, query, query_all, headers, json, request) with an optional literal fallback after ``|``. There is no
attribute access, no call and no file access, so a scenario file cannot reach anything but the
request it answers. Unknown roots are load-time errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .request import NO_JSON, RequestSnapshot, json_lookup

__all__ = ["Context", "JsonTemplate", "Template", "TemplateSyntaxError", "has_template"]

ROOTS = ("path", "query", "query_all", "headers", "json", "request")
REQUEST_FIELDS = ("method", "path", "query_string", "id", "client", "body")
_EXPR = re.compile(r"\{\{(.*?)\}\}", re.S)
_LOOKUP = re.compile(r"^\s*([a-z_]+)(?:\.([^|\s]+))?\s*(?:\|\s*(.*?))?\s*$", re.S)


# names of Jinja2 filters: after | they are read as literal fallback text, which is rarely meant
_FILTER_NAMES = frozenset({
    "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int", "join", "json",
    "last", "length", "list", "lower", "replace", "round", "safe", "string", "sum", "title", "tojson",
    "trim", "upper", "urlencode"})
_CALL = re.compile(r"^[A-Za-z_]\w*\s*\(.*\)$", re.S)


class TemplateSyntaxError(ValueError):
    """An expression that is not a known lookup; the message lists what is valid."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a template may read: the request, its path parameters and its request id."""

    request: RequestSnapshot
    params: Mapping[str, str]
    request_id: str


def has_template(text: str) -> bool:
    return "{{" in text


Lookup = Callable[[Context], tuple[bool, Any]]


def _compile_lookup(expr: str) -> tuple[Lookup, str | None]:
    m = _LOOKUP.match(expr)
    if m is None:
        raise TemplateSyntaxError(f"a lookup such as path.id or query.limit | 10, not {expr.strip()!r}")
    root, key, fallback = m.group(1), m.group(2), m.group(3)
    if root not in ROOTS:
        raise TemplateSyntaxError(f"a lookup rooted at one of {', '.join(ROOTS)}, not {root!r}")
    if fallback is not None and len(fallback) >= 2 and fallback[0] == fallback[-1] and fallback[0] in "'\"":
        fallback = fallback[1:-1]
    elif fallback is not None and ("|" in fallback or _CALL.match(fallback)):
        raise TemplateSyntaxError(
            f"one literal fallback after |, not {fallback!r} (templates have no filters; "
            f"quote the text if you mean it: | '{fallback}')")
    if root == "json":
        path = key or ""

        def json_value(ctx: Context) -> tuple[bool, Any]:
            doc = ctx.request.json
            if doc is NO_JSON:
                return False, None
            return json_lookup(doc, path) if path else (True, doc)

        return json_value, fallback
    if key is None:
        raise TemplateSyntaxError(f"{root}.<name>, a {root} lookup needs a name")
    if root == "request":
        if key not in REQUEST_FIELDS:
            raise TemplateSyntaxError(f"request.<field> with one of {', '.join(REQUEST_FIELDS)}, not {key!r}")

        def request_field(ctx: Context) -> tuple[bool, Any]:
            req = ctx.request
            value = {"method": req.method, "path": req.path, "id": ctx.request_id, "client": req.client,
                     "query_string": req.raw_path.partition("?")[2],
                     "body": req.body.decode("utf-8", "replace")}[key]
            return True, value

        return request_field, fallback
    name = key
    if root == "query_all":
        def query_values(ctx: Context) -> tuple[bool, Any]:
            return True, ctx.request.query_values(name)  # a list, empty when the parameter is absent

        return query_values, fallback

    def mapping_value(ctx: Context) -> tuple[bool, Any]:
        source: Mapping[str, str] = (ctx.params if root == "path" else
                                     ctx.request.query if root == "query" else ctx.request.headers)
        value = source.get(name)
        return value is not None, value

    return mapping_value, fallback


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class Read:
    """What one expression reads, for load-time checks (a path parameter the path lacks)."""

    root: str
    key: str | None
    has_fallback: bool
    text: str


class Template:
    """A string with ``{{ ... }}`` expressions, compiled once."""

    __slots__ = ("parts", "reads", "source", "warnings")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str | tuple[Lookup, str | None]] = []
        self.reads: list[Read] = []
        self.warnings: list[str] = []
        pos = 0
        for m in _EXPR.finditer(source):
            if m.start() > pos:
                self.parts.append(source[pos:m.start()])
            self.parts.append(_compile_lookup(m.group(1)))
            found = _LOOKUP.match(m.group(1))
            assert found is not None  # _compile_lookup refused anything else
            self.reads.append(Read(found.group(1), found.group(2), found.group(3) is not None, m.group(0)))
            if found.group(3) in _FILTER_NAMES:
                self.warnings.append(
                    f"{m.group(0)} answers the text {found.group(3)!r} when the value is absent: "
                    f"templates have no filters; write | '{found.group(3)}' to mean the text")
            pos = m.end()
        if pos < len(source):
            self.parts.append(source[pos:])

    @property
    def single(self) -> tuple[Lookup, str | None] | None:
        """The lookup when the whole string is one expression (JSON keeps the value's type)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple):
            return self.parts[0]
        return None

    def render(self, ctx: Context) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                found, value = part[0](ctx)
                out.append(_text(value) if found else (part[1] or ""))
        return "".join(out)


class JsonTemplate:
    """A JSON document whose strings may hold expressions; rendered to bytes per request."""

    __slots__ = ("_build", "templates")

    def __init__(self, document: Any) -> None:
        self.templates: list[Template] = []
        self._build = self._compile(document)

    @classmethod
    def needed(cls, document: Any) -> bool:
        if isinstance(document, str):
            return has_template(document)
        if isinstance(document, dict):
            return any(cls.needed(k) or cls.needed(v) for k, v in document.items())
        if isinstance(document, list):
            return any(cls.needed(v) for v in document)
        return False

    def _compile(self, document: Any) -> Callable[[Context], Any]:
        if isinstance(document, str) and has_template(document):
            template = Template(document)
            self.templates.append(template)
            single = template.single
            if single is not None:
                lookup, fallback = single

                def one(ctx: Context) -> Any:
                    found, value = lookup(ctx)
                    return value if found else fallback

                return one
            return template.render
        if isinstance(document, dict):
            items = [(self._key(k) if has_template(k) else k, self._compile(v)) for k, v in document.items()]

            def mapping(ctx: Context) -> Any:
                return {(k.render(ctx) if isinstance(k, Template) else k): build(ctx) for k, build in items}

            return mapping
        if isinstance(document, list):
            builders = [self._compile(v) for v in document]
            return lambda ctx: [build(ctx) for build in builders]
        return lambda ctx: document

    def _key(self, text: str) -> Template:
        template = Template(text)
        self.templates.append(template)
        return template

    def render(self, ctx: Context) -> bytes:
        return json.dumps(self._build(ctx)).encode()
