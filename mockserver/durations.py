"""Durations as scenario files and request parameters write them: ``1.5``, ``500ms``, ``2s``, ``1m``.

A bare number means seconds everywhere (delays, deadlines, Retry-After), so one rule covers all.
"""

from __future__ import annotations

import re

__all__ = ["DURATION_PATTERN", "parse_duration"]

DURATION_PATTERN = r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|ms|s|m|h)?\s*$"
_RE = re.compile(DURATION_PATTERN)
_UNIT = {None: 1.0, "s": 1.0, "ms": 0.001, "us": 0.000001, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, *, default_unit: str = "s") -> float | None:
    """Seconds as a float, or None when *value* is not a duration (negative, NaN, words...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value) * _UNIT[default_unit]
        return seconds if 0 <= seconds < float("inf") else None
    if not isinstance(value, str):
        return None
    match = _RE.match(value)
    if match is None:
        return None
    unit = match.group(2) or default_unit
    return float(match.group(1)) * _UNIT[unit]
