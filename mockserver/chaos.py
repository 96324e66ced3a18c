"""Chaos, compiled: faults, weighted mixes, timelines, token buckets and concurrency caps.

All of it is pure: draws come from rng.uniforms(seed, key, ordinal), time from the clock the
engine is given, and mutable counters live in the StateStore session. The server only carries
out the Fault a resolution names (faults/, through wire/exchange.py).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from .faults import Fault
from .responses import Plan

__all__ = ["Concurrency", "Mix", "Outcome", "Phase", "RateLimit", "ScenarioChaos",
           "Timeline"]

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
