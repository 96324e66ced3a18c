"""The stream plan (streams.py), without a socket: SSE framing, resume, pacing and each fault."""

from __future__ import annotations

import random

import pytest

from mockserver.faults.streams import Duplicate, Malformed, OutOfOrder, Pause, Reset, Stop
from mockserver.request import RequestSnapshot
from mockserver.streams import Stream, StreamEvent, frame, plan_stream
from mockserver.templating import Context, Template

CTX = Context(RequestSnapshot("GET", "/events/cpu"), {"topic": "cpu"}, "req-1")


def numbered(n: int = 4) -> tuple[StreamEvent, ...]:
    return tuple(StreamEvent(data=Template(f'{{"n": {i}}}'), id=str(i)) for i in range(1, n + 1))


def ids(stream: Stream, last: str | None = None, seed: int = 1) -> list[str | None]:
    return [s.id for s in plan_stream(stream, CTX, last, random.Random(seed)).steps]


def test_sse_frame_has_every_field_and_one_data_line_per_line() -> None:
    event = StreamEvent(event="tick", id="7", retry=1500, comment="hi")
    assert frame("sse", event, "a\nb") == b": hi\nid: 7\nevent: tick\nretry: 1500\ndata: a\ndata: b\n\n"


def test_json_lines_frame_is_one_line() -> None:
    assert frame("ndjson", StreamEvent(), '{"a":\n1}') == b'{"a": 1}\n'


def test_templates_render_per_request() -> None:
    stream = Stream("sse", (StreamEvent(data=Template("topic {{ path.topic }} {{ request.id }}")),))
    assert plan_stream(stream, CTX, None, random.Random(0)).steps[0].data == b"data: topic cpu req-1\n\n"


def test_last_event_id_resumes_after_it() -> None:
    stream = Stream("sse", numbered())
    assert ids(stream, "2") == ["3", "4"]
    assert ids(stream, "4") == []
    assert ids(stream, "nine") == ["1", "2", "3", "4"]


def test_pacing_and_jitter_are_seeded() -> None:
    stream = Stream("sse", numbered(), interval=0.1, jitter=0.05)
    waits = [s.wait for s in plan_stream(stream, CTX, None, random.Random(3)).steps]
    assert waits[0] == 0.0
    assert all(0.1 <= w <= 0.15 for w in waits[1:])
    assert waits == [s.wait for s in plan_stream(stream, CTX, None, random.Random(3)).steps]
    assert waits != [s.wait for s in plan_stream(stream, CTX, None, random.Random(4)).steps]


@pytest.mark.parametrize(("fault", "expected", "end"), [
    (Stop(2), ["1", "2"], "clean"),
    (Stop(2, abrupt=True), ["1", "2"], "abrupt"),
    (Reset(1), ["1"], "reset"),
    (Duplicate(2), ["1", "2", "2", "3", "4"], "clean"),
    (OutOfOrder(2), ["1", "3", "2", "4"], "clean"),
])
def test_faults_shape_the_events(fault: Stop, expected: list[str], end: str) -> None:
    plan = plan_stream(Stream("sse", numbered(), fault=fault), CTX, None, random.Random(0))
    assert [s.id for s in plan.steps] == expected
    assert plan.end == end


def test_malformed_cuts_the_data_in_half_and_keeps_the_framing() -> None:
    plan = plan_stream(Stream("sse", numbered(), fault=Malformed(2)), CTX, None, random.Random(0))
    assert [s.data for s in plan.steps[1:3]] == [b'id: 2\ndata: {"n"\n\n', b'id: 3\ndata: {"n": 3}\n\n']


def test_pause_waits_before_the_next_event() -> None:
    stream = Stream("sse", numbered(), fault=Pause(after=1, duration=5.0))
    plan = plan_stream(stream, CTX, None, random.Random(0))
    assert [s.wait for s in plan.steps] == [0.0, 5.0, 0.0, 0.0]


def test_an_open_stop_is_drawn_from_the_seed() -> None:
    stream = Stream("sse", numbered(8), fault=Stop(None, abrupt=True))
    counts = {len(ids(stream, seed=seed)) for seed in range(20)}
    assert len(counts) > 1 and max(counts) < 8
    assert ids(stream, seed=5) == ids(stream, seed=5)
