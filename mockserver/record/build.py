"""Folding recorded exchanges into a scenario a person can review, and writing it as YAML.

The recorder redacts each exchange as it comes in (redact.py); the builder then groups them by
what a replay should match on (method, path template, the query keys that matter, the JSON body),
keeps what came back in order (a sequence when it changed), the latency as a fitted lognormal, and
transport failures as faults. Large or binary bodies go to side files next to the scenario.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import statistics
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .capture import Captured
from .redact import RedactOptions, Redactor, is_placeholder

__all__ = ["TEMPLATES", "RecordOptions", "Recorder", "decode_body", "fold_path"]

TEMPLATES = {
    # the only template strings the recorder writes (the template engine is being replaced: keep
    # them here so the change is one place)
    "request_id": "{{ request.id }}",
    "etag": '"{{ request.id }}"',
}
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "trailer", "upgrade", "proxy-authenticate"})
DROPPED = frozenset({"content-length", "content-encoding", "date"})
"""Response headers not written: the server sends its own length and date; bodies are stored decoded."""
REQUEST_ID_HEADERS = frozenset({"x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id",
                                "x-correlation-id", "x-trace-id", "traceparent", "x-b3-traceid",
                                "x-openstack-request-id", "x-compute-request-id"})
CHANGING_HEADERS = frozenset({"etag", "last-modified", "expires", "age", "x-cache", "x-timer"})
VOLATILE_QUERY = frozenset({"_", "timestamp", "ts", "nonce", "cachebuster", "x-amz-date",
                            "x-amz-signature", "x-amz-credential", "x-sdk-date"})
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
_VERSION = re.compile(r"v\d+(\.\d+)*", re.I)


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """How a recording is turned into a scenario."""

    name: str = "recording"
    redact: RedactOptions = field(default_factory=RedactOptions)
    side_file_bytes: int = 16 * 1024
    """Bodies larger than this (and binary ones, and ones holding ``{{``) go to a side file."""
    keep_latency: bool = True


def _is_id(segment: str) -> bool:
    if _UUID.fullmatch(segment) or _DIGITS.fullmatch(segment):
        return True
    if _HEX.fullmatch(segment) and any(c.isdigit() for c in segment):
        return True
    return bool(_TOKEN.fullmatch(segment) and any(c.isdigit() for c in segment)
                and any(c.isalpha() for c in segment))


def fold_path(path: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """``/v1.0/<32 hex>/clusters/<uuid>`` -> ``/v1.0/{project_id}/clusters/{cluster_id}``, and the
    (segment index, parameter name) of each folded segment."""
    segments = path.split("/")
    names: list[tuple[int, str]] = []
    used: set[str] = set()
    for index, segment in enumerate(segments):
        if not segment or not _is_id(segment):
            continue
        before = segments[index - 1] if index else ""
        if re.fullmatch(r"[0-9a-fA-F]{32}", segment) and (_VERSION.fullmatch(before) or index == 2):
            name = "project_id"
        elif before and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", before) and not _VERSION.fullmatch(before):
            stem = re.sub(r"[^A-Za-z0-9_]", "_", before).lower()
            stem = stem[:-3] + "y" if stem.endswith("ies") else stem[:-1] if stem.endswith("s") else stem
            name = f"{stem}_id"
        else:
            name = "id"
        base, n = name, 2
        while name in used:
            name, n = f"{base}{n}", n + 1
        used.add(name)
        names.append((index, name))
        segments[index] = "{" + name + "}"
    return "/".join(segments), tuple(names)


def decode_body(body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The body with its Content-Encoding undone (gzip, deflate, br when brotli is installed)."""
    codings = [c.strip().lower() for n, v in headers if n.lower() == "content-encoding"
               for c in v.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = gzip.decompress(body)
        elif coding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:  # raw deflate, as some servers send it
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        elif coding == "br":
            import brotli  # type: ignore[import-untyped,import-not-found,unused-ignore]

            body = brotli.decompress(body)
        elif coding != "identity":
            raise ValueError(f"content-coding {coding!r}")
    return body


@dataclass(slots=True)
class _Entry:
    captured: Captured
    template: str
    params: tuple[tuple[int, str], ...]
    note: str = ""
    encoded: bool = False  # the body could not be decoded: it keeps its Content-Encoding


@dataclass(slots=True)
class _Rule:
    """A rule given whole (an import), redacted like the exchanges."""

    rule: dict[str, Any]
    origin: str
    files: dict[str, bytes]


class Recorder:
    """Collects exchanges (redacted on the way in) and builds one scenario from them."""

    def __init__(self, options: RecordOptions | None = None) -> None:
        self.options = options or RecordOptions()
        self.redactor = Redactor(self.options.redact)
        self.entries: list[_Entry] = []
        self.rules: list[_Rule] = []
        self.warnings: list[str] = []

    def add(self, captured: Captured, note: str = "") -> None:
        """Keep one exchange; its secrets are replaced before it is stored."""
        decoded: bytes | None = None
        if captured.status is not None:
            try:
                decoded = decode_body(captured.response_body, captured.response_headers)
            except (OSError, EOFError, zlib.error, ValueError, ImportError) as exc:
                self.warnings.append(f"{captured.method} {captured.path}: body kept as received "
                                     f"(could not undo its Content-Encoding: {exc})")
        clean = self.redactor.redact(captured, decoded)
        template, params = fold_path(clean.path)
        self.entries.append(_Entry(clean, template, params, note, encoded=decoded is None))

    def add_rule(self, rule: dict[str, Any], origin: str, files: dict[str, bytes] | None = None) -> None:
        """Keep a rule built elsewhere (an imported mapping); secrets in it are replaced too."""
        clean = self.redactor.json(rule)
        match = clean.get("match", {})
        # a credential is not matched on replay (and a literal one would be kept in the file)
        for part, names in (("query", self.redactor.options.field_names()),
                            ("headers", self.redactor.options.header_names())):
            for key in list(match.get(part, {})):
                test = match[part][key]
                shape_only = isinstance(test, dict) and set(test) <= {"regex", "present"}
                if key.lower() in names and not shape_only:
                    del match[part][key]
                    self.warnings.append(f"{origin}: match.{part}.{key}: a credential, not matched")
            if part in match and not match[part]:
                del match[part]
        self.rules.append(_Rule(clean, origin, {
            name: self.redactor.body(data, "") for name, data in (files or {}).items()}))

    # --- building ---------------------------------------------------------------------------------

    def scenario(self, files_dir: str = "recording.files") -> dict[str, Any]:
        """The scenario as a dict (what the YAML file holds)."""
        return self._build(files_dir)[0]

    def _build(self, files_dir: str) -> tuple[dict[str, Any], dict[str, bytes], list[str]]:
        files: dict[str, bytes] = {}
        comments: list[str] = []
        rules: list[dict[str, Any]] = []
        groups: dict[tuple[Any, ...], list[_Entry]] = {}
        for entry in self.entries:
            groups.setdefault(self._key(entry), []).append(entry)
        ordered = sorted(groups.items(), key=lambda kv: -(len(kv[0][2]) + (kv[0][3] is not None)))
        names: set[str] = set()
        for key, entries in ordered:
            by_path: dict[str, list[_Entry]] = {}
            for entry in entries:
                by_path.setdefault(entry.captured.path, []).append(entry)
            answers = {p: [self._answer(e) for e in es] for p, es in by_path.items()}
            distinct = {json.dumps(a, sort_keys=True, default=repr) for a in answers.values()}
            if len(distinct) == 1:
                parts = [(key[1], entries)]
            else:  # the same template answered differently per resource: one rule each
                parts = [(self._partial(es, entries), es) for es in by_path.values()]
            for path, part in parts:
                rule, comment = self._rule(key, path, part, files, files_dir, names)
                rules.append(rule)
                comments.append(comment)
        for imported in self.rules:
            rule = dict(imported.rule)
            respond = rule.get("respond")
            if isinstance(respond, dict) and respond.get("file") in imported.files:
                rule["respond"] = {**respond, "file": f"{files_dir}/{respond['file']}"}
            rules.append(rule)
            comments.append(imported.origin)
            files.update({f"{files_dir}/{n}": data for n, data in imported.files.items()})
        scenario: dict[str, Any] = {"name": self.options.name}
        scenario["rules"] = rules
        return scenario, files, comments

    def _key(self, entry: _Entry) -> tuple[Any, ...]:
        c = entry.captured
        query: dict[str, list[str]] = {}
        for k, v in c.query:
            if k in self.redactor.redacted_query or k.lower() in VOLATILE_QUERY or "<redacted:" in v:
                continue
            query.setdefault(k, []).append(v)
        body: Any = None
        if c.request_body:
            try:
                body = _strip_placeholders(json.loads(c.request_body))
            except (ValueError, UnicodeDecodeError):
                body = None
        frozen_query = tuple((k, tuple(v)) for k, v in query.items())
        return (c.method, entry.template, frozen_query,
                None if body is None else json.dumps(body, sort_keys=True))

    def _partial(self, entries: list[_Entry], group: list[_Entry]) -> str:
        """This resource's path with only the parameters that were the same across the whole group
        folded (``/v1.0/{project_id}/clusters/abc``): the resource's own id stays literal."""
        concrete = [e.captured.path.split("/") for e in group]
        out = entries[0].captured.path.split("/")
        for index, name in entries[0].params:
            if all(c[index] == out[index] for c in concrete):
                out[index] = "{" + name + "}"
        return "/".join(out)

    def _answer(self, entry: _Entry) -> dict[str, Any]:
        c = entry.captured
        if c.status is None:
            return {"failure": c.failure or "reset"}
        headers = []
        for name, value in c.response_headers:
            lower = name.lower()
            kept_encoding = entry.encoded and lower == "content-encoding"
            if lower in HOP_BY_HOP or (lower in DROPPED and not kept_encoding):
                continue
            headers.append((name, TEMPLATES["request_id"] if lower in REQUEST_ID_HEADERS else value))
        return {"status": c.status, "reason": c.reason, "headers": headers,
                "body": c.response_body.decode("latin-1")}

    def _rule(self, key: tuple[Any, ...], path: str, entries: list[_Entry], files: dict[str, bytes],
              files_dir: str, names: set[str]) -> tuple[dict[str, Any], str]:
        method, _, query, body = key
        name = _name(method, path, names)
        match: dict[str, Any] = {"method": method, "path": path}
        if query:
            match["query"] = {k: v[0] if len(v) == 1 else {"all": list(v)} for k, v in query}
        if body is not None:
            match["json"] = {"subset": json.loads(body)}
        rule: dict[str, Any] = {"name": name, "match": match}
        answers = [self._answer(e) for e in entries]
        ok = [a for a, e in zip(answers, entries, strict=True) if "failure" not in a]
        failed = [a for a in answers if "failure" in a]
        changing = self._changing(ok)
        plans: list[dict[str, Any]] = []
        for index, answer in enumerate(ok):
            plan = self._plan(answer, changing, files, files_dir, f"{_slug(name)}-{index + 1}")
            if plans and {k: v for k, v in plans[-1].items() if k != "repeat"} == plan:
                plans[-1]["repeat"] = plans[-1].get("repeat", 1) + 1
            else:
                plans.append(plan)
        latencies = [e.captured.latency for e in entries if e.captured.status is not None]
        if self.options.keep_latency and latencies:
            delay = _fit(latencies)  # one distribution per rule, so each answer of it draws from it
            for plan in plans:
                plan["delay"] = delay
        if plans:
            rule["respond"] = plans[0] if len(plans) == 1 else plans
        if failed and not ok:
            rule["fault"] = _fault(failed[0]["failure"])
        elif failed:
            fault = _fault(failed[0]["failure"])
            rule["mix"] = [{"weight": len(ok)}, {"weight": len(failed), "fault": fault}]
        first = min(e.captured.started for e in entries)
        when = datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if first else "-"
        upstream = entries[0].captured.upstream
        seen = sorted({e.captured.path for e in entries})
        comment = (f"{len(entries)} exchange(s) with {upstream or 'the upstream'}, first at {when}: "
                   f"{method} {', '.join(seen[:3])}{' ...' if len(seen) > 3 else ''}")
        if entries[0].note:
            comment += f" ({entries[0].note})"
        return rule, comment

    def _changing(self, answers: list[dict[str, Any]]) -> set[str]:
        """Header names whose value differed between the answers (ETag, Last-Modified ...)."""
        seen: dict[str, set[str]] = {}
        for answer in answers:
            for name, value in answer["headers"]:
                seen.setdefault(name.lower(), set()).add(value)
        return {n for n, values in seen.items() if len(values) > 1 and n in CHANGING_HEADERS}

    def _plan(self, answer: dict[str, Any], changing: set[str], files: dict[str, bytes], files_dir: str,
              stem: str) -> dict[str, Any]:
        plan: dict[str, Any] = {"status": answer["status"]}
        if answer["reason"]:  # HTTP/2 (and some HAR files) carry none: the catalogue's then
            plan["reason"] = answer["reason"]
        headers: dict[str, str] = {}
        content_type = ""
        for name, given in answer["headers"]:
            lower = name.lower()
            value = given
            if lower in changing:
                if lower != "etag":
                    continue  # a changing date: the server's own answer has none, as it had none
                value = TEMPLATES["etag"]
            if lower == "content-type":
                content_type = value.lower()
            if name in headers:
                headers[name] = f"{headers[name]}, {value}"  # Set-Cookie aside, a list folds so
            else:
                headers[name] = value
        if headers:
            plan["headers"] = headers
        body: bytes = answer["body"].encode("latin-1")
        text: str | None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and "{{" not in text and len(body) <= self.options.side_file_bytes:
            doc: Any = None
            if "json" in content_type and text.strip():
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
            if doc is not None:
                plan["json"] = doc  # readable; the same document (whitespace aside)
            else:
                plan["body"] = text
        else:
            suffix = _suffix(content_type)
            name = f"{stem}{suffix}"
            files[f"{files_dir}/{name}"] = body
            plan["file"] = f"{files_dir}/{name}"
        return plan

    # --- writing ----------------------------------------------------------------------------------

    def render(self, files_dir: str = "recording.files") -> tuple[str, dict[str, bytes]]:
        """The YAML text (block style, stable order, a comment per rule) and the side files."""
        scenario, files, comments = self._build(files_dir)
        head = {k: v for k, v in scenario.items() if k != "rules"}
        lines = ["# Recorded by mockserver: secrets are replaced by <redacted:...> placeholders.",
                 "# Review before committing; `mockserver validate` warns on what looks like a secret.",
                 _dump(head).rstrip("\n"), "rules:"]
        for rule, comment in zip(scenario["rules"], comments, strict=True):
            lines.append(f"  # {comment}")
            item = _dump([rule]).rstrip("\n")
            lines.extend("  " + line for line in item.splitlines())
        return "\n".join(lines) + "\n", files

    def write(self, path: str | Path) -> list[Path]:
        """Write the scenario to *path* and its side files to ``<stem>.files/`` next to it."""
        target = Path(path)
        text, files = self.render(f"{target.stem}.files")
        written = []
        for name, data in files.items():
            side = target.parent / name
            side.parent.mkdir(parents=True, exist_ok=True)
            side.write_bytes(data)
            written.append(side)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return [target, *written]


def _strip_placeholders(doc: Any) -> Any:
    """A JSON body without its redacted fields: they are not matched, so real secrets still match."""
    if isinstance(doc, dict):
        return {k: _strip_placeholders(v) for k, v in doc.items()
                if not (isinstance(v, str) and is_placeholder(v))}
    if isinstance(doc, list):
        return [_strip_placeholders(v) for v in doc]
    return doc


def _fit(latencies: list[float]) -> dict[str, Any]:
    """A lognormal with the observed median and the spread of the logs (the delay format's own)."""
    median = statistics.median(latencies)
    logs = [math.log(max(x, 1e-6)) for x in latencies]
    sigma = statistics.pstdev(logs) if len(logs) > 1 else 0.0
    return {"lognormal": {"median": _ms(median), "sigma": round(min(sigma, 10.0), 3),
                          "max": _ms(max(*latencies, median))}}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"


def _fault(failure: str) -> Any:
    """What the client saw when no answer came, as the fault that makes it see that again."""
    return {"refused": "reset", "reset": "reset", "timeout": "hang", "tls": "close",
            "truncated": {"type": "truncate", "fraction": 0.5}}.get(failure, "reset")


def _name(method: str, path: str, names: set[str]) -> str:
    words = [s.strip("{}") for s in path.split("/") if s]
    base = f"{method.lower()} {'/'.join(words) or 'root'}"
    name, n = base, 2
    while name in names:
        name, n = f"{base} #{n}", n + 1
    names.add(name)
    return name


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "rule"


def _suffix(content_type: str) -> str:
    for kind, suffix in (("json", ".json"), ("html", ".html"), ("xml", ".xml"), ("text/", ".txt"),
                         ("png", ".png"), ("jpeg", ".jpg"), ("pdf", ".pdf")):
        if kind in content_type:
            return suffix
    return ".bin"


def _content_type(headers: Iterable[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.lower()
    return ""


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
