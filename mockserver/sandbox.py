"""The Jinja2 side of templates (templating.py): the sandbox, its data wrappers, the load-time
checks and the render contexts.

A module of its own so that Jinja2 loads with the first template compiled: a scenario without
templates never imports it (about 2 MB of a serving process, docs/performance.md case 6).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context as RenderContext
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from . import rng
from .errors import TemplateRenderError, TemplateSyntaxError
from .matching import form_fields
from .request import NO_JSON, RequestSnapshot
from .template_names import CALLABLE, REQUEST_FIELDS, ROOTS, Read

if TYPE_CHECKING:
    from .templating import Context

__all__ = ["ENV", "Compiled", "RenderContext", "json_default", "render_context"]


class Missing(ChainableUndefined):
    """An absent query value, header, path parameter or JSON field: empty text, null in JSON, and
    ``| default(...)`` applies; arithmetic on it fails (a clear render error)."""

    __slots__ = ()


class _Safe:
    """A context object: its FIELDS are readable, its METHODS callable, nothing else."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    METHODS: ClassVar[tuple[str, ...]] = ()

    def lookup(self, name: str) -> Any:
        raise NotImplementedError


class _Values(_Safe):
    """Query or form values: ``query.lang`` and ``query['lang']`` are the first value,
    ``query.getall('tag')`` every value in request order."""

    METHODS = ("getall",)
    __slots__ = ("_pairs",)

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._pairs = pairs

    def lookup(self, name: str) -> Any:
        value = self._pairs.get(name)
        return Missing(name=name) if value is None else value

    def getall(self, name: str) -> list[str]:
        getall = getattr(self._pairs, "getall", None)
        if getall is not None:
            return list(getall(name, []))
        value = self._pairs.get(name)
        return [] if value is None else [value]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self._pairs))

    def __json__(self) -> Any:
        return {name: self.getall(name) for name in self}


class _Form(_Values):
    """Form fields, parsed on first use (most templates never read them)."""

    __slots__ = ("_request",)

    def __init__(self, request: RequestSnapshot) -> None:
        self._request = request
        self._pairs: Mapping[str, str] | None = None  # type: ignore[assignment]

    def _fields(self) -> Mapping[str, str]:
        if self._pairs is None:
            self._pairs = form_fields(self._request) or {}
        return self._pairs

    def lookup(self, name: str) -> Any:
        value = self._fields().get(name)
        return Missing(name=name) if value is None else value

    def getall(self, name: str) -> list[str]:
        self._fields()
        return super().getall(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self._fields()))


class _AllValues(_Safe):
    """``query_all.tag``: the list of every value (empty when absent)."""

    __slots__ = ("_values",)

    def __init__(self, values: _Values) -> None:
        self._values = values

    def lookup(self, name: str) -> Any:
        return self._values.getall(name)


class _Request(_Safe):
    FIELDS = REQUEST_FIELDS
    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def lookup(self, name: str) -> Any:
        req = self._ctx.request
        if name == "method":
            return req.method
        if name == "path":
            return req.path
        if name == "query_string":
            return req.raw_path.partition("?")[2]
        if name == "id":
            return self._ctx.request_id
        if name == "client":
            return req.client
        if name == "body":
            return req.body.decode("utf-8", "replace")
        return Missing(name=name)


class _Random(_Safe):
    """Seeded draws (rng.py): the same seed, request ordinal and draw number give the same value."""

    METHODS = ("int", "uniform", "choice")
    __slots__ = ("_count", "_ctx")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._count = 0

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        value = rng.uniforms(self._ctx.seed, f"template/{self._ctx.key}", self._ctx.ordinal, self._count)[0]
        self._count += 1
        return low + (high - low) * value

    def int(self, low: int, high: int) -> int:
        """A whole number from low to high, both included."""
        return min(high, low + int(self.uniform() * (high - low + 1)))

    def choice(self, items: Any) -> Any:
        seq = list(items)
        return seq[min(len(seq) - 1, int(self.uniform() * len(seq)))] if seq else None

    def lookup(self, name: str) -> Any:
        return Missing(name=name)


