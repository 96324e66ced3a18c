"""Recording while serving: every proxied exchange into a Recorder, the journal redacted too.

``mockserver record`` and the pytest plugin's record modes attach one ``LiveRecording`` to a
server: the proxy hands it each forwarded exchange (``observe``), the journal passes each entry
through ``scrub`` before anyone can read it (so no secret reaches ``GET /__mock/journal`` or the
dashboard), and ``save`` writes the scenario, at the end or when the control API asks.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from ..journal import Entry, WireHeaders
from .build import Recorder, RecordOptions
from .capture import Captured

__all__ = ["LiveRecording"]


class LiveRecording:
    """One recording in progress: what was captured, and where it is written."""

    def __init__(self, out: str | Path, options: RecordOptions | None = None,
                 keep: Sequence[dict[str, Any]] = ()) -> None:
        self.out = Path(out)
        self.recorder = Recorder(options or RecordOptions(name=self.out.stem))
        self.captured = 0
        self.saved = 0  # how many exchanges the file on disk holds (after the last save)
        self._lock = threading.Lock()  # the server's loop adds; a test's thread may save
        for rule in keep:  # new_episodes: the rules already recorded stay, first
            self.recorder.add_rule(rule, "kept from the earlier recording")

    @property
    def redactor(self) -> Any:
        return self.recorder.redactor

    def observe(self, captured: Captured) -> None:
        """The proxy's observer: keep one exchange (redacted on the way in)."""
        with self._lock:
            self.recorder.add(captured)
            self.captured += 1

    def scrub(self, entry: Entry) -> Entry:
        """A journal entry with the request's secrets (headers, query, body) and any echo of them
        replaced by the recording's placeholders, the same ones the file gets."""
        with self._lock:
            redactor = self.recorder.redactor
            pairs = tuple(entry.header_pairs())
            query = tuple((unquote_plus(k), unquote_plus(v)) for k, _, v in
                          (part.partition("=") for part in entry.query_string.split("&") if part))
            probe = Captured(method=entry.method, path=entry.path, query=query, request_headers=pairs,
                             request_body=entry.body, status=entry.status, reason=entry.reason,
                             response_headers=entry.response_headers, response_body=b"", latency=0.0,
                             started=0.0)
            clean = redactor.redact(probe)
            return replace(
                entry, path=clean.path, query_string=self._query(entry.query_string),
                headers=WireHeaders.of(clean.request_headers),
                body=clean.request_body if entry.body else entry.body,
                response_headers=clean.response_headers,
                decisions=tuple(redactor.text(d) for d in entry.decisions))

    def _query(self, raw: str) -> str:
        """The raw query with secret values replaced, every other byte as the client sent it."""
        redactor = self.recorder.redactor
        fields = redactor.options.field_names()
        parts = []
        for part in raw.split("&"):
            key, sep, value = part.partition("=")
            if sep and unquote_plus(key).lower() in fields and value:
                placeholder = redactor.value(unquote_plus(key), unquote_plus(value))
                parts.append(f"{key}={quote(placeholder, safe='<>:')}")
            else:
                parts.append(redactor.text(part))
        return "&".join(parts)

    def scenario(self) -> dict[str, Any]:
        """The scenario as it would be written now."""
        with self._lock:
            return self.recorder.scenario(f"{self.out.stem}.files")

    def summary(self) -> dict[str, Any]:
        """What ``GET /__mock/recording`` shows: where it goes, how much, and the scenario so far."""
        scenario = self.scenario()
        return {"out": str(self.out), "exchanges": self.captured, "saved": self.saved,
                "rules": len(scenario["rules"]), "warnings": list(self.recorder.warnings),
                "scenario": scenario}

    def save(self) -> list[Path]:
        """Write the scenario (and side files) to ``out``; the paths written."""
        with self._lock:
            written = self.recorder.write(self.out)
            self.saved = self.captured
            return written
