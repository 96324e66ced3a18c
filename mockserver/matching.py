"""Request matching: path templates, value matchers, and the index that avoids scanning rules.

A matcher answers two questions. ``match()`` is the hot path: params on success, None on a miss,
no allocation for the explanation. ``explain()`` is the slow path used only for unmatched
requests, the journal and assertion messages: it lists what did not match, field by field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from multidict import MultiDict

from .request import NO_JSON, RequestSnapshot, json_lookup
from .signature import SignatureMatcher

__all__ = [
    "BodyMatcher",
    "Closeness",
    "JsonMatcher",
    "PathPattern",
    "PathRegex",
    "PathTemplate",
    "RequestMatcher",
    "RuleIndex",
    "TemplateError",
    "ValueMatcher",
    "ValuesMatcher",
    "form_fields",
]


class TemplateError(ValueError):
    """A path template that cannot be compiled; the message says what is valid."""


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


@dataclass(frozen=True, slots=True)
class _Segment:
    literal: str | None          # exact text, or None when the segment captures
    regex: re.Pattern[str] | None  # for mixed segments such as {name}.json
    name: str | None             # a whole-segment parameter
    tail: bool = False           # {name:path}: the rest of the path, slashes included


class PathTemplate:
    """``/v1.0/{project_id}/clusters/{id}``: literal segments and ``{param}`` captures.

    ``{name:path}`` as the last segment captures the rest of the path, slashes included.
    """

    __slots__ = ("_literal", "_regex", "names", "segments", "text")

    def __init__(self, text: str, segments: tuple[_Segment, ...], names: tuple[str, ...]) -> None:
        self.text = text
        self.segments = segments
        self.names = names
        # the hot path: a literal compare, or one compiled regex for the whole path, made on the
        # first match (a 1,000-rule file starts without compiling a regex per rule)
        self._literal = text if not names else None
        self._regex: re.Pattern[str] | None = None

    def _compile_regex(self) -> re.Pattern[str]:
        pattern = ""
        for seg in self.segments:
            if seg.literal is not None:
                pattern += "/" + re.escape(seg.literal)
            elif seg.tail:
                pattern += f"/(?P<{seg.name}>.*)"
            elif seg.name is not None:
                pattern += f"/(?P<{seg.name}>[^/]+)"
            elif seg.regex is not None:
                pattern += "/" + seg.regex.pattern.removesuffix(r"\Z")
        self._regex = re.compile(pattern + r"\Z", re.S)
        return self._regex

    @classmethod
    def compile(cls, text: str) -> PathTemplate:
        """The template for *text* (TemplateError when malformed), parsed afresh: the scenario
        compiler keeps the templates of the rules it compiles (no cache here outlives a load)."""
        parts = text.split("/")[1:]
        segments: list[_Segment] = []
        names: list[str] = []
        for index, part in enumerate(parts):
            found = list(_PARAM.finditer(part))
            leftover = _PARAM.sub("", part)
            if "{" in leftover or "}" in leftover:
                raise TemplateError(f"a template whose parameters look like {{name}} (segment {part!r})")
            for m in found:
                if m.group(1) in names:
                    raise TemplateError(f"parameter names used once each ({m.group(1)!r} repeats)")
                names.append(m.group(1))
            if not found:
                segments.append(_Segment(part, None, None))
            elif len(found) == 1 and found[0].group(0) == part:
                tail = found[0].group(2) == "path"
                if tail and index != len(parts) - 1:
                    raise TemplateError("{name:path} only as the last segment")
                segments.append(_Segment(None, None, found[0].group(1), tail))
            else:
                if any(m.group(2) for m in found):
                    raise TemplateError("{name:path} as a whole segment")
                pattern, pos = "", 0
                for m in found:
                    pattern += re.escape(part[pos:m.start()]) + f"(?P<{m.group(1)}>[^/]+?)"
                    pos = m.end()
                pattern += re.escape(part[pos:])
                segments.append(_Segment(None, re.compile(pattern + r"\Z"), None))
        return cls(text, tuple(segments), tuple(names))

    def match(self, path: str) -> dict[str, str] | None:
        if self._literal is not None:
            return {} if path == self._literal else None
        m = (self._regex or self._compile_regex()).match(path)
        return m.groupdict() if m is not None else None

    def closeness(self, path: str, probe: Closeness | None = None) -> float:
        """How near *path* comes to matching, from 0 to 1 (1 when it matches), for near misses.

        An edit distance over segments: a missing or extra segment costs 1, a parameter takes
        any one segment (a ``{name:path}`` tail the rest), and a literal costs how much its
        spelling differs (Closeness.similar), so ``/order/7`` is close to ``/orders/{id}``.
        """
        if self.match(path) is not None:
            return 1.0
        probe = probe if probe is not None and probe.path == path else Closeness(path)
        segments = self.segments
        parts, extra = probe.parts, probe.extra
        if segments and segments[-1].tail and len(parts) >= len(segments):
            parts = [*parts[:len(segments) - 1], "/".join(parts[len(segments) - 1:])]
            extra = 0
        elif len(parts) + extra > 2 * len(segments) + 2:
            # far longer than the template: at best every segment of it lines up, the rest extra
            return len(segments) / (len(parts) + extra)
        similar = probe.similar
        # Levenshtein over segments, one row at a time
        previous = [float(j) for j in range(len(parts) + 1)]
        for i, seg in enumerate(segments):
            row = [i + 1.0]
            left = row[0]
            for j, part in enumerate(parts):
                if seg.literal is not None:
                    score = similar(seg.literal, part)
                elif seg.regex is not None:
                    score = 1.0 if seg.regex.match(part) else similar(self._skeleton(i), part)
                else:
                    score = 1.0 if part else 0.5  # a parameter takes any non-empty segment
                left = min(previous[j + 1] + 1.0, left + 1.0, previous[j] + 1.0 - score)
                row.append(left)
            previous = row
        distance = previous[-1] + extra
        return max(0.0, 1.0 - distance / max(len(segments), len(parts) + extra, 1))

    def _skeleton(self, index: int) -> str:
        # a mixed segment's literal text without its parameters ("{name}.json" -> ".json")
        return _PARAM.sub("", self.text.split("/")[1:][index])

    def __repr__(self) -> str:
        return self.text


_MAX_SEGMENTS = 64  # segments of a request path compared at all
_MAX_COMPARED = 32  # characters of a segment compared (the cost grows with the square)


class Closeness:
    """One unmatched request's path, split once, and the similarity of its segments to the
    literals of rules, remembered: rules share literals (``v1.0``, ``clusters``), so ranking a
    thousand rules costs a few hundred comparisons."""

    __slots__ = ("_known", "extra", "parts", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        parts = path.split("/", _MAX_SEGMENTS + 1)[1:]
        self.extra = 0
        if len(parts) > _MAX_SEGMENTS:  # the last item holds the rest, unsplit
            self.extra = parts.pop().count("/") + 1
        self.parts = parts
        self._known: dict[tuple[str, str], float] = {}

    def similar(self, a: str, b: str) -> float:
        """How alike two spellings are, 0 to 1: 0.83 for ``order`` and ``orders`` (see
        _similarity); 0 for texts so unlike in length that they are at most half alike."""
        if a == b:
            return 1.0
        if 2 * min(len(a), len(b)) < max(len(a), len(b)):
            return 0.0
        key = (a, b)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = _similarity(a[:_MAX_COMPARED], b[:_MAX_COMPARED])
        return known


def _similarity(a: str, b: str) -> float:
    # the characters a and b share at the start and at the end, over the longer length: exactly
    # 1 - Levenshtein distance / length for one slip (a letter missing, extra, wrong or two
    # swapped), less for several; linear, where a full edit distance is quadratic
    shorter = min(len(a), len(b))
    head = 0
    while head < shorter and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < shorter - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return (head + tail) / max(len(a), len(b))


class PathRegex:
    """A path given as a regular expression (searched from the start); named groups are params."""

    __slots__ = ("pattern", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pattern = re.compile(text)

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(path)
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}

    def closeness(self, path: str, probe: Closeness | None = None) -> float:
        """1 when the regex matches, else how alike its text and the path read (for near misses)."""
        if self.match(path) is not None:
            return 1.0
        probe = probe if probe is not None and probe.path == path else Closeness(path)
        return probe.similar(self.text, path)

    def __repr__(self) -> str:
        return f"regex {self.text}"


PathPattern = PathTemplate | PathRegex


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ValueMatcher:
    """One value test: equals, regex, contains, startswith, one_of, or present/absent."""

    __slots__ = ("kind", "pattern", "texts", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind
        self.value = value
        self.pattern = re.compile(value) if kind == "regex" else None
        self.texts = frozenset(_text(v) for v in value) if kind == "one_of" else frozenset()

    @classmethod
    def of(cls, spec: Any) -> ValueMatcher:
        """From a validated spec: a bare scalar, or a ValueMatchSpec."""
        if isinstance(spec, str | int | float | bool):
            return cls("equals", spec)
        for kind in ("equals", "regex", "contains", "startswith", "one_of", "present"):
            value = getattr(spec, kind)
            if value is not None:
                return cls(kind, value)
        raise AssertionError("validated spec has no test")  # pragma: no cover

    def check(self, actual: str | None) -> bool:
        """Test a text value (query parameter or header); None means absent."""
        kind = self.kind
        if kind == "present":
            return (actual is not None) is self.value
        if actual is None:
            return False
        if kind == "equals":
            return actual == _text(self.value)
        if kind == "regex":
            return self.pattern is not None and self.pattern.search(actual) is not None
        if kind == "contains":
            return self.value in actual
        if kind == "startswith":
            return actual.startswith(self.value)
        return actual in self.texts

    def check_json(self, actual: Any, present: bool) -> bool:
        """Test a JSON value, comparing typed values for equals and one_of."""
        if self.kind == "present":
            return present is self.value
        if not present:
            return False
        if self.kind == "equals":
            return (actual == self.value and type(actual) is type(self.value)) or (
                isinstance(actual, int | float) and not isinstance(actual, bool)
                and isinstance(self.value, int | float) and not isinstance(self.value, bool)
                and actual == self.value)
        if self.kind == "one_of":
            return any(actual == v for v in self.value)
        return self.check(actual if isinstance(actual, str) else _json_text(actual))

    def describe(self) -> str:
        if self.kind == "present":
            return "present" if self.value else "absent"
        return f"{self.kind} {self.value!r}"


class ValuesMatcher:
    """A test over every value of a repeated query parameter: ``any`` or ``all`` of them."""

    __slots__ = ("inner", "mode", "required")

    def __init__(self, mode: str, inner: ValueMatcher | None, required: tuple[str, ...] = ()) -> None:
        self.mode = mode          # "any" or "all"
        self.inner = inner        # the test each value is put to; None for all: [a, b]
        self.required = required  # all: [a, b]: each of these is among the values

    @classmethod
    def of(cls, mode: str, spec: Any) -> ValuesMatcher:
        if isinstance(spec, list):
            if mode == "any":
                return cls(mode, ValueMatcher("one_of", spec))
            return cls(mode, None, tuple(_text(v) for v in spec))
        return cls(mode, ValueMatcher.of(spec))

    def check_values(self, values: Sequence[str]) -> bool:
        inner = self.inner
        if self.mode == "any":
            return inner is not None and any(inner.check(v) for v in values)
        if inner is None:
            return all(text in values for text in self.required)
        return bool(values) and all(inner.check(v) for v in values)

    def describe(self) -> str:
        if self.inner is None:
            return f"all of {list(self.required)!r} among the values"
        return f"{self.mode} value {self.inner.describe()}"


def query_matcher(spec: Any) -> ValueMatcher | ValuesMatcher:
    """From a validated query spec: any/all look at every value, the rest at the first."""
    for mode in ("any", "all"):
        value = getattr(spec, f"{mode}_", None)
        if value is not None:
            return ValuesMatcher.of(mode, value)
    return ValueMatcher.of(spec)


def _json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def json_subset(expected: Any, actual: Any) -> bool:
    """Every key of *expected* is in *actual* with a matching value; lists match item by item."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            json_subset(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual and type(expected) is type(actual)) or (
        isinstance(expected, int | float) and isinstance(actual, int | float)
        and not isinstance(expected, bool) and not isinstance(actual, bool) and expected == actual)


