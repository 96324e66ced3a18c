"""Importing HAR files (what a browser's developer tools save) through the recorder.

Each entry becomes a Captured exchange and goes through the same redaction and folding as a live
recording. HAR bodies are stored decoded already, so their Content-Encoding header is dropped.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .build import Recorder
from .capture import Captured

__all__ = ["ImportRefused", "import_har"]


class ImportRefused(ValueError):
    """A file that cannot be imported; the message says where and what was expected."""


def _pairs(items: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(items, list):
        raise ImportRefused(f"{where}: found {type(items).__name__}; expected a list of {{name, value}}")
    out = []
    for item in items:
        if not isinstance(item, dict) or "name" not in item:
            raise ImportRefused(f"{where}: found {item!r:.60}; expected {{name, value}}")
        out.append((str(item["name"]), str(item.get("value", ""))))
    return tuple(out)


def import_har(path: str | Path, recorder: Recorder) -> int:
    """Add every entry of the HAR file at *path* to *recorder*; returns how many."""
    source = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"{source}: cannot read it ({exc})") from None
    except ValueError as exc:
        raise ImportRefused(f"{source}: not JSON ({exc}); expected a HAR file") from None
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ImportRefused(f"{source}: found no log.entries; expected a HAR file (log.entries: [...])")
    for index, entry in enumerate(entries):
        where = f"{source}: log.entries[{index}]"
        try:
            recorder.add(_captured(entry, where), note=f"HAR log.entries[{index}]")
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ImportRefused(f"{where}: missing or wrong field ({type(exc).__name__}: {exc}); "
                                "expected request and response as a browser writes them") from None
    return len(entries)


def _captured(entry: dict[str, Any], where: str) -> Captured:
    request, response = entry["request"], entry["response"]
    url = urlsplit(request["url"])
    query = tuple(parse_qsl(url.query, keep_blank_values=True))
    post = request.get("postData") or {}
    request_body = str(post.get("text", "")).encode()
    content = response.get("content") or {}
    text = content.get("text", "") or ""
    body = base64.b64decode(text) if content.get("encoding") == "base64" else str(text).encode()
    headers = _pairs(response.get("headers", []), f"{where}.response.headers")
    # a browser saves the body decoded but keeps the header that said it was compressed
    headers = tuple((n, v) for n, v in headers if n.lower() not in ("content-encoding", "content-length"))
    status = int(response["status"])
    started = 0.0
    if isinstance(entry.get("startedDateTime"), str):
        try:
            started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            started = 0.0
    failed = status == 0  # a browser's HAR says 0 when no answer came
    return Captured(
        method=str(request["method"]), path=url.path or "/", query=query,
        request_headers=tuple((n, v) for n, v in _pairs(request.get("headers", []),
                                                        f"{where}.request.headers")
                              if not n.startswith(":")),
        request_body=request_body, status=None if failed else status,
        reason=str(response.get("statusText", "")), response_headers=() if failed else headers,
        response_body=b"" if failed else body, latency=max(float(entry.get("time", 0) or 0), 0) / 1000,
        started=started, failure="reset" if failed else None,
        upstream=f"{url.scheme}://{url.netloc}")
