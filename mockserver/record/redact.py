"""Redaction of recorded exchanges: secrets become stable placeholders before anything is kept.

A recording is meant to be committed, so credentials must never reach the written files: every
secret the request carried (headers, query, form and JSON fields) is replaced by a placeholder such
as ``<redacted:authorization:1>``; the same secret always gets the same placeholder, and wherever
the upstream echoed a request secret back (headers, bodies, JSON strings) it is replaced too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from .capture import Captured

__all__ = ["PLACEHOLDER", "RedactOptions", "Redactor", "is_placeholder"]

DEFAULT_HEADERS = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-auth-token", "x-subject-token",
    "x-api-key", "api-key", "apikey", "x-security-token", "x-access-token", "x-amz-security-token",
    "x-csrf-token", "x-xsrf-token",
)
DEFAULT_FIELDS = (
    "password", "passwd", "secret", "token", "access_token", "refresh_token", "id_token", "api_key",
    "apikey", "access_key", "secret_key", "secret_access_key", "ak", "sk", "client_secret",
    "private_key", "session_token", "security_token", "credential", "credentials", "signature",
)
PLACEHOLDER = re.compile(r"<redacted:[a-z0-9_.-]+:\d+>")
MIN_ECHO = 4
"""Shorter secrets are still replaced where they were found, but not searched for elsewhere
(a 1-character password would otherwise turn every such character of every body into a placeholder)."""


def is_placeholder(value: str) -> bool:
    return PLACEHOLDER.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class RedactOptions:
    """Which header names and field names (query, form, JSON; case-insensitive) hold secrets."""

    headers: tuple[str, ...] = DEFAULT_HEADERS
    fields: tuple[str, ...] = DEFAULT_FIELDS
    extra_headers: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()

    def header_names(self) -> frozenset[str]:
        return frozenset(n.lower() for n in (*self.headers, *self.extra_headers))

    def field_names(self) -> frozenset[str]:
        return frozenset(n.lower() for n in (*self.fields, *self.extra_fields))


@dataclass(slots=True)
class Redactor:
    """Keeps the secret -> placeholder table for one recording, so placeholders stay stable."""

    options: RedactOptions = field(default_factory=RedactOptions)
    table: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    redacted_query: set[str] = field(default_factory=set)
    """Query keys found holding a secret: not matched on replay."""

    def placeholder(self, kind: str, secret: str) -> str:
        """The placeholder for *secret*, the same one every time it is seen."""
        known = self.table.get(secret)
        if known is not None:
            return known
        kind = re.sub(r"[^a-z0-9_.-]", "_", kind.lower()) or "secret"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        made = f"<redacted:{kind}:{self.counts[kind]}>"
        self.table[secret] = made
        return made

    def _header(self, name: str, value: str) -> str:
        lower = name.lower()
        if lower in ("cookie", "set-cookie"):
            # each cookie value is a secret of its own (echoed bodies show them one by one)
            pairs = value.split(";") if lower == "cookie" else value.split(";", 1)[:1]
            for pair in pairs:
                if "=" in pair:
                    self._secret(lower, pair.split("=", 1)[1].strip())
            if lower == "set-cookie" and "=" in value:
                # the cookie's name and attributes (Path, HttpOnly ...) stay: a client still stores it
                name, _, rest = value.partition("=")
                cookie, sep, attributes = rest.partition(";")
                return f"{name}={self._secret(lower, cookie.strip())}{sep}{attributes}"
        elif lower in ("authorization", "proxy-authorization") and " " in value.strip():
            scheme, _, credential = value.strip().partition(" ")
            placeholder = self._secret(lower, credential.strip())
            # the whole value gets one too, but its scheme stays readable
            self.table.setdefault(value, f"{scheme} {placeholder}")
            return f"{scheme} {placeholder}"
        return self._secret(lower, value)

    def _secret(self, kind: str, secret: str) -> str:
        if not secret or is_placeholder(secret):
            return secret
        return self.placeholder(kind, secret)

    def learn(self, captured: Captured) -> None:
        """Find the request's secrets (the table grows; nothing is replaced yet)."""
        headers, fields = self.options.header_names(), self.options.field_names()
        for name, value in captured.request_headers:
            if name.lower() in headers:
                self._header(name, value)
        for name, value in captured.response_headers:
            if name.lower() in headers:
                self._header(name, value)
        for key, value in captured.query:
            if key.lower() in fields:
                self.redacted_query.add(key)
                self._secret(key, value)
        for body, kind in ((captured.request_body, _content_type(captured.request_headers)),
                           (captured.response_body, _content_type(captured.response_headers))):
            if "json" in kind or body[:1] in (b"{", b"["):
                self._learn_json(_json(body))
            if "x-www-form-urlencoded" in kind:
                for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                    if key.lower() in fields:
                        self._secret(key, value)

    def _learn_json(self, doc: Any) -> None:
        fields = self.options.field_names()
        if isinstance(doc, dict):
            for key, value in doc.items():
                if str(key).lower() in fields and isinstance(value, str | int | float) \
                        and not isinstance(value, bool):
                    self._secret(str(key), str(value))
                else:
                    self._learn_json(value)
        elif isinstance(doc, list):
            for item in doc:
                self._learn_json(item)

    def text(self, text: str) -> str:
        """*text* with every known secret (longest first) replaced by its placeholder."""
        for secret in sorted(self.table, key=len, reverse=True):
            if len(secret) < MIN_ECHO:
                continue
            # as it is, and as it shows escaped inside a JSON string (an echoed JSON body)
            for form in dict.fromkeys((secret, json.dumps(secret)[1:-1], quote(secret, safe=""))):
                if form in text:
                    text = text.replace(form, self.table[secret])
        return text

    def body(self, body: bytes, content_type: str) -> bytes:
        """A body with its secrets replaced: JSON fields by name, then every echoed secret,
        also as it appears escaped inside JSON strings or percent-encoded in a form."""
        doc = _json(body) if ("json" in content_type or body[:1] in (b"{", b"[")) else _NO
        if doc is not _NO:
            cleaned = self.json(doc)
            if cleaned != doc:
                return json.dumps(cleaned, ensure_ascii=False, indent=None).encode()
        if "x-www-form-urlencoded" in content_type:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            return urlencode([(k, self.value(k, v)) for k, v in pairs]).encode()
        try:
            return self.text(body.decode("utf-8")).encode()
        except UnicodeDecodeError:
            return self._bytes(body)

    def _bytes(self, body: bytes) -> bytes:
        for secret in sorted(self.table, key=len, reverse=True):
            if len(secret) >= MIN_ECHO:
                body = body.replace(secret.encode(), self.table[secret].encode())
        return body

    def value(self, key: str, value: str) -> str:
        """A field's value: its placeholder when the name says secret, else with echoes replaced."""
        if key.lower() in self.options.field_names():
            return self._secret(key, value)
        return self.text(value)

    def json(self, doc: Any) -> Any:
        """A JSON document with secret fields and echoed secrets (inside strings) replaced."""
        fields = self.options.field_names()
        if isinstance(doc, dict):
            out: dict[str, Any] = {}
            for key, item in doc.items():
                if str(key).lower() in fields and isinstance(item, str | int | float) \
                        and not isinstance(item, bool):
                    out[key] = self._secret(str(key), str(item))
                else:
                    out[key] = self.json(item)
            return out
        if isinstance(doc, list):
            return [self.json(item) for item in doc]
        if isinstance(doc, str):
            return self.text(doc)
        return doc

    def headers(self, headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        names = self.options.header_names()
        return tuple((name, self._header(name, value) if name.lower() in names else self.text(value))
                     for name, value in headers)

    def redact(self, captured: Captured, decoded_response: bytes | None = None) -> Captured:
        """The exchange with every secret replaced (the response body given decoded, if it was)."""
        self.learn(captured)
        response = captured.response_body if decoded_response is None else decoded_response
        if decoded_response is not None:
            self._learn_json(_json(decoded_response))
        return replace(
            captured,
            path=self.text(captured.path),
            query=tuple((k, self.value(k, v)) for k, v in captured.query),
            request_headers=self.headers(captured.request_headers),
            request_body=self.body(captured.request_body, _content_type(captured.request_headers)),
            reason=self.text(captured.reason),
            response_headers=self.headers(captured.response_headers),
            response_body=self.body(response, _content_type(captured.response_headers)))


class _NoJson:
    pass


_NO: Any = _NoJson()


def _json(body: bytes) -> Any:
    if not body or body[:1] not in b"{[\"0123456789-tfn \r\n\t":
        return _NO
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _NO


def _content_type(headers: Iterable[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.lower()
    return ""
