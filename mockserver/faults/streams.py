"""Faults inside a streaming answer (server-sent events, JSON lines): each a frozen dataclass
whose fields are its spec, like the connection faults, but applied to the stream's events.

They live in their own registry (STREAM_FAULTS): they make sense only under a rule's
``stream:``, never as a rule's ``fault:`` on a plain answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar, Literal

__all__ = ["STREAM_FAULTS", "Duplicate", "Malformed", "OutOfOrder", "Pause", "Reset", "Stop", "StreamFault",
           "StreamFaultType", "resolve_after", "stream_fault_table_markdown"]

End = Literal["clean", "abrupt", "reset"]


class StreamFault:
    """Base of the stream faults: how the planned events are sent, and how the stream ends."""

    __slots__ = ()

    name: ClassVar[str]
    spec_doc: ClassVar[str] = ""
    clients_doc: ClassVar[str] = ""
    real_doc: ClassVar[str] = ""

    @property
    def type(self) -> str:
        """The journal's ``fault``: stream_ and the fault's name (stream_stop, stream_reset, ...)."""
        return "stream_" + self.name

    def describe(self) -> str:
        return self.name


def _draw(after: int | None, total: int, rng: random.Random) -> int:
    """*after*, or (when the scenario leaves it open) a seeded draw that cuts the stream short."""
    if after is not None:
        return after
    return rng.randint(0, max(0, total - 1))


@dataclass(frozen=True, slots=True)
class Stop(StreamFault):
    """Stop after *after* events: a clean end (the last chunk) or abrupt (FIN, no last chunk)."""

    name = "stop"
    spec_doc = "`stop` (`after:`, `abrupt:`)"
    clients_doc = ("clean: the stream just ends early; abrupt: httpx `RemoteProtocolError` (incomplete "
                   "chunked read), requests `ChunkedEncodingError`, aiohttp `ClientPayloadError`")
    real_doc = "a server restarted or scaled down mid-stream; a proxy's stream time limit"

    after: int | None = None
    abrupt: bool = False

    def describe(self) -> str:
        return f"stop after {self.after} ({'abrupt' if self.abrupt else 'clean'})"


@dataclass(frozen=True, slots=True)
class Reset(StreamFault):
    """A TCP RST after *after* events."""

    name = "reset"
    spec_doc = "`reset` (`after:`)"
    clients_doc = ("httpx `ReadError` (connection reset), requests `ChunkedEncodingError` (reset by peer), "
                   "aiohttp `ClientPayloadError`")
    real_doc = "a load balancer or NAT dropping a long-lived connection"

    after: int | None = None

    def describe(self) -> str:
        return f"reset after {self.after}"


@dataclass(frozen=True, slots=True)
class Malformed(StreamFault):
    """Event number *at* (1-based) goes out with its data cut in half, framing intact."""

    name = "malformed"
    spec_doc = "`malformed` (`at:`)"
    clients_doc = "the event arrives; `json.loads` of its data raises `JSONDecodeError`"
    real_doc = "a buggy upstream or a proxy that rewrote a chunk"

    at: int = 1

    def describe(self) -> str:
        return f"malformed event {self.at}"


@dataclass(frozen=True, slots=True)
class Pause(StreamFault):
    """A silence of *duration* seconds after *after* events, then the rest of the stream."""

    name = "pause"
    spec_doc = "`pause` (`after:`, `duration:`)"
    clients_doc = ("a read timeout shorter than the pause: httpx `ReadTimeout`, requests `ConnectionError` "
                   "(read timed out), aiohttp `SocketTimeoutError`")
    real_doc = "a stalled upstream (an LLM that thinks), a stream without keep-alive comments"

    after: int = 1
    duration: float = 30.0

    def describe(self) -> str:
        return f"pause {self.duration:g}s after {self.after}"


@dataclass(frozen=True, slots=True)
class Duplicate(StreamFault):
    """Event number *at* is sent twice (same id, same data)."""

    name = "duplicate"
    spec_doc = "`duplicate` (`at:`)"
    clients_doc = "the same id and data twice in a row"
    real_doc = "an at-least-once broker redelivering, a resume that replays one event"

    at: int = 1

    def describe(self) -> str:
        return f"duplicate event {self.at}"


@dataclass(frozen=True, slots=True)
class OutOfOrder(StreamFault):
    """Events *at* and *at*+1 are swapped."""

    name = "out_of_order"
    spec_doc = "`out_of_order` (`at:`)"
    clients_doc = "ids go backwards once: ..., at+1, at, ..."
    real_doc = "events merged from several partitions or replicas"

    at: int = 1

    def describe(self) -> str:
        return f"events {self.at} and {self.at + 1} swapped"


StreamFaultType = Stop | Reset | Malformed | Pause | Duplicate | OutOfOrder
STREAM_FAULTS: dict[str, type[StreamFault]] = {
    cls.name: cls for cls in (Stop, Reset, Malformed, Pause, Duplicate, OutOfOrder)}


def stream_fault_table_markdown() -> str:
    """The docs' table of stream faults, from the classes (a test keeps the two equal)."""
    rows = ["| layer | fault | client sees | real-world failure |", "|---|---|---|---|"]
    rows += [f"| stream | {cls.spec_doc} | {cls.clients_doc} | {cls.real_doc} |"
             for cls in STREAM_FAULTS.values()]
    return "\n".join(rows) + "\n"


def resolve_after(fault: StreamFault, total: int, rng: random.Random) -> StreamFault:
    """The fault with a seeded ``after`` where the scenario left it open (stop, reset)."""
    if isinstance(fault, Stop) and fault.after is None:
        return Stop(_draw(None, total, rng), fault.abrupt)
    if isinstance(fault, Reset) and fault.after is None:
        return Reset(_draw(None, total, rng))
    return fault
