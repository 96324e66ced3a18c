"""Chaos, compiled: faults, weighted mixes, timelines, token buckets and concurrency caps.

All of it is pure: draws come from rng.uniforms(seed, key, ordinal), time from the clock the
engine is given, and mutable counters live in the StateStore session. The server only carries
out the Fault a resolution names (wire.py).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from .responses import Plan

__all__ = ["FAULT_FIELDS", "FAULT_NAMES", "SILENT_FAULTS", "Concurrency", "Fault", "Mix", "Outcome", "Phase",
           "RateLimit", "ScenarioChaos", "Timeline"]

# every fault type and the fields that apply to it: the schema validates with it, header control
# names from it (the core owns it so the engine never imports the file format)
FAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "reset": ("after",),
    "close": ("after",),
    "hang": (),
    "drop": ("after",),
    "truncate": ("bytes", "fraction"),
    "malformed_chunk": (),
    "garbage": ("bytes",),
    "malformed_status": (),
    "slow_headers": ("delay", "interval", "chunk_size"),
    "drip": ("chunks", "over", "rate"),
    "keepalive_drop": ("requests",),
}
FAULT_NAMES: tuple[str, ...] = tuple(FAULT_FIELDS)

# faults after which the client has seen no HTTP status (nothing, or bytes that are not a status
# line): their journal entries carry no status; the others send the planned status line first
SILENT_FAULTS = frozenset({"reset", "close", "drop", "hang", "garbage", "malformed_status"})


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to the connection. Fields unused by a type keep their defaults."""

    type: str
    after: float = 0.0
    bytes: int | None = None
    fraction: float = 0.5
    chunks: int = 0
    over: float = 0.0
    rate: float | None = None
    delay: float = 0.0
    interval: float = 0.1
    chunk_size: int = 16
    requests: int = 1

    @property
    def sends_status(self) -> bool:
        """Whether the client gets a real status line before the fault strikes (truncate, drip...)."""
        return self.type not in SILENT_FAULTS

    def describe(self) -> str:
        detail = {
            "reset": f"after {self.after:g}s" if self.after else "",
            "close": f"after {self.after:g}s" if self.after else "",
            "drop": f"after {self.after:g}s",
            "truncate": (f"{self.bytes} bytes" if self.bytes is not None
                         else f"{self.fraction:.0%} of the body"),
            "garbage": f"{self.bytes if self.bytes is not None else 256} bytes",
            "drip": f"{self.rate:g} B/s" if self.rate else f"{self.chunks} chunks over {self.over:g}s",
            "slow_headers": f"{self.delay:g}s, then {self.chunk_size} B every {self.interval:g}s",
            "keepalive_drop": f"after {self.requests} requests",
        }.get(self.type, "")
        return f"{self.type} ({detail})" if detail else self.type


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome of a mix or a phase: another plan, a fault, extra delay, or none of them."""

    weight: float = 1.0
    plan: Plan | None = None
    fault: Fault | None = None
    delay: float = 0.0

    def describe(self) -> str:
        if self.plan is not None:
            return f"answer {self.plan.status}"
        if self.fault is not None:
            return f"fault {self.fault.describe()}"
        if self.delay:
            return f"delay +{self.delay:g}s"
        return "the rule's own answer"


@dataclass(frozen=True, slots=True)
class Mix:
    """Weighted outcomes; a uniform draw in [0, 1) picks one."""

    outcomes: tuple[Outcome, ...]
    bounds: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        total = sum(o.weight for o in self.outcomes)
        running, bounds = 0.0, []
        for outcome in self.outcomes:
            running += outcome.weight / total
            bounds.append(running)
        object.__setattr__(self, "bounds", tuple(bounds))

    def pick(self, u: float) -> tuple[int, Outcome]:
        index = min(bisect.bisect_right(self.bounds, u), len(self.outcomes) - 1)
        return index, self.outcomes[index]

    def share(self, index: int) -> float:
        return self.bounds[index] - (self.bounds[index - 1] if index else 0.0)


@dataclass(frozen=True, slots=True)
class Phase:
    """From *start* to *end* seconds: an outcome (or a mix), and maybe a Retry-After."""

    start: float
    end: float
    outcome: Outcome | None = None
    mix: Mix | None = None
    retry_after: str | float | None = None  # "remaining" or seconds

    def label(self) -> str:
        return f"{self.start:g}s-{self.end:g}s"


@dataclass(frozen=True, slots=True)
class Timeline:
    """Phases in order; after the last one, nothing happens (recovery)."""

    phases: tuple[Phase, ...]

    def at(self, now: float) -> tuple[int, Phase] | None:
        for index, phase in enumerate(self.phases):
            if phase.start <= now < phase.end:
                return index, phase
        return None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Token bucket: *rate* tokens per second up to *burst*."""

    rate: float
    burst: int
    key: str = "global"
    headers: bool = False
    window: float = 1.0

    def take(self, bucket: list[float], now: float) -> tuple[bool, float]:
        """Take a token from *bucket* ([tokens, last]); (admitted, seconds until one is there)."""
        tokens, last = bucket
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            bucket[0], bucket[1] = tokens - 1.0, now
            return True, 0.0
        bucket[0], bucket[1] = tokens, now
        return False, (1.0 - tokens) / self.rate

    def retry_after(self, wait: float) -> int:
        """Whole seconds, rounded up, never 0 for a refusal (RFC 9110 delay-seconds)."""
        return max(1, math.ceil(wait - 1e-9))


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most *limit* in flight per key."""

    limit: int
    key: str = "global"
    retry_after: float = 1.0


@dataclass(frozen=True, slots=True)
class ScenarioChaos:
    """What a scenario applies to all its rules."""

    mix: Mix | None = None
    timeline: Timeline | None = None
    rate_limit: RateLimit | None = None
    concurrency: Concurrency | None = None
    header_control: bool = False