class JsonMatcher:
    """Body conditions: a JSON subset and/or matchers on dotted paths."""

    __slots__ = ("paths", "subset")

    def __init__(self, subset: Any, paths: Mapping[str, ValueMatcher]) -> None:
        self.subset = subset
        self.paths = dict(paths)

    def misses(self, request: RequestSnapshot) -> list[str]:
        document = request.json
        if document is NO_JSON:
            return ["json: body is not JSON"]
        out = []
        if self.subset is not None and not json_subset(self.subset, document):
            out.append("json: body does not contain the expected subset")
        for path, matcher in self.paths.items():
            found, value = json_lookup(document, path)
            if not matcher.check_json(value, found):
                shown = repr(value) if found else "absent"
                out.append(f"json {path}: expected {matcher.describe()}, got {shown}")
        return out


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_DISPOSITION_NAME = re.compile(rb'(?:^|;)\s*name="([^"]*)"', re.I)


def form_fields(request: RequestSnapshot) -> MultiDict[str] | None:
    """The fields of a form body in request order (repeated names kept), or None when the body is
    not a form. Multipart parts give their text (a file part its content, decoded leniently)."""
    content_type = request.headers.get("Content-Type", "")
    kind = content_type.partition(";")[0].strip().lower()
    if kind == FORM_TYPES[0]:
        text = request.body.decode("utf-8", "replace")
        return MultiDict(parse_qsl(text, keep_blank_values=True))
    if kind != FORM_TYPES[1]:
        return None
    m = _BOUNDARY.search(content_type)
    if m is None:
        return None
    fields: MultiDict[str] = MultiDict()
    delimiter = b"--" + m.group(1).encode("latin-1")
    for part in request.body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the close delimiter
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-disposition:"):
                name = _DISPOSITION_NAME.search(line[20:])
                if name is not None:
                    value = content[:-2] if content.endswith(b"\r\n") else content
                    fields.add(name.group(1).decode("utf-8", "replace"), value.decode("utf-8", "replace"))
                break
    return fields


