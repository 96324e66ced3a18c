"""Captured exchanges built by hand, for the recorder's unit tests."""

from __future__ import annotations

from mockserver.record.capture import Captured

PROJECT = "0123456789abcdef0123456789abcdef"
CLUSTER = "5c1d4e7a-9b2f-4c3e-8a1d-2f6b7c8d9e0f"


def cap(method: str = "GET", path: str = "/", *, query: tuple[tuple[str, str], ...] = (),
        headers: tuple[tuple[str, str], ...] = (), body: bytes = b"", status: int | None = 200,
        reason: str = "OK", response_headers: tuple[tuple[str, str], ...] = (
            ("Content-Type", "application/json"),),
        response_body: bytes = b"{}", latency: float = 0.01, failure: str | None = None) -> Captured:
    """One exchange, with the defaults of a plain JSON 200."""
    return Captured(method, path, query, headers, body, status, reason, response_headers,
                    response_body, latency, 1_764_633_600.0, failure, "http://127.0.0.1:9")
