"""What ``mockserver serve`` prints: one line per exchange, written without ever stalling the server.

A standalone user sees each request as it is answered: method, target, what was answered (or
the fault), the rule and how long it took; a request that matched no rule is marked and names
the nearest rule. Lines reach stdout through a writer thread with a bounded queue: a terminal
that scrolls slowly, or a pipe nobody reads (a CI script that only waits for the first line),
never blocks the event loop; lines that do not fit are counted and the count is printed when
output flows again. In-process servers (the pytest fixture) never load this module.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from typing import TextIO

from .journal import Entry

__all__ = ["MAX_QUEUED", "Output", "describe_exchange"]

MAX_QUEUED = 10_000  # lines waiting for a slow reader; beyond that they are dropped (and counted)
MAX_TARGET = 200  # characters of the request target shown; the journal has all of it


def describe_exchange(entry: Entry) -> str:
    """``GET /orders/7 -> 200 OK (orders/show-order) 12.5ms``; unmatched lines start with UNMATCHED."""
    target = entry.path + (f"?{entry.query_string}" if entry.query_string else "")
    if len(target) > MAX_TARGET:
        target = target[:MAX_TARGET] + "..."
    request = f"{_printable(entry.method)} {_printable(target)}"
    took = _duration(entry)
    fault = _fault(entry)
    if entry.status is None:  # a fault that sent no status line: say what the client met instead
        answer = f"fault {fault or entry.reason or entry.outcome}"
    else:
        answer = f"{entry.status} {entry.reason}".rstrip()
        if fault:
            answer += f", fault {fault}"  # a partial answer: the status went out, then the fault
    if entry.outcome == "unmatched":
        nearest = _nearest(entry)
        return f"UNMATCHED {request} -> {answer} ({nearest}) {took}"
    notes = [entry.rule] if entry.rule else []
    if entry.outcome not in ("answered", "fault"):
        notes.append(OUTCOMES.get(entry.outcome, entry.outcome))
    if entry.outcome == "error" and entry.decisions:
        notes.append("; ".join(entry.decisions))
    prefix = "ERROR " if entry.outcome == "error" else ""
    detail = f" ({', '.join(notes)})" if notes else ""
    return f"{prefix}{request} -> {answer}{detail} {took}"


OUTCOMES = {"timed_out": "timed out", "client_gone": "client went away", "refused": "refused",
            "error": "mockserver failed", "pending": "still pending"}


def _fault(entry: Entry) -> str | None:
    name = getattr(entry, "fault", None)  # entries that carry the fault's name
    if isinstance(name, str) and name:
        return name
    if entry.outcome != "fault":
        return None
    for decision in entry.decisions:
        kind, _, detail = decision.partition(": ")
        if kind == "fault" or kind.endswith(" fault"):
            return detail.removeprefix("fault ")
        if "fault " in decision:
            return decision.split("fault ", 1)[1]
    return None


def _nearest(entry: Entry) -> str:
    if not entry.near_misses:
        return "no rule matched; no rule is near"
    first = entry.near_misses[0]
    found = dict(first) if isinstance(first, dict) else dict(first.as_dict())
    misses = found.get("mismatches") or []
    why = f": {_printable(str(misses[0]))}" if misses else ""
    return f"no rule matched; nearest {found.get('rule')}{why}"


def _duration(entry: Entry) -> str:
    if entry.ended is None:
        return ""
    seconds = max(0.0, entry.ended - entry.arrived)
    if seconds >= 1:
        return f"{seconds:.2f}s"
    return f"{seconds * 1000:.1f}ms" if seconds < 0.01 else f"{seconds * 1000:.0f}ms"


def _printable(text: str) -> str:
    """Control characters escaped: a request cannot forge log lines or move the terminal's cursor."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Output:
    """Lines for stdout and stderr, written in order by one thread, never blocking the caller.

    Streams without a file descriptor (a StringIO in tests) are written at once instead.
    """

    def __init__(self, out: TextIO, err: TextIO, *, max_queued: int = MAX_QUEUED) -> None:
        self.out, self.err = out, err
        self.max_queued = max_queued
        self.dropped = 0
        self._fds = {id(out): _fd(out), id(err): _fd(err)}
        self._queue: deque[tuple[TextIO, str]] = deque()
        self._ready = threading.Condition()
        self._closing = False
        self._broken: set[int] = set()
        self._thread: threading.Thread | None = None
        if any(fd is not None for fd in self._fds.values()):
            self._thread = threading.Thread(target=self._write_all, name="mockserver-output", daemon=True)
            self._thread.start()

    def line(self, text: str, *, error: bool = False) -> None:
        """Print *text* and a newline on stdout (stderr when *error*), soon."""
        stream = self.err if error else self.out
        if self._fds[id(stream)] is None:
            self._write_now(stream, text + "\n")
            return
        with self._ready:
            if len(self._queue) >= self.max_queued:
                self.dropped += 1
                return
            self._queue.append((stream, text + "\n"))
            self._ready.notify()

    def write(self, text: str) -> int:
        """File-like, for writers that want a stream (the JSON log): whole lines go to stdout."""
        for part in text.splitlines():
            self.line(part)
        return len(text)

    def flush(self) -> None:
        """Lines are flushed by the writer thread as it writes them."""

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued (waiting at most *timeout* for a slow reader), then stop."""
        if self._thread is None:
            return
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)

    def _write_all(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                batch = list(self._queue)
                self._queue.clear()
                dropped, self.dropped = self.dropped, 0
                if not batch and self._closing:
                    return
            if dropped:
                batch.append((self.err, f"mockserver: {dropped} log line(s) dropped: output was not "
                                        "being read fast enough\n"))
            for stream in (self.out, self.err):
                text = "".join(t for s, t in batch if s is stream)
                if text:
                    self._write_fd(stream, text)

    def _write_fd(self, stream: TextIO, text: str) -> None:
        fd = self._fds[id(stream)]
        if fd is None or fd in self._broken:
            return
        data = text.encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError:  # a closed pipe (| head) or a full disk: stop writing there, keep serving
            self._broken.add(fd)

    def _write_now(self, stream: TextIO, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(text)
            stream.flush()


def _fd(stream: TextIO) -> int | None:
    """The descriptor to write *stream*'s lines to, after flushing what Python buffered."""
    if stream not in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        return None
    try:
        stream.flush()
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None
