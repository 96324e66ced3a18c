"""A frozen snapshot of one request: everything the engine may look at, and no aiohttp types.

The engine, matchers and templates only ever see this, which is why they can be unit-tested
without sockets. JSON is parsed lazily, once, because most rules never look at the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

__all__ = ["NO_JSON", "RequestSnapshot", "json_lookup"]

NO_JSON: Any = object()
_UNPARSED: Any = object()


class RequestSnapshot:
    """Method, path, query, case-insensitive headers, body and where the request came from."""

    __slots__ = ("_json", "body", "client", "headers", "method", "path", "query", "raw_path", "version")

    def __init__(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        raw_path: str | None = None,
        client: str = "",
        version: str = "1.1",
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path if raw_path is not None else path
        self.query: Mapping[str, str] = (
            query if isinstance(query, MultiDictProxy | MultiDict) else MultiDict(query or {}))
        self.headers: Mapping[str, str] = (
            headers if isinstance(headers, CIMultiDictProxy | CIMultiDict) else CIMultiDict(headers or {}))
        self.body = body
        self.client = client
        self.version = version
        self._json: Any = _UNPARSED

    @classmethod
    def trusted(cls, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                body: bytes, raw_path: str, client: str, version: str) -> RequestSnapshot:
        """The server's constructor: its query and headers are already immutable multidicts
        (case-insensitive headers), so the checks and copies of __init__ are skipped."""
        snapshot = cls.__new__(cls)
        snapshot.method, snapshot.path, snapshot.raw_path = method, path, raw_path
        snapshot.query, snapshot.headers, snapshot.body = query, headers, body
        snapshot.client, snapshot.version, snapshot._json = client, version, _UNPARSED
        return snapshot

    def query_values(self, name: str) -> list[str]:
        """Every value of a query parameter, in request order (``?tag=a&tag=b``)."""
        query = self.query
        if isinstance(query, MultiDictProxy | MultiDict):
            return query.getall(name, [])
        value = query.get(name)
        return [] if value is None else [value]

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or NO_JSON when it is empty or not JSON."""
        if self._json is _UNPARSED:
            try:
                self._json = json.loads(self.body) if self.body else NO_JSON
            except ValueError:
                self._json = NO_JSON
        return self._json

    def __repr__(self) -> str:
        return f"<RequestSnapshot {self.method} {self.raw_path}>"


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_lookup(document: Any, path: str) -> tuple[bool, Any]:
    """Follow ``a.b[0].c`` into a JSON document; (found, value)."""
    current = document
    for name, index in _PATH_TOKEN.findall(path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return False, None
            current = current[int(index)]
        else:
            if not isinstance(current, dict) or name not in current:
                return False, None
            current = current[name]
    return True, current