class BodyMatcher:
    """Form fields (urlencoded or multipart) and the raw body text (contains, regex, equals...)."""

    __slots__ = ("form", "form_values", "raw")

    def __init__(self, form: Mapping[str, ValueMatcher | ValuesMatcher] | None = None,
                 raw: ValueMatcher | None = None) -> None:
        items = (form or {}).items()
        self.form = tuple((k, m) for k, m in items if isinstance(m, ValueMatcher))
        self.form_values = tuple((k, m) for k, m in items if isinstance(m, ValuesMatcher))
        self.raw = raw

    def misses(self, request: RequestSnapshot) -> list[str]:
        out = []
        if self.raw is not None:
            text = request.body.decode("utf-8", "replace")
            if not self.raw.check(text):
                shown = repr(text[:60] + ("..." if len(text) > 60 else "")) if text else "empty"
                out.append(f"body: expected {self.raw.describe()}, got {shown}")
        if self.form or self.form_values:
            fields = form_fields(request)
            if fields is None:
                kind = request.headers.get("Content-Type", "").partition(";")[0].strip() or "none"
                return [*out, f"form: body is not a form (Content-Type {kind}; expected "
                              f"{' or '.join(FORM_TYPES)})"]
            for name, matcher in self.form:
                actual = fields.get(name)
                if not matcher.check(actual):
                    out.append(f"form {name}: expected {matcher.describe()}, got "
                               f"{repr(actual) if actual is not None else _absent(name, fields)}")
            for name, values in self.form_values:
                found = fields.getall(name, [])
                if not values.check_values(found):
                    out.append(f"form {name}: expected {values.describe()}, got "
                               f"{found!r}" if found else f"form {name}: expected {values.describe()}, "
                               f"got {_absent(name, fields)}")
        return out


