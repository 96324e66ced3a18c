"""Scenario loading: YAML or dicts in, validated and compiled frozen Scenario objects out.

This is the only module that sees raw dicts. Validation is pydantic's (schema.py); this module
turns its findings into ``file:line:col: field: found ...; expected ...`` lines and compiles
what passed into matchers, plans and responders, with the catalogue's defaults folded in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import mimetypes
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .. import catalogue
from ..chaos import Concurrency, Mix, Outcome, Phase, RateLimit, ScenarioChaos, Timeline
from ..deadline import Deadline
from ..delays import Delay, FixedDelay, LogNormalDelay, UniformDelay
from ..errors import Problem, ScenarioError
from ..faults import FAULTS, Fault, fault_fields
from ..faults.streams import STREAM_FAULTS, StreamFault
from ..matching import (
    BodyMatcher,
    JsonMatcher,
    PathRegex,
    PathTemplate,
    RequestMatcher,
    ValueMatcher,
    query_matcher,
)
from ..packs import BUILTIN_DIR, SCENARIO_SUFFIXES, resolve
from ..resources import Collection, Operation, Paging, Stage
from ..responses import Plan, Responder
from ..rules import Branch, Proxy, Rule, RuntimeFault, Scenario, WebSocketStep
from ..signature import SignatureMatcher, expand_env
from ..state import StateChange
from ..streams import Stream, StreamEvent
from ..templating import JsonTemplate, Template, TemplateSyntaxError, has_template
from .schema import (
    BranchSpec,
    CollectionSpec,
    ConcurrencySpec,
    ConditionSpec,
    DeadlineSpec,
    DefaultsSpec,
    DelaySpec,
    MatchSpec,
    MixEntrySpec,
    PlanSpec,
    ProxySpec,
    RateLimitSpec,
    ResourceOpSpec,
    RuleSpec,
    RuntimeFaultSpec,
    ScenarioSpec,
    StateChangeSpec,
    StreamSpec,
    show,
)
from .source import Document, PathKey, parse_document

__all__ = [
    "BUILTIN_DIR",
    "MAX_SCENARIO_BYTES",
    "Branch",
    "Rule",
    "Scenario",
    "load_document",
    "load_paths",
    "load_scenario",
]

MAX_SCENARIO_BYTES = 4 * 1024 * 1024


def load_runtime_fault(spec: Mapping[str, Any], default_name: Callable[[], str]) -> RuntimeFault:
    """Validate and compile one runtime fault spec (a dict, as JSON gives it)."""
    doc = Document("<fault>", dict(spec))
    try:
        parsed = RuntimeFaultSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc, doc)) from None
    compiler = _Compiler(doc, None)
    matcher = compiler.matcher(parsed.match, ("match",)) if parsed.match is not None else None
    outcome = compiler.outcome(parsed.respond, parsed.fault, parsed.delay, {}, None, ())
    if compiler.problems:
        raise ScenarioError(compiler.problems)
    return RuntimeFault(parsed.name or default_name(), matcher, outcome, parsed.probability,
                        {**parsed.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                         "probability": parsed.probability})


# --- loading -------------------------------------------------------------------------------------


def load_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Scenario]:
    """Load every scenario file named, or found directly inside each folder named.

    All files are checked before any is returned, so one call reports every problem at once.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for path in resolve(paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(str(path), None, None, "(folder)",
                                        "found no scenario files; expected *.yaml, *.yml or *.json"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), None, None, "(file)",
                                    "found no such file or folder; expected a scenario file or folder, "
                                    "or a built-in name (`mockserver serve --help` lists them)"))
    scenarios: list[Scenario] = []
    for file in files:
        try:
            scenarios.append(load_scenario(file))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    problems.extend(duplicate_names(scenarios))
    if problems:
        raise ScenarioError(problems)
    return with_overlay_warnings(scenarios)


def with_overlay_warnings(scenarios: list[Scenario]) -> list[Scenario]:
    """Warn about overlays naming scenarios that are not among *scenarios* (a warning: the
    control API or a test may load the target later; ``quiet: [applies_to]`` silences it)."""
    names = {s.name for s in scenarios}
    out = []
    for scenario in scenarios:
        missing = [n for n in scenario.applies_to if n != "*" and n not in names]
        if missing and "applies_to" not in scenario.quiet:
            loaded = ", ".join(sorted(names - {scenario.name})) or "none"
            line, col = scenario.applies_to_at
            warning = Problem(scenario.source, line, col, "applies_to",
                              f"found {', '.join(map(repr, missing))}, not loaded (loaded: {loaded}); "
                              "expected the name of a loaded scenario or *; quiet: [applies_to] "
                              "silences this", warning=True)
            out.append(dataclasses.replace(scenario, warnings=(*scenario.warnings, warning)))
        else:
            out.append(scenario)
    return out