class _Environment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, narrowed to the data: see the module docstring."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Safe):
            if attribute in obj.METHODS:
                return getattr(obj, attribute)
            if obj.FIELDS and attribute not in obj.FIELDS:
                return Missing(name=attribute)
            return obj.lookup(attribute)
        if isinstance(obj, Mapping):
            return self.getitem(obj, attribute)
        if isinstance(obj, Undefined):
            return obj
        return Missing(name=attribute)  # a str's methods, an int's attributes: not data

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, _Safe):
            return obj.lookup(argument) if isinstance(argument, str) else Missing(name=str(argument))
        if isinstance(obj, Mapping):
            try:
                return obj[argument]
            except (KeyError, TypeError):
                return Missing(name=str(argument))
        if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice):
            try:
                return obj[argument]
            except IndexError:
                return Missing(name=str(argument))
        if isinstance(obj, Undefined):
            return obj
        return Missing(name=str(argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if __obj is safe_range or (isinstance(owner, _Safe)
                                   and getattr(__obj, "__name__", "") in owner.METHODS):
            return __obj(*args, **kwargs)
        raise SecurityError(f"{__obj!r} is not callable in a template")


def _finalize(value: Any) -> Any:
    """Text output: strings as they are, missing values empty, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Undefined):
        return ""
    return json.dumps(value, default=json_default)


def json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, _Values):
        return value.__json__()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON")


ENV = _Environment(undefined=StrictUndefined, finalize=_finalize, autoescape=False,
                   keep_trailing_newline=True)
ENV.globals.clear()
ENV.globals["range"] = safe_range


def _merge(base: Any, extra: Any) -> Any:
    """``item | merge({'status': '200'})``: a copy of a mapping with keys replaced (resources)."""
    if not isinstance(base, Mapping) or not isinstance(extra, Mapping):
        raise TypeError("merge: expected two mappings, as in item | merge({'status': '200'})")
    return {**base, **extra}


ENV.filters["merge"] = _merge


def _namespace(ctx: Context) -> dict[str, Any]:
    req = ctx.request
    query = _Values(req.query)
    body = req.body
    form: Any = _Form(req) if req.body else Missing(name="form")
    doc = req.json
    return {
        "path": ctx.params, "query": query, "query_all": _AllValues(query), "headers": req.headers,
        "json": Missing(name="json") if doc is NO_JSON else doc, "form": form,
        "body": body.decode("utf-8", "replace"), "request": _Request(ctx), "now": ctx.now,
        "random": _Random(ctx), "item": ctx.item, "collection": ctx.collection, "range": safe_range,
    }


def render_context(ctx: Context) -> RenderContext:
    """One Jinja2 context per request, shared by every template of a body: Environment.new_context
    merges the globals each time, which cost more than the templates themselves."""
    return RenderContext(ENV, _namespace(ctx), None, {})


_OLD_FALLBACK = re.compile(r"\|\s*('[^']*'|\"[^\"]*\"|[\w.-]+)\s*(?=\||\}\})")
_DASHED_HEADER = re.compile(r"headers\.([A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)+)")
_SINGLE = re.compile(r"^\{\{-?(.*?)-?\}\}$", re.S)


def _old_fallback_hint(source: str) -> str:
    for m in _OLD_FALLBACK.finditer(source):
        text = m.group(1)
        if text[0] in "'\"":
            text = text[1:-1]
        elif text in ENV.filters:
            continue
        literal = text if re.fullmatch(r"-?\d+(\.\d+)?", text) else repr(text)
        return (f"; the old fallback '| {m.group(1)}' is now a filter: write | default({literal}) "
                f"(as in {{{{ query.lang | default('en') }}}})")
    return ""


def _check(ast: nodes.Template, source: str, reads: list[Read]) -> None:
    """Refuse at load what would fail or reach too far at request time."""
    for tag in ast.find_all((nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
        raise TemplateSyntaxError(f"a template without {{% {type(tag).__name__.lower()} %}} "
                                  "(templates read the request, not other files)")
    unknown = sorted(meta.find_undeclared_variables(ast) - set(ROOTS) - {"range"})
    if unknown:
        dashed = _DASHED_HEADER.search(source)
        hint = (f" (a header with '-' in its name is headers[{dashed.group(1)!r}])" if dashed else "")
        raise TemplateSyntaxError(
            f"names from {', '.join(ROOTS)}, not {', '.join(repr(n) for n in unknown)}{hint}")
    guarded: set[int] = set()
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        if node.node is not None and (
                (isinstance(node, nodes.Filter) and node.name in ("default", "d"))
                or (isinstance(node, nodes.Test) and node.name in ("defined", "undefined"))):
            guarded.add(id(node.node))
    for found in ast.find_all((nodes.Getattr, nodes.Getitem)):
        access: nodes.Getattr | nodes.Getitem = found  # type: ignore[assignment]
        name = access.attr if isinstance(access, nodes.Getattr) else (
            access.arg.value if isinstance(access.arg, nodes.Const) and isinstance(access.arg.value, str)
            else None)
        if name is None:
            continue
        if name.startswith("_"):
            raise TemplateSyntaxError(
                f"keys of the data, not the attribute {name!r} (the sandbox refuses it)")
        if not isinstance(access.node, nodes.Name):
            continue
        root = access.node.name
        if root == "request" and name not in REQUEST_FIELDS:
            raise TemplateSyntaxError(
                f"request.<field> with one of {', '.join(REQUEST_FIELDS)}, not {name!r}")
        if root == "random" and name not in _Random.METHODS:
            raise TemplateSyntaxError(f"random.int(a, b), random.uniform(a, b) or random.choice(list), "
                                      f"not random.{name}")
        if root == "path":
            reads.append(Read("path", name, id(access) in guarded, f"{{{{ path.{name} }}}}"))
    tested = {r.key for r in reads if r.has_fallback}  # {% if path.x is defined %}{{ path.x }}...
    reads[:] = [Read(r.root, r.key, r.key in tested, r.text) for r in reads]
    for call in ast.find_all(nodes.Call):
        target = call.node
        if isinstance(target, nodes.Name) and target.name == "range":
            continue
        if (isinstance(target, nodes.Getattr) and isinstance(target.node, nodes.Name)
                and target.attr in CALLABLE.get(target.node.name, ())):
            continue
        raise TemplateSyntaxError(
            "calls only of range(...), query.getall(name), form.getall(name) and random.int/uniform/choice; "
            "filters do the rest (| default('x'), | int, | join(',')), not a call of something else")


class Compiled:
    """A string template compiled by the sandbox; a string that is one expression keeps its value's type."""

    __slots__ = ("_root", "_single", "_template", "_text", "source")

    def __init__(self, source: str, reads: list[Read]) -> None:
        self.source = source
        try:
            ast = ENV.parse(source)
            _check(ast, source, reads)
            self._template = ENV.from_string(ast)
        except TemplateSyntaxError:
            raise
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (template line {line})" if line and "\n" in source else ""
            message = (exc.message or "").rstrip(".")
            raise TemplateSyntaxError(
                f"a Jinja2 template{where}: {message}{_old_fallback_hint(source)}") from None
        self._single = False
        self._text: Callable[[RenderContext], Iterator[str]] = self._template.root_render_func
        self._root = self._text
        m = _SINGLE.match(source)
        body = ast.body
        if (m is not None and len(body) == 1 and isinstance(body[0], nodes.Output)
                and len(body[0].nodes) == 1 and not isinstance(body[0].nodes[0], nodes.TemplateData)):
            expression = ENV.compile_expression(m.group(1), undefined_to_none=False)
            self._root = expression._template.root_render_func  # sets the variable "result"
            self._single = True

    @property
    def single(self) -> bool:
        """Whether the whole string is one expression (in JSON it keeps the value's type)."""
        return self._single

    def value(self, ctx: Context, run: RenderContext | None = None) -> Any:
        """The value: native for one expression (None when missing), else the rendered text."""
        if not self._single:
            return self.render(ctx, run)
        run = run if run is not None else render_context(ctx)
        run.vars.clear()
        try:
            for _ in self._root(run):
                pass
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRenderError(f"{self.source!r}: {exc}") from None
        result = run.vars.get("result")
        return None if isinstance(result, Undefined) else result

    def render(self, ctx: Context, run: RenderContext | None = None) -> str:
        run = run if run is not None else render_context(ctx)
        run.vars.clear()
        try:
            return "".join(self._text(run))
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRenderError(f"{self.source!r}: {exc}") from None