def _absent(name: str, fields: Mapping[str, str]) -> str:
    """'absent', naming a field that differs only in case (form field names are case-sensitive)."""
    near = sorted({k for k in fields if k.lower() == name.lower()})
    return f"absent (the form has {', '.join(repr(k) for k in near)}: names are case-sensitive)" if near \
        else f"absent (fields: {', '.join(sorted(set(fields))) or 'none'})"


class RequestMatcher:
    """Everything a rule checks about a request, compiled once."""

    __slots__ = ("body", "headers", "json", "methods", "path", "query", "query_values", "signature")

    def __init__(
        self,
        methods: frozenset[str] | None = None,
        path: PathPattern | None = None,
        query: Mapping[str, ValueMatcher | ValuesMatcher] | None = None,
        headers: Mapping[str, ValueMatcher] | None = None,
        json: JsonMatcher | None = None,
        signature: SignatureMatcher | None = None,
        body: BodyMatcher | None = None,
    ) -> None:
        self.body = body
        self.methods = methods
        self.path = path
        items = (query or {}).items()
        self.query = tuple((k, m) for k, m in items if isinstance(m, ValueMatcher))
        self.query_values = tuple((k, m) for k, m in items if isinstance(m, ValuesMatcher))
        self.headers = tuple((headers or {}).items())
        self.json = json
        self.signature = signature

    def match(self, request: RequestSnapshot) -> dict[str, str] | None:
        """Path parameters when the request matches, else None. The hot path: no explanations."""
        if self.methods is not None and request.method not in self.methods:
            return None
        # query and headers before the path: they are lookups, the path may be a regex
        for name, matcher in self.query:
            if not matcher.check(request.query.get(name)):
                return None
        for name, values in self.query_values:
            if not values.check_values(request.query_values(name)):
                return None
        for name, matcher in self.headers:
            if not matcher.check(request.headers.get(name)):
                return None
        params: dict[str, str] | None = {} if self.path is None else self.path.match(request.path)
        if params is None:
            return None
        if self.json is not None and self.json.misses(request):
            return None
        if self.signature is not None and self.signature.problem(request) is not None:
            return None
        if self.body is not None and self.body.misses(request):
            return None
        return params

    def match_head(self, request: RequestSnapshot) -> bool:
        """Whether the request line and headers match, before any body has been read."""
        if self.methods is not None and request.method not in self.methods:
            return False
        if self.path is not None and self.path.match(request.path) is None:
            return False
        return all(m.check(request.query.get(n)) for n, m in self.query) and all(
            m.check_values(request.query_values(n)) for n, m in self.query_values) and all(
            m.check(request.headers.get(n)) for n, m in self.headers)

    def explain(self, request: RequestSnapshot) -> list[str]:
        """What did not match, one line per field; empty when the request matches."""
        out: list[str] = []
        if self.methods is not None and request.method not in self.methods:
            out.append(f"method: expected {'|'.join(sorted(self.methods))}, got {request.method}")
        if self.path is not None and self.path.match(request.path) is None:
            out.append(f"path: expected {self.path!r}, got {request.path}")
        for name, matcher in self.query:
            actual = request.query.get(name)
            if not matcher.check(actual):
                out.append(f"query {name}: expected {matcher.describe()}, got "
                           f"{'absent' if actual is None else repr(actual)}")
        for name, values in self.query_values:  # repeated parameters (any/all)
            found = request.query_values(name)
            if not values.check_values(found):
                out.append(f"query {name}: expected {values.describe()}, got {found or 'absent'!r}")
        for name, matcher in self.headers:
            actual = request.headers.get(name)
            if not matcher.check(actual):
                out.append(f"header {name}: expected {matcher.describe()}, got "
                           f"{'absent' if actual is None else repr(actual)}")
        if self.json is not None:
            out.extend(self.json.misses(request))
        if self.body is not None:
            out.extend(self.body.misses(request))
        if self.signature is not None:
            problem = self.signature.problem(request)
            if problem is not None:
                out.append(problem)
        return out

    def allows_path(self, path: str) -> bool:
        return self.path is None or self.path.match(path) is not None

    def closeness(self, request: RequestSnapshot, probe: Closeness | None = None) -> float:
        """How near the request comes to this rule's path and method, to rank near misses: the
        path's closeness (PathTemplate.closeness), less a tenth when the method differs."""
        score = 1.0 if self.path is None else self.path.closeness(request.path, probe)
        if self.methods is not None and request.method not in self.methods:
            score -= 0.1
        return score


