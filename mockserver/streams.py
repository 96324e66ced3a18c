"""Streaming answers (server-sent events, JSON lines), as a pure plan: which bytes go out, after
what wait, and how the stream ends. The wire (wire/streaming.py) only writes the plan, so the
framing, resume, pacing and faults are decided here, seeded, and testable without a socket.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from .faults.pacing import summary
from .faults.streams import Duplicate, Malformed, OutOfOrder, Pause, Reset, Stop, StreamFault, resolve_after
from .templating import Context, JsonTemplate, Template

__all__ = ["CONTENT_TYPES", "Step", "Stream", "StreamEvent", "StreamPlan", "frame", "plan_stream"]

Format = Literal["sse", "ndjson", "jsonl"]
CONTENT_TYPES: dict[str, str] = {"sse": "text/event-stream", "ndjson": "application/x-ndjson",
                                 "jsonl": "application/jsonl"}


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event as the scenario wrote it: SSE fields, or a JSON value (a line of JSON lines)."""

    data: Template | None = None
    json_value: Any = None  # a JSON document; templated strings inside when json_template is set
    json_template: JsonTemplate | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None  # milliseconds, as the SSE field says
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """A rule's compiled ``stream:``."""

    format: Format
    events: tuple[StreamEvent, ...]
    interval: float = 0.0
    jitter: float = 0.0
    fault: StreamFault | None = None
    content_type: str | None = None

    @property
    def media_type(self) -> str:
        return self.content_type or CONTENT_TYPES[self.format]


@dataclass(frozen=True, slots=True)
class Step:
    """Wait *wait* seconds (scenario time, from the previous step), then write *data* and flush."""

    wait: float
    data: bytes
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What goes out: the steps in order, how the stream ends, and notes for the journal."""

    steps: tuple[Step, ...]
    end: Literal["clean", "abrupt", "reset"] = "clean"
    total: int = 0  # events the scenario has after the resume point
    notes: tuple[str, ...] = field(default=())


def _data(event: StreamEvent, ctx: Context) -> str | None:
    if event.json_template is not None:
        return event.json_template.render(ctx).decode()
    if event.json_value is not None:
        return json.dumps(event.json_value)
    if event.data is not None:
        return event.data.render(ctx)
    return None


def frame(format: Format, event: StreamEvent, data: str | None) -> bytes:
    """The bytes of one event: SSE fields and a blank line, or one JSON line."""
    if format != "sse":
        return ((data or "").replace("\r", "").replace("\n", " ") + "\n").encode()
    lines: list[str] = []
    if event.comment is not None:
        lines += [f": {line}" for line in event.comment.splitlines() or [""]]
    if event.id is not None:
        lines.append(f"id: {event.id}")
    if event.event is not None:
        lines.append(f"event: {event.event}")
    if event.retry is not None:
        lines.append(f"retry: {event.retry}")
    if data is not None:
        # a data value of several lines is several data fields; the client joins them with \n
        lines += [f"data: {line}" for line in data.replace("\r\n", "\n").split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def _cut(format: Format, event: StreamEvent, data: str | None) -> bytes:
    """The event with its data cut in half: framing intact, the data no longer parses."""
    text = data or ""
    return frame(format, event, text[:len(text) // 2] if len(text) > 1 else "{")


def plan_stream(stream: Stream, ctx: Context, last_event_id: str | None, rng: random.Random) -> StreamPlan:
    """The plan for one request: resume after *last_event_id*, render, pace, then the fault.

    Raises TemplateRenderError (before anything is sent) when an event's template fails."""
    notes: list[str] = []
    events = list(stream.events)
    if last_event_id is not None and stream.format == "sse":
        known = [e.id for e in events]
        if last_event_id in known:
            start = len(known) - known[::-1].index(last_event_id)
            events = events[start:]
            notes.append(f"stream: Last-Event-ID {last_event_id!r}: resumed after it, {len(events)} to send")
        else:
            notes.append(f"stream: Last-Event-ID {last_event_id!r} is not an id of this stream: "
                         "from the start")
    rendered = [(e, _data(e, ctx)) for e in events]
    frames = [frame(stream.format, e, d) for e, d in rendered]
    ids: list[str | None] = [e.id for e in events]
    fault = resolve_after(stream.fault, len(frames), rng) if stream.fault is not None else None
    end: Literal["clean", "abrupt", "reset"] = "clean"
    pause_at, pause = -1, 0.0
    if isinstance(fault, Malformed) and 1 <= fault.at <= len(frames):
        e, d = rendered[fault.at - 1]
        frames[fault.at - 1] = _cut(stream.format, e, d)
    elif isinstance(fault, Duplicate) and 1 <= fault.at <= len(frames):
        frames.insert(fault.at, frames[fault.at - 1])
        ids.insert(fault.at, ids[fault.at - 1])
    elif isinstance(fault, OutOfOrder) and 1 <= fault.at < len(frames):
        i = fault.at - 1
        frames[i], frames[i + 1] = frames[i + 1], frames[i]
        ids[i], ids[i + 1] = ids[i + 1], ids[i]
    elif isinstance(fault, Stop | Reset):
        assert fault.after is not None
        frames, ids = frames[:fault.after], ids[:fault.after]
        end = "reset" if isinstance(fault, Reset) else "abrupt" if fault.abrupt else "clean"
    elif isinstance(fault, Pause):
        pause_at, pause = fault.after, fault.duration
    steps = []
    for index, (data, event_id) in enumerate(zip(frames, ids, strict=True)):
        wait = 0.0
        if index:
            wait = stream.interval + (rng.uniform(0.0, stream.jitter) if stream.jitter else 0.0)
        if index == pause_at:
            wait += pause
        steps.append(Step(wait, data, event_id))
    if stream.jitter:
        notes.append("stream: waits " + summary([round(step.wait, 4) for step in steps]) + " s")
    if fault is not None:
        notes.append(f"stream fault: {fault.describe()}")
    return StreamPlan(tuple(steps), end, len(events), tuple(notes))