def duplicate_names(scenarios: Iterable[Scenario]) -> list[Problem]:
    """A problem for each scenario whose name an earlier one already has."""
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for scenario in scenarios:
        if scenario.name in names:
            problems.append(Problem(scenario.source, None, None, "name",
                                    f"found {scenario.name!r} again (also in {names[scenario.name]}); "
                                    "expected scenario names that are unique"))
        names.setdefault(scenario.name, scenario.source)
    return problems


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any] | Scenario,
                  *, name: str = "<inline>") -> Scenario:
    """A scenario from a file path, a dict (as YAML would give), or an already loaded Scenario."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return load_document(Document(name, dict(source)), folder=None)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError([Problem(str(path), None, None, "(file)",
                                         f"found {size} bytes; expected at most {MAX_SCENARIO_BYTES}")])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(str(path), None, None, "(file)",
                                     f"found bytes that are not UTF-8 ({exc.reason}); expected UTF-8 text")]
                            ) from None
    except OSError as exc:
        raise ScenarioError([Problem(str(path), None, None, "(file)",
                                     f"found it unreadable ({exc.strerror}); expected a readable file")]
                            ) from None
    return load_document(parse_document(text, str(path)), folder=path.parent)


def load_text(text: str, source: str = "<text>") -> Scenario:
    """A scenario from YAML or JSON text (the control API's input); body files are not allowed."""
    return load_document(parse_document(text, source), folder=None)


def load_document(doc: Document, folder: Path | None) -> Scenario:
    """Validate and compile a parsed document."""
    if not isinstance(doc.data, dict):
        raise ScenarioError([doc.problem(
            (), f"found {show(doc.data)}; expected a mapping with name and rules")])
    try:
        spec = ScenarioSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc, doc)) from None
    return _Compiler(doc, folder).scenario(spec)


# --- pydantic errors -> Problems ---------------------------------------------------------------

_TYPE_ERRORS = frozenset({
    "model_type", "dict_type", "list_type", "tuple_type", "string_type", "int_type", "int_parsing",
    "int_from_float", "float_type", "float_parsing", "bool_type", "bool_parsing", "literal_error",
    "model_attributes_type", "none_required", "mock_kind",
})
_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
    "tuple_type": "a list", "none_required": "null",
}


def _clean_loc(loc: tuple[int | str, ...], data: Any, keep_last: bool) -> PathKey:
    """Drop pydantic's union-branch tags: keep only the parts that exist in the document."""
    out: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if (isinstance(current, dict) and part in current) or (
                isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)):
            out.append(part)
            current = current[part]  # type: ignore[index]
        elif keep_last and index == len(loc) - 1:
            out.append(part)
    return tuple(out)


def _explain(err: Mapping[str, Any]) -> tuple[str, str]:
    kind, ctx = err["type"], err.get("ctx") or {}
    found = show(err.get("input"))
    if kind in ("mock", "mock_kind"):
        return str(ctx["found"]), str(ctx["expected"])
    if kind == "missing":
        return "nothing", "a value (this field is required)"
    if kind == "literal_error":
        return found, str(ctx.get("expected", "?"))
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return found, f"a number {sign} {bound}"
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length"))
        word = "at least" if kind == "too_short" else "at most"
        return found, f"{word} {limit} item{'s' if limit != 1 else ''}"
    if kind in _EXPECTED:
        return found, _EXPECTED[kind]
    message = str(err.get("msg", kind))
    return found, message.removeprefix("Value error, ")


