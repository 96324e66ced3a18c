"""Connection faults as one family: one module per fault, each a frozen dataclass whose fields
are its spec, written against the Exchange protocol so that no fault touches aiohttp.

The registry (FAULTS, name -> class) is what the schema, the compiler, header control and the
docs table read: adding a fault is one new module here (plus its test), imported at the bottom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import field, fields
from email.utils import formatdate
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = ["FAULTS", "Exchange", "Fault", "SpecProblem", "fault_fields", "fault_table_markdown", "head",
           "register", "seeded_bytes", "spec"]


class Exchange(Protocol):
    """What a fault may do to one request's connection (wire/exchange.py implements it)."""

    status: int
    reason: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    max_hang: float  # the server-wide cap on a wait, in wall-clock seconds

    def write(self, data: bytes) -> None:
        """Raw bytes onto the connection, outside any HTTP framing."""

    def close(self) -> None:
        """FIN: close the connection after what was written."""

    def reset(self) -> None:
        """RST: close with SO_LINGER 0, so the peer sees a reset rather than a FIN."""

    def is_closing(self) -> bool:
        """Whether the connection is closed or closing (the client went away)."""

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* of scenario time (scaled by the server's time scale)."""

    async def closed_or(self, seconds: float) -> None:
        """Wait *seconds* of wall-clock time, or less when the client goes away first."""

    def scaled(self, seconds: float) -> float:
        """Scenario seconds as wall-clock seconds (the server's time scale applied)."""

    def garbage(self, size: int) -> bytes:
        """Seeded bytes: the same seed, rule and ordinal always give the same ones."""

    def count_answer(self) -> int:
        """Count one more answer on this connection and return the count so far."""

    async def answer(self) -> None:
        """Send the planned answer normally, through the server's HTTP writer."""

    async def start_body(self, length: int) -> None:
        """Send the status line and headers with Content-Length *length*; the body follows."""

    async def write_body(self, piece: bytes) -> None:
        """Send a piece of the body started by start_body."""

    async def end_body(self) -> None:
        """Finish the body started by start_body."""

    def note(self, decision: str) -> None:
        """Add a line to the exchange's journaled decisions (a byte-stream fault's write plan)."""

    def close_on_next_request(self) -> None:
        """Close the connection, with no answer, as soon as the next request's bytes arrive."""


def spec(default: Any, doc: str, *, duration: bool = False, ge: float | None = None,
         gt: float | None = None, lt: float | None = None) -> Any:
    """A fault's spec field: its default, what it means and its bounds, which the scenario schema
    reads (scenario/schema.py builds FaultSpec from these), so a fault's spec lives in its class."""
    return field(default=default, metadata={"doc": doc, "duration": duration, "ge": ge, "gt": gt, "lt": lt})


# what a spec lacks, for the schema's error: (the fields given, when they conflict; None when one is
# simply missing) and what would be valid
SpecProblem = tuple[list[str] | None, str]


class Fault:
    """Base of every fault: subclasses are frozen dataclasses; their fields are the spec."""

    __slots__ = ()

    name: ClassVar[str]
    # a field the spec must give, and the error's "expected" when it does not
    required: ClassVar[tuple[str, str] | None] = None
    sends_status: ClassVar[bool] = True  # False: the client sees no status line (journal: no status)
    by_header: ClassVar[bool] = True  # whether X-Mock-Fault (header control) may ask for it
    spec_doc: ClassVar[str] = ""  # the docs table's first column, e.g. "`reset` (`after:`)"
    wire_doc: ClassVar[str] = ""  # the docs table: what goes over the wire
    clients_doc: ClassVar[str] = ""  # the docs table: what clients see

    @classmethod
    def spec_problem(cls, given: Mapping[str, object]) -> SpecProblem | None:
        """What is wrong with a spec giving *given* (the fields set), beyond each field's own bounds;
        a fault whose fields depend on each other overrides it."""
        if cls.required is not None and cls.required[0] not in given:
            return None, cls.required[1]
        return None

    @property
    def type(self) -> str:
        """The fault's name, as a scenario spells it (the journal's ``fault``)."""
        return self.name

    def detail(self) -> str:
        """The spec in a few words, for decisions and explanations ("" when there is nothing)."""
        return ""

    def describe(self) -> str:
        detail = self.detail()
        return f"{self.name} ({detail})" if detail else self.name

    async def apply(self, exchange: Exchange) -> None:
        """Do the fault to the connection."""
        raise NotImplementedError


FAULTS: dict[str, type[Fault]] = {}
F = TypeVar("F", bound=type[Fault])


def register(cls: F) -> F:
    """Class decorator: make the fault known by its name to the schema, compiler and docs."""
    FAULTS[cls.name] = cls
    return cls


def fault_fields(name: str) -> tuple[str, ...]:
    """The spec fields a fault takes, in declaration order."""
    return tuple(f.name for f in fields(FAULTS[name]))  # type: ignore[arg-type]


def head(exchange: Exchange, extra: Sequence[tuple[str, str]], status_line: bytes | None = None) -> bytes:
    """A raw response head for the planned answer, with *extra* headers and Connection: close."""
    lines = [status_line or f"HTTP/1.1 {exchange.status} {exchange.reason}".encode()]
    closing = [("Date", formatdate(usegmt=True)), ("Connection", "close")]
    for name, value in [*exchange.headers, *extra, *closing]:
        lines.append(f"{name}: {value}".encode("latin-1", "replace"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def seeded_bytes(seed: int, key: str, ordinal: int, size: int) -> bytes:
    """Seeded random bytes: the same seed, rule and ordinal always give the same bytes."""
    return hashlib.shake_256(f"{seed}\0{key}\0{ordinal}".encode()).digest(size)


def fault_table_markdown() -> str:
    """The docs/chaos.md table of faults, from the registry (a test keeps the two equal)."""
    rows = ["| fault | on the wire | what clients see |", "|---|---|---|"]
    rows += [f"| {cls.spec_doc} | {cls.wire_doc} | {cls.clients_doc} |" for cls in FAULTS.values()]
    return "\n".join(rows) + "\n"


# the registry, in the order the docs list the faults
# isort: off
from . import reset  # noqa: E402
from . import close  # noqa: E402
from . import hang  # noqa: E402
from . import drop  # noqa: E402
from . import truncate  # noqa: E402
from . import malformed_chunk  # noqa: E402
from . import garbage  # noqa: E402
from . import malformed_status  # noqa: E402
from . import slow_headers  # noqa: E402
from . import drip  # noqa: E402
from . import keepalive_drop  # noqa: E402
from . import bandwidth  # noqa: E402
from . import latency  # noqa: E402
from . import slicer  # noqa: E402
from . import limit_data  # noqa: E402
from . import slow_close  # noqa: E402
from . import timeout  # noqa: E402
from . import keepalive_race  # noqa: E402
# isort: on

__all__ += ["close", "drip", "drop", "garbage", "hang", "keepalive_drop", "malformed_chunk",
            "malformed_status", "reset", "slow_headers", "truncate"]
__all__ += ["bandwidth", "keepalive_race", "latency", "limit_data", "slicer", "slow_close", "timeout"]
