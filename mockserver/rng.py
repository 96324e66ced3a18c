"""Seeded draws that are a pure function of (seed, key, ordinal).

A shared ``random.Random`` would make outcomes depend on the order in which concurrent requests
reach it. Hashing the triple instead gives every request its own numbers: the 7th request to a
rule gets the same draw whatever else is in flight.
"""

from __future__ import annotations

import hashlib

__all__ = ["uniforms"]

_SCALE = 1.0 / 2.0**64


def uniforms(seed: int, key: str, ordinal: int, attempt: int = 0) -> tuple[float, float]:
    """Two independent uniform numbers in [0, 1) for this seed, key and ordinal."""
    digest = hashlib.blake2b(f"{seed}\0{key}\0{ordinal}\0{attempt}".encode(), digest_size=16).digest()
    return (int.from_bytes(digest[:8], "little") * _SCALE, int.from_bytes(digest[8:], "little") * _SCALE)