def _problems(exc: ValidationError, doc: Document) -> list[Problem]:
    rows: list[tuple[PathKey, bool, str, str]] = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]), doc.data, keep_last=err["type"] == "missing")
        if err["type"] == "unknown_field":
            loc = (*loc, err["ctx"]["key"].strip("'\""))
            rows.append((loc, False, "", str(err["msg"])))
            continue
        found, expected = _explain(err)
        rows.append((loc, err["type"] in _TYPE_ERRORS, found, expected))
    kept = [r for r in rows if not (r[1] and any(
        o is not r and o[0][:len(r[0])] == r[0] and (len(o[0]) > len(r[0]) or not o[1]) for o in rows))]
    merged: dict[PathKey, list[tuple[PathKey, bool, str, str]]] = {}
    for row in kept:
        merged.setdefault(row[0], []).append(row)
    problems: list[Problem] = []
    for loc, group in merged.items():
        if all(r[1] for r in group):
            options = [o for r in group for o in r[3].split(" or ")]
            unique = list(dict.fromkeys(options))
            expected = unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " or " + unique[-1]
            problems.append(doc.problem(loc, f"found {group[0][2]}; expected {expected}"))
            continue
        for found, expected in dict.fromkeys((r[2], r[3]) for r in group if not r[1]):
            message = expected if not found else f"found {found}; expected {expected}"
            problems.append(doc.problem(loc, message))
    return problems


# --- compiling -----------------------------------------------------------------------------------


