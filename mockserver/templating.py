"""Response templates on Jinja2's immutable sandbox, compiled once when a scenario loads.

Why Jinja2: arithmetic, conditionals, loops and filters (pagination in one template) from a
well-kept engine rather than a hand-written one. Why a stricter sandbox than Jinja2's own: a
scenario file may read the request it answers and nothing else. Attribute access reaches only
the keys of the data (``json.items`` is the key "items", never ``dict.items``) and the declared
fields of the context objects; the only callables are ``range``, ``query.getall`` (and
``form.getall``) and the seeded ``random`` draws. Unknown names, unknown fields, calls and
old-syntax fallbacks are refused at load, where the loader can say file:line:col.

This module is the face the rest of the code uses; Jinja2 itself (sandbox.py) loads with the
first template compiled, so a scenario without templates never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import TemplateRenderError, TemplateSyntaxError
from .request import RequestSnapshot
from .template_names import ROOTS, Read

if TYPE_CHECKING:
    from .sandbox import Compiled, RenderContext

__all__ = ["ROOTS", "Context", "JsonTemplate", "Read", "Template", "TemplateRenderError",
           "TemplateSyntaxError", "has_template"]


@dataclass(frozen=True, slots=True)
class Context:
    """What a template may read: the request, its path parameters, the request id, the server
    clock, the seed and ordinal of the seeded draws; item/collection are reserved for resources."""

    request: RequestSnapshot
    params: Mapping[str, str]
    request_id: str
    now: float = 0.0
    seed: int = 0
    ordinal: int = 0
    key: str = ""  # the rule's counter: draws differ between rules under one seed
    item: Any = None
    collection: Any = None


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text


class Template:
    """A string template, compiled once (by the sandbox); a string that is one expression keeps
    its value's type."""

    __slots__ = ("_compiled", "reads", "source", "warnings")

    def __init__(self, source: str) -> None:
        from .sandbox import Compiled  # Jinja2 loads with the first template

        self.source = source
        self.reads: list[Read] = []
        self.warnings: list[str] = []
        self._compiled: Compiled = Compiled(source, self.reads)

    @property
    def single(self) -> bool:
        """Whether the whole string is one expression (in JSON it keeps the value's type)."""
        return self._compiled.single

    def value(self, ctx: Context, run: RenderContext | None = None) -> Any:
        """The value: native for one expression (None when missing), else the rendered text."""
        return self._compiled.value(ctx, run)

    def render(self, ctx: Context, run: RenderContext | None = None) -> str:
        return self._compiled.render(ctx, run)


@dataclass(slots=True)
class JsonTemplate:
    """A JSON document whose strings may be templates; rendered to bytes per request."""

    document: Any
    templates: list[Template] = field(default_factory=list)
    _build: Callable[[Context, RenderContext], Any] = field(init=False)
    _context: Callable[[Context], RenderContext] = field(init=False)
    _default: Callable[[Any], Any] = field(init=False)

    def __post_init__(self) -> None:
        from .sandbox import json_default, render_context  # Jinja2 loads with the first template

        self._context, self._default = render_context, json_default
        self._build = self._compile(self.document)

    @classmethod
    def needed(cls, document: Any) -> bool:
        if isinstance(document, str):
            return has_template(document)
        if isinstance(document, dict):
            return any(cls.needed(k) or cls.needed(v) for k, v in document.items())
        if isinstance(document, list):
            return any(cls.needed(v) for v in document)
        return False

    def _compile(self, document: Any) -> Callable[[Context, RenderContext], Any]:
        if isinstance(document, str) and has_template(document):
            template = Template(document)
            self.templates.append(template)
            return template.value
        if isinstance(document, dict):
            items = [(self._key(k) if has_template(k) else k, self._compile(v)) for k, v in document.items()]

            def mapping(ctx: Context, names: RenderContext) -> Any:
                return {(k.render(ctx, names) if isinstance(k, Template) else k): build(ctx, names)
                        for k, build in items}

            return mapping
        if isinstance(document, list):
            builders = [self._compile(v) for v in document]
            return lambda ctx, names: [build(ctx, names) for build in builders]
        return lambda ctx, names: document

    def _key(self, text: str) -> Template:
        template = Template(text)
        self.templates.append(template)
        return template

    def render(self, ctx: Context) -> bytes:
        try:
            return json.dumps(self._build(ctx, self._context(ctx)), default=self._default).encode()
        except TypeError as exc:
            raise TemplateRenderError(str(exc)) from None
