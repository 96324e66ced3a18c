"""Delay distributions: fixed, uniform and lognormal, sampled from seeded draws."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .rng import uniforms

__all__ = ["Delay", "FixedDelay", "LogNormalDelay", "UniformDelay"]


@dataclass(frozen=True, slots=True)
class FixedDelay:
    """Always the same number of seconds."""

    seconds: float

    def sample(self, seed: int, key: str, ordinal: int) -> float:
        return self.seconds

    def describe(self) -> str:
        return f"fixed {self.seconds:g}s"


@dataclass(frozen=True, slots=True)
class UniformDelay:
    """Uniform between *lower* and *upper* seconds, both inclusive."""

    lower: float
    upper: float

    def sample(self, seed: int, key: str, ordinal: int) -> float:
        u, _ = uniforms(seed, key, ordinal)
        return self.lower + (self.upper - self.lower) * u

    def describe(self) -> str:
        return f"uniform {self.lower:g}-{self.upper:g}s"


@dataclass(frozen=True, slots=True)
class LogNormalDelay:
    """Lognormal with the given median and sigma; draws above *cap* are redrawn (as WireMock).

    After a few redraws the cap itself is used, so a tiny cap cannot loop forever.
    """

    median: float
    sigma: float
    cap: float | None = None

    def sample(self, seed: int, key: str, ordinal: int) -> float:
        for attempt in range(8):
            u1, u2 = uniforms(seed, key, ordinal, attempt)
            normal = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
            value = self.median * math.exp(self.sigma * normal)
            if self.cap is None or value <= self.cap:
                return value
        return self.cap if self.cap is not None else self.median

    def describe(self) -> str:
        cap = f", max {self.cap:g}s" if self.cap is not None else ""
        return f"lognormal median {self.median:g}s sigma {self.sigma:g}{cap}"


Delay = FixedDelay | UniformDelay | LogNormalDelay