class _Compiler:
    """Turns a validated ScenarioSpec into runtime objects; collects located problems."""

    def __init__(self, doc: Document, folder: Path | None) -> None:
        self.doc = doc
        self.folder = folder
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.quiet: frozenset[str] = frozenset()
        self.params: frozenset[str] | None = None  # the current rule's path parameters
        self.collections: dict[str, Collection] = {}
        self.overlay = False
        # each path template parsed once per load, shared by the rule's reads check and its matcher
        self.templates: dict[str, PathTemplate] = {}
        self.loaded_at = float(int(time.time()))  # Last-Modified of what this scenario serves

    def fail(self, path: PathKey, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def warn(self, path: PathKey, message: str) -> None:
        self.warnings.append(dataclasses.replace(self.doc.problem(path, message), warning=True))

    def where(self, path: PathKey) -> str:
        line, _ = self.doc.position(path)
        return f"{self.doc.source}:{line}" if line is not None else self.doc.source

    def scenario(self, spec: ScenarioSpec) -> Scenario:
        self.quiet = frozenset(spec.quiet)
        # a scenario that declares no collections may use another's (an overlay on a pack)
        self.overlay = bool(spec.applies_to) or not spec.resources
        self.collections = {name: self.collection(name, c, ("resources", name))
                            for name, c in spec.resources.items()}
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for index, rule_spec in enumerate(spec.rules):
            path: PathKey = ("rules", index)
            name = rule_spec.name or _derived_name(rule_spec.match)
            if name in names:
                if rule_spec.name is not None:
                    self.fail((*path, "name"), f"found {name!r} again (rules[{names[name]}]); "
                                               "expected rule names that are unique in the scenario")
                name = f"{name}#{index}"
            names[name] = index
            rule = self.rule(spec, rule_spec, name, path)
            if rule is not None:
                rules.append(rule)
        chaos = ScenarioChaos(
            mix=self.mix(spec.mix, spec.defaults, ("mix",)),
            timeline=self.timeline(spec, ("timeline",)),
            rate_limit=_rate_limit(spec.rate_limit),
            concurrency=_concurrency(spec.concurrency),
            header_control=spec.header_control)
        if "secrets" not in self.quiet:  # a recording or a hand edit that kept a credential
            from .secrets import find_secrets

            for where, message in find_secrets(self.doc.data):
                self.warn(where, f"looks like a secret: {message}")
        if self.problems:
            raise ScenarioError(self.problems)
        return Scenario(spec.name, self.doc.source, tuple(rules), spec.seed, spec.description, chaos,
                        tuple(spec.applies_to or ()), tuple(self.warnings), self.quiet,
                        self.doc.position(("applies_to",)),
                        self.proxy(spec.proxy_unmatched, ("proxy_unmatched",)),
                        tuple((h.lower(), f) for h, f in spec.tls.hosts.items()) if spec.tls else (),
                        tuple(self.collections.values()))

    def collection(self, name: str, spec: CollectionSpec, path: PathKey) -> Collection:
        """A declared collection with its seed items (inline or from a file), ids checked."""
        items: Any = spec.seed or []
        if spec.seed_file is not None:
            data = self.read_file(spec.seed_file, (*path, "seed_file"))
            try:
                items = yaml.safe_load(data) if data else []
            except yaml.YAMLError as exc:
                self.fail((*path, "seed_file"), f"found {spec.seed_file!r} unreadable as JSON or YAML "
                                                f"({exc}); expected a list of objects")
                items = []
        if not isinstance(items, list):
            self.fail((*path, "seed_file"), f"found {show(items)}; expected a list of objects")
            items = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            where = (*path, "seed", index) if spec.seed is not None else (*path, "seed_file")
            if not isinstance(item, dict) or item.get(spec.id_field) in (None, ""):
                self.fail(where, f"found {show(item)} as item {index}; expected an object with "
                                 f"its {spec.id_field!r}")
                continue
            key = str(item[spec.id_field])
            if key in seen:
                self.fail(where, f"found {spec.id_field} {key!r} again (item {index}); expected unique ids")
            seen.add(key)
        return Collection(name, spec.id_field, spec.ids, tuple(i for i in items if isinstance(i, dict)),
                          tuple(spec.unique), spec.insert)

    def resource(self, spec: ResourceOpSpec | None, defaults: Mapping[str, Any],
                 path: PathKey) -> Operation | None:
        """A rule's operation, its templates compiled (errors at file:line:col)."""
        if spec is None:
            return None
        if spec.collection not in self.collections and not self.overlay:
            declared = ", ".join(sorted(self.collections)) or "none are declared (resources: ...)"
            self.fail((*path, "collection"), f"found {spec.collection!r}; expected a collection declared "
                                             f"under resources: {declared}")

        def text(value: Any, where: PathKey) -> Template | Any:
            if isinstance(value, str) and has_template(value):
                return self.text_template(value, where)
            return value

        def document(value: Any, where: PathKey) -> JsonTemplate | Any:
            if value is None:
                return None
            found = self.json_template(value, where)
            return found if found is not None else value

        paging = None
        if spec.page is not None:
            page = spec.page
            style = "page" if ("page" in page.model_fields_set or "size" in page.model_fields_set) \
                else "offset"
            start, size = (page.page, page.size) if style == "page" else (page.offset, page.limit)
            starts = text(start, (*path, "page", style))
            sizes = text(size, (*path, "page", "size" if style == "page" else "limit"))
            paging = Paging(style, starts if isinstance(starts, Template) else _literal(starts),
                            sizes if isinstance(sizes, Template) else _literal(sizes),
                            page.base, page.default, page.max)
        stages = tuple(Stage(stage.after, document(stage.set, (*path, "lifecycle", i, "set")), stage.gone)
                       for i, stage in enumerate(spec.lifecycle))
        ident = text(spec.id, (*path, "id"))
        return Operation(
            spec.collection, spec.action,
            ident if isinstance(ident, Template) or ident is None else _literal(str(ident)),
            document(spec.item, (*path, "item")),
            tuple((name, text(value, (*path, "filter", name))) for name, value in spec.filter.items()),
            text(spec.sort, (*path, "sort")), paging, stages,
            self.plan(spec.missing, defaults, None, (*path, "missing")) if spec.missing else None,
            self.plan(spec.conflict, defaults, None, (*path, "conflict")) if spec.conflict else None,
            self.where(path))

    def proxy(self, spec: bool | str | ProxySpec | None, path: PathKey) -> Proxy | None:
        """A forwarding target; a CA bundle is named relative to the scenario's folder."""
        if spec is None or spec is False:
            return None
        if not isinstance(spec, ProxySpec):  # the schema makes a ProxySpec of these; kept for mypy
            spec = ProxySpec(url=spec if isinstance(spec, str) else None)
        if spec.url is None and path == ("proxy_unmatched",):
            self.fail(path, "found no url; expected the upstream's URL, such as http://127.0.0.1:8000")
        ca = None
        if spec.ca is not None:
            ca_path = Path(spec.ca) if self.folder is None else self.folder / spec.ca
            if not ca_path.is_file():
                self.fail((*path, "ca"), f"found {spec.ca!r}, which is not a file; "
                                         "expected a PEM CA bundle next to the scenario")
            ca = str(ca_path)
        return Proxy(spec.url or "", spec.strip_prefix or "", ca, spec.timeout, self.where(path))

    def fault(self, spec: Any) -> Fault | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            return FAULTS[spec]()
        values = {k: v for k in fault_fields(spec.type) if (v := getattr(spec, k)) is not None}
        return FAULTS[spec.type](**values)

    def outcome(self, respond: PlanSpec | None, fault: Any, delay: float | None,
                default_headers: Mapping[str, Any], default_delay: Any, path: PathKey,
                weight: float = 1.0) -> Outcome:
        plan = self.plan(respond, default_headers, None, (*path, "respond")) if respond is not None else None
        return Outcome(weight, plan, self.fault(fault), delay or 0.0)

    def mix(self, entries: list[MixEntrySpec] | None, defaults: DefaultsSpec, path: PathKey) -> Mix | None:
        if not entries:
            return None
        return Mix(tuple(
            self.outcome(e.respond, e.fault, e.delay, defaults.headers, defaults.delay, (*path, i), e.weight)
            for i, e in enumerate(entries)))

    def timeline(self, spec: ScenarioSpec, path: PathKey) -> Timeline | None:
        if not spec.timeline:
            return None
        phases, start = [], 0.0
        for index, phase in enumerate(spec.timeline):
            if phase.until <= start:
                self.fail((*path, index, "until"), f"found {phase.until:g}s; expected a time after the "
                                                   f"previous phase's end ({start:g}s)")
            outcome = None
            if phase.respond is not None or phase.fault is not None or phase.delay is not None:
                outcome = self.outcome(phase.respond, phase.fault, phase.delay, spec.defaults.headers,
                                       None, (*path, index))
            phases.append(Phase(start, phase.until, outcome,
                                self.mix(phase.mix, spec.defaults, (*path, index, "mix")),
                                phase.retry_after))
            start = phase.until
        return Timeline(tuple(phases))

    def template(self, text: str) -> PathTemplate:
        """The compiled template of *text* (validated already), the same object within one load."""
        known = self.templates.get(text)
        if known is None:
            known = self.templates[text] = PathTemplate.compile(text)
        return known

    def rule(self, scenario: ScenarioSpec, spec: RuleSpec, name: str, path: PathKey) -> Rule | None:
        if isinstance(spec.match.path, str):
            self.params = frozenset(self.template(spec.match.path).names)
        elif spec.match.path is not None:
            self.params = frozenset(re.compile(spec.match.path.regex).groupindex)
        else:
            self.params = frozenset()
        try:
            return self._rule(scenario, spec, name, path)
        finally:
            self.params = None

    def _rule(self, scenario: ScenarioSpec, spec: RuleSpec, name: str, path: PathKey) -> Rule | None:
        matcher = self.matcher(spec.match, (*path, "match"))
        defaults = scenario.defaults
        responder = self.responder(spec.respond, spec.then, defaults.headers, defaults.delay,
                                   (*path, "respond"), (*path, "then"))
        branches = []
        for index, branch in enumerate(spec.when):
            bpath: PathKey = (*path, "when", index)
            branches.append(Branch(
                self.condition(branch, (*bpath, "if")),
                self.responder(branch.respond, branch.then, defaults.headers, defaults.delay,
                               (*bpath, "respond"), (*bpath, "then")),
                f"{scenario.name}/{name}/when[{index}]"))
        deadline_spec = spec.deadline if spec.deadline is not True else defaults.deadline
        key = self.text_template(spec.key, (*path, "key")) if spec.key is not None else None
        state: str | Template = spec.state
        if has_template(spec.state):
            state = self.text_template(spec.state, (*path, "state")) or spec.state
        return Rule(
            id=f"{scenario.name}/{name}", name=name, scenario=scenario.name, priority=spec.priority,
            matcher=matcher, responder=responder, branches=tuple(branches), times=spec.times,
            key=key, state=state,
            requires_state=((spec.requires_state,) if isinstance(spec.requires_state, str)
                            else tuple(spec.requires_state) if spec.requires_state is not None else None),
            sets_state=(spec.sets_state.to if isinstance(spec.sets_state, StateChangeSpec)
                        else spec.sets_state),
            state_change=(StateChange(spec.sets_state.for_, spec.sets_state.reads, spec.sets_state.then)
                          if isinstance(spec.sets_state, StateChangeSpec) else None),
            key_source=self.where((*path, "key")) if spec.key is not None else "",
            state_source=self.where((*path, "state")) if not isinstance(state, str) else "",
            deadline=_deadline(deadline_spec), seed=scenario.seed, source=self.where(path),
            fault=self.fault(spec.fault), mix=self.mix(spec.mix, defaults, (*path, "mix")),
            rate_limit=_rate_limit(spec.rate_limit), concurrency=_concurrency(spec.concurrency),
            expect=(self.plan(spec.expect, defaults.headers, None, (*path, "expect"))
                    if spec.expect is not None and self._no_fault(spec.expect, (*path, "expect")) else None),
            max_body=spec.max_body if isinstance(spec.max_body, int) or spec.max_body is None
            else spec.max_body.size,
            max_body_retry_after=None if isinstance(spec.max_body, int) or spec.max_body is None
            else spec.max_body.retry_after,
            require_length=spec.require_length,
            content_types=(tuple(t.lower() for t in spec.content_types)
                           if spec.content_types is not None else None),
            websocket=(tuple(WebSocketStep(**{k: v for k, v in step.model_dump().items() if v is not None})
                             for step in spec.websocket) if spec.websocket is not None else None),
            proxy=self.proxy(spec.proxy, (*path, "proxy")),
            resource=self.resource(spec.resource, defaults.headers, (*path, "resource")),
            stream=self.stream(spec.stream, (*path, "stream")) if spec.stream is not None else None)

    def _no_fault(self, spec: PlanSpec, path: PathKey) -> bool:
        """An interim answer (expect) has no connection of its own to break: refuse a fault there."""
        if spec.fault is not None:
            self.fail((*path, "fault"), "found a fault on the answer to Expect: 100-continue; expected none "
                                        "(a fault belongs in respond, a sequence item or then)")
        return True

    def stream(self, spec: StreamSpec, path: PathKey) -> Stream:
        """A rule's stream: its events' templates compiled (and checked) once, its fault typed."""
        events = []
        for index, event in enumerate(spec.events):
            epath: PathKey = (*path, "events", index)
            data = self.text_template(event.data, (*epath, "data")) if event.data is not None else None
            retry = None if event.retry is None else round(event.retry * 1000)
            events.append(StreamEvent(
                data=data, json_value=event.json_,
                json_template=self.json_template(event.json_, (*epath, "json")) if event.json_ is not None
                else None, event=event.event, id=event.id, retry=retry, comment=event.comment))
        fault: StreamFault | None = None
        if spec.fault is not None:
            values = {k: v for k in (f.name for f in dataclasses.fields(STREAM_FAULTS[spec.fault.type]))  # type: ignore[arg-type]
                      if (v := getattr(spec.fault, k)) is not None}
            fault = STREAM_FAULTS[spec.fault.type](**values)
        return Stream(spec.format, tuple(events), spec.interval, spec.jitter, fault, spec.content_type)

    def matcher(self, spec: MatchSpec, path: PathKey) -> RequestMatcher:
        methods = None
        if spec.method is not None and "*" not in spec.method:
            upper = {m.upper() for m in spec.method}
            if "GET" in upper:
                upper.add("HEAD")  # a HEAD is a GET without the body (RFC 9110 9.3.2)
            methods = frozenset(upper)
        pattern: PathTemplate | PathRegex | None = None
        if isinstance(spec.path, str):
            pattern = self.template(spec.path)
        elif spec.path is not None:
            pattern = PathRegex(spec.path.regex)
        json_matcher = None
        if spec.json_ is not None:
            json_matcher = JsonMatcher(spec.json_.subset,
                                       {k: ValueMatcher.of(v) for k, v in spec.json_.paths.items()})
        signature = None
        if spec.signature is not None:
            credentials = {}
            for access, secret in spec.signature.credentials.items():
                key, value = expand_env(access), expand_env(secret)
                if key is not None and value is not None:
                    credentials[key] = value
            signature = SignatureMatcher(credentials, spec.signature.valid)
        body_matcher = None
        if spec.form or spec.body is not None:
            body_matcher = BodyMatcher({k: query_matcher(v) for k, v in spec.form.items()},
                                       ValueMatcher.of(spec.body) if spec.body is not None else None)
        return RequestMatcher(
            methods, pattern,
            {k: query_matcher(v) for k, v in spec.query.items()},
            {k: ValueMatcher.of(v) for k, v in spec.headers.items()},
            json_matcher, signature, body_matcher)

    def condition(self, branch: BranchSpec, path: PathKey) -> RequestMatcher:
        cond: ConditionSpec = branch.if_
        if not cond.query and not cond.headers:
            self.fail(path, "found an empty condition; expected query and/or headers to test")
        return RequestMatcher(None, None,
                              {k: query_matcher(v) for k, v in cond.query.items()},
                              {k: ValueMatcher.of(v) for k, v in cond.headers.items()})

    def responder(self, spec: PlanSpec | list[PlanSpec], then: Any, default_headers: Mapping[str, Any],
                  default_delay: Any, path: PathKey, then_path: PathKey) -> Responder:
        specs = spec if isinstance(spec, list) else [spec]
        if not specs:
            self.fail(path, "found an empty list; expected at least one answer")
            specs = [PlanSpec()]
        plans = tuple(
            self.plan(s, default_headers, default_delay, (*path, i) if isinstance(spec, list) else path)
            for i, s in enumerate(specs))
        final: Any = then
        if isinstance(then, PlanSpec):
            final = self.plan(then, default_headers, default_delay, then_path)
        return Responder(plans, final)

    def plan(self, spec: PlanSpec, default_headers: Mapping[str, Any], default_delay: Any,
             path: PathKey) -> Plan:
        status = spec.status
        reason = spec.reason if spec.reason is not None else catalogue.reason_phrase(status)
        merged: dict[str, tuple[str, str]] = {
            k.lower(): (k, _header_text(v)) for k, v in default_headers.items()}
        merged.update({k.lower(): (k, _header_text(v)) for k, v in spec.headers.items()})

        body = b""
        body_template: Template | JsonTemplate | None = None
        content_type: str | None = None
        no_body = status in catalogue.NO_BODY or status < 200
        if spec.json_ is not None:
            content_type = "application/json"
            body_template = self.json_template(spec.json_, (*path, "json"))
            if body_template is None:
                body = json.dumps(spec.json_).encode()
        elif spec.body is not None:
            content_type = "text/plain; charset=utf-8"
            if has_template(spec.body):
                body_template = self.text_template(spec.body, (*path, "body"))
            else:
                body = spec.body.encode()
        elif spec.file is not None:
            content_type = mimetypes.guess_type(spec.file)[0] or "application/octet-stream"
            body, body_template = self.file_body(spec.file, spec.template, content_type, (*path, "file"))
        elif status >= 400:
            body = catalogue.error_body(status)
            content_type = "application/json"
        if no_body and (body or body_template is not None) and not spec.break_protocol:
            self.fail(path, f"found a body on a {status}; expected none, since {status} answers "
                            "carry no content (RFC 9110), or break_protocol: true")
        if content_type is not None and "content-type" not in merged and not no_body:
            merged["content-type"] = ("Content-Type", content_type)
        for name, value in catalogue.required_headers(status):
            merged.setdefault(name.lower(), (name, value))
        retry_after_date = None
        if isinstance(spec.retry_after, int | float):
            merged["retry-after"] = ("Retry-After", str(max(0, math.ceil(spec.retry_after - 1e-9))))
        elif spec.retry_after is not None:
            retry_after_date = spec.retry_after.date

        static: list[tuple[str, str]] = []
        templated: list[tuple[str, Template]] = []
        for name, value in merged.values():
            if has_template(value):
                template = self.text_template(value, (*path, "headers", name))
                if template is not None:
                    templated.append((name, template))
            else:
                static.append((name, value))
        delay_spec = spec.delay if spec.delay is not None else default_delay
        etag: str | None = None
        validators: tuple[tuple[str, str], ...] = ()
        if status == 200 and body and body_template is None and "etag" not in merged:
            etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
            validators = tuple((name, value) for name, value in (
                ("ETag", etag), ("Last-Modified", formatdate(self.loaded_at, usegmt=True)),
                ("Accept-Ranges", "bytes")) if name.lower() not in merged)
        return Plan(
            status=status, reason=reason, headers=tuple(static), body=body,
            header_templates=tuple(templated), body_template=body_template,
            delay=_delay(delay_spec), repeat=spec.repeat, source=self.where(path),
            retry_after_date=retry_after_date, break_protocol=spec.break_protocol, etag=etag,
            last_modified=self.loaded_at, validators=validators, fault=self.fault(spec.fault))

    def text_template(self, text: str, path: PathKey) -> Template | None:
        try:
            template = Template(text)
        except TemplateSyntaxError as exc:
            self.fail(path, f"found {show(text)}; expected {exc}")
            return None
        self.check_reads([template], path)
        return template

    def json_template(self, document: Any, path: PathKey) -> JsonTemplate | None:
        if not JsonTemplate.needed(document):
            return None
        if not self.json_strings_compile(document, path):
            return None
        template = JsonTemplate(document)
        self.check_reads(template.templates, path)
        return template

    def file_body(self, name: str, template: bool, content_type: str,
                  path: PathKey) -> tuple[bytes, Template | JsonTemplate | None]:
        """A body file's bytes, or with template: true its template (no bytes)."""
        data = self.read_file(name, path)
        if not template or not data:
            return data, None
        return b"", self.file_template(data, name, content_type, path)

    def file_template(self, data: bytes, name: str, content_type: str,
                      path: PathKey) -> Template | JsonTemplate | None:
        """A body file rendered per request: a JSON file as a JSON template (values keep their
        types), any other file as text."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(path, f"found {name!r} not UTF-8 text (byte {exc.start}); expected a text file "
                            "for template: true")
            return None
        if content_type == "application/json":
            try:
                document = json.loads(text)
            except ValueError as exc:
                self.fail(path, f"found {name!r} not JSON ({exc}); expected a JSON document, "
                                "since the file's name ends in .json")
                return None
            return self.json_template(document, path) if JsonTemplate.needed(document) else None
        return self.text_template(text, path)

    def json_strings_compile(self, document: Any, path: PathKey) -> bool:
        """Every template string of a JSON body compiles; each error is reported at its own field."""
        if isinstance(document, str):
            if not has_template(document):
                return True
            try:
                Template(document)
            except TemplateSyntaxError as exc:
                self.fail(path, f"found {show(document)}; expected {exc}")
                return False
            return True
        ok = True
        if isinstance(document, dict):
            for key, value in document.items():
                ok = self.json_strings_compile(key, path) and ok
                ok = self.json_strings_compile(value, (*path, key)) and ok
        elif isinstance(document, list):
            for index, value in enumerate(document):
                ok = self.json_strings_compile(value, (*path, index)) and ok
        return ok

    def check_reads(self, templates: list[Template], path: PathKey) -> None:
        """Path parameters the rule's path lacks (always null: an error unless guarded by
        ``| default(...)`` or ``is defined``), and the engine's warnings."""
        for template in templates:
            for message in template.warnings:
                self.warn(path, message)
            if self.params is None:
                continue  # scenario-wide (mix, timeline): the parameters are the matched rule's
            for read in template.reads:
                if read.root == "path" and not read.has_fallback and read.key not in self.params:
                    declared = ", ".join(sorted(self.params)) or "none"
                    self.fail(path, f"found {read.text}, but the rule's path declares no {{{read.key}}} "
                                    f"(its parameters: {declared}); expected one of its parameters, "
                                    f"or a fallback such as {{{{ path.{read.key} | default('unknown') }}}}")

    def read_file(self, name: str, path: PathKey) -> bytes:
        if self.folder is None:
            self.fail(path, f"found file {name!r} in a scenario that has no folder; "
                            "expected body or json (files need a scenario file)")
            return b""
        if os.path.isabs(name):
            self.fail(path, f"found the absolute path {name!r}; expected a path relative to "
                            "the scenario's folder")
            return b""
        base = self.folder.resolve()
        target = (self.folder / name).resolve()
        if not target.is_relative_to(base):
            self.fail(path, f"found {name!r}, which leads outside the scenario's folder; "
                            "expected a file in that folder or below it")
            return b""
        try:
            return target.read_bytes()
        except OSError as exc:
            self.fail(path, f"found {name!r} unreadable ({exc.strerror}); "
                            "expected a readable file next to the scenario")
            return b""


