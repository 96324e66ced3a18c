"""Conditional requests and ranges on in-memory bodies: 304, 412, 206 and 416 (RFC 9110 13, 14).

aiohttp does this for files only; mock bodies live in memory, so the evaluation is here, pure:
headers and body in, the answer to send out. It runs only for 2xx plans.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime

__all__ = ["conditional_answer", "etag_of", "http_date"]

Answer = tuple[int, list[tuple[str, str]], bytes]
_NOT_MODIFIED_KEEP = frozenset({"etag", "last-modified", "cache-control", "expires", "vary",
                                "content-location", "date", "x-request-id"})


@functools.lru_cache(maxsize=64)
def http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110 5.6.7), remembered: a resource's Last-Modified is the same on
    every answer, and formatting it cost a twentieth of a templated answer's CPU."""
    return formatdate(timestamp, usegmt=True)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'


def _tags(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def _weak_equal(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def _date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def conditional_answer(method: str, request: Mapping[str, str], status: int,
                       headers: list[tuple[str, str]], body: bytes, etag: str,
                       last_modified: float) -> tuple[Answer, str | None]:
    """The answer after preconditions and Range, and a note for the journal (None if unchanged).

    *etag* and *last_modified* describe the planned 2xx answer; they are added to its headers.
    """
    names = {name.lower() for name, _ in headers}
    if "etag" not in names:
        headers.append(("ETag", etag))
    else:
        etag = next(v for n, v in headers if n.lower() == "etag")
    if "last-modified" not in names:
        headers.append(("Last-Modified", http_date(last_modified)))
    safe = method in ("GET", "HEAD")
    if_match = request.get("If-Match")
    if if_match is not None:
        tags = _tags(if_match)
        if "*" not in tags and not any(t == etag and not t.startswith("W/") for t in tags):
            return (412, headers, b""), f"If-Match {if_match} failed against {etag}"
    else:
        since = _date(request.get("If-Unmodified-Since"))
        if since is not None and int(last_modified) > since:
            return (412, headers, b""), "If-Unmodified-Since failed"
    if_none_match = request.get("If-None-Match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        if "*" in tags or any(_weak_equal(t, etag) for t in tags):
            if safe:
                return (304, _not_modified(headers), b""), f"If-None-Match {if_none_match} matched"
            return (412, headers, b""), f"If-None-Match {if_none_match} matched on {method}"
    elif safe:
        since = _date(request.get("If-Modified-Since"))
        if since is not None and int(last_modified) <= since:
            return (304, _not_modified(headers), b""), "If-Modified-Since: not modified"
    if status == 200 and body:
        if "accept-ranges" not in names:
            headers.append(("Accept-Ranges", "bytes"))
        range_header = request.get("Range")
        if range_header is not None and method == "GET":
            if_range = request.get("If-Range")
            if if_range is None or if_range.strip() == etag:
                return _range(range_header, headers, body)
    return (status, headers, body), None


def _not_modified(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, v) for n, v in headers if n.lower() in _NOT_MODIFIED_KEEP]


def _range(value: str, headers: list[tuple[str, str]], body: bytes) -> tuple[Answer, str | None]:
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return (200, headers, body), "Range ignored (only one byte range is served)"
    first, _, last = spec.strip().partition("-")
    size = len(body)
    try:
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return (200, headers, body), f"Range {value!r} ignored (malformed)"
    if start >= size or start > end:
        unsatisfied = [(n, v) for n, v in headers if n.lower() not in ("etag", "accept-ranges")]
        note = f"Range {value} unsatisfiable"
        return (416, [*unsatisfied, ("Content-Range", f"bytes */{size}")], b""), note
    return (206, [*headers, ("Content-Range", f"bytes {start}-{end}/{size}")], body[start:end + 1]), \
        f"Range {value}: bytes {start}-{end}/{size}"