class _Node:
    __slots__ = ("literal", "param", "rules", "tail")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.rules: list[int] = []
        self.tail: list[int] = []


class RuleIndex:
    """Finds the rules that could match a path without testing every rule.

    Template paths live in a trie keyed by literal segments; regex paths are tested once per
    distinct path (the result is cached with the rest); path-less rules are always candidates.
    Candidates come back in rule order (the order the caller gave), so the first full match wins.
    """

    __slots__ = ("_always", "_cache", "_methods", "_regexes", "_root")

    def __init__(self, paths: Sequence[PathPattern | None],
                 methods: Sequence[frozenset[str] | None] | None = None) -> None:
        self._root = _Node()
        self._methods = methods  # per rule, to leave out what cannot match a request's method
        self._always: list[int] = []  # path-less rules
        self._regexes: list[tuple[int, PathRegex]] = []  # tested once per distinct path, then cached
        self._cache: dict[tuple[str | None, str], tuple[int, ...]] = {}
        for position, path in enumerate(paths):
            if path is None:
                self._always.append(position)
                continue
            if isinstance(path, PathRegex):
                self._regexes.append((position, path))
                continue
            node = self._root
            segments = path.segments
            for seg in segments:
                if seg.tail:
                    break
                if seg.literal is not None:
                    node = node.literal.setdefault(seg.literal, _Node())
                else:
                    if node.param is None:
                        node.param = _Node()
                    node = node.param
            if segments and segments[-1].tail:
                node.tail.append(position)
            else:
                node.rules.append(position)

    def candidates(self, path: str, method: str | None = None) -> tuple[int, ...]:
        """Positions of rules whose path (and, given one, method) could match, in ascending order."""
        key = (method, path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found: list[int] = list(self._always)
        found.extend(position for position, regex in self._regexes if regex.pattern.match(path))
        self._walk(self._root, path.split("/")[1:], 0, found)
        result = tuple(sorted(set(found))) if len(found) > 1 else tuple(found)
        methods = self._methods
        if method is not None and methods is not None:
            result = tuple(p for p in result if (allowed := methods[p]) is None or method in allowed)
        if len(self._cache) >= 4096:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _walk(self, node: _Node, parts: list[str], depth: int, found: list[int]) -> None:
        if node.tail:
            found.extend(node.tail)
        if depth == len(parts):
            found.extend(node.rules)
            return
        child = node.literal.get(parts[depth])
        if child is not None:
            self._walk(child, parts, depth + 1, found)
        if node.param is not None:
            self._walk(node.param, parts, depth + 1, found)