def _literal(value: Any) -> Template | None:
    """A fixed paging number or id, as a template that renders it (one path for both)."""
    return None if value is None else Template("{{ " + json.dumps(value) + " }}")


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _derived_name(match: MatchSpec) -> str:
    method = "|".join(match.method) if match.method else "*"
    if isinstance(match.path, str):
        path = match.path
    elif match.path is not None:
        path = f"~{match.path.regex}"
    else:
        path = "/**"
    return f"{method} {path}"


def _delay(spec: Any) -> Delay | None:
    if spec is None:
        return None
    if isinstance(spec, int | float):
        return FixedDelay(float(spec)) if spec > 0 else None
    assert isinstance(spec, DelaySpec)
    if spec.fixed is not None:
        return FixedDelay(spec.fixed) if spec.fixed > 0 else None
    if spec.uniform is not None:
        return UniformDelay(*spec.uniform)
    assert spec.lognormal is not None
    return LogNormalDelay(spec.lognormal.median, spec.lognormal.sigma, spec.lognormal.max)


def _rate_limit(spec: RateLimitSpec | None) -> RateLimit | None:
    if spec is None:
        return None
    per_second = spec.rate / spec.per if spec.per > 0 else spec.rate
    burst = spec.burst if spec.burst is not None else max(1, math.ceil(spec.rate))
    return RateLimit(per_second, burst, spec.key, spec.headers, spec.per)


def _concurrency(spec: ConcurrencySpec | None) -> Concurrency | None:
    return None if spec is None else Concurrency(spec.limit, spec.key, spec.retry_after)


def _deadline(spec: DeadlineSpec | bool) -> Deadline | None:
    if spec is False:
        return None
    if spec is True:
        return Deadline()
    return Deadline(spec.query, spec.header, spec.unit)
