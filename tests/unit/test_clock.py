"""The controllable clock: real time, advanced by hand, or frozen so only advance() moves it."""

from __future__ import annotations

import time

import pytest

from mockserver.clock import Clock


def test_a_frozen_clock_moves_only_when_advanced() -> None:
    clock = Clock()
    start = clock.freeze()
    time.sleep(0.02)
    assert clock.now() == start
    assert clock.advance(5) == start + 5
    clock.reset()
    assert clock.now() == 0.0  # reset keeps it frozen, at zero


def test_freezing_at_a_given_second() -> None:
    clock = Clock()
    clock.advance(100)
    assert clock.freeze(at=0) == 0.0
    assert clock.advance(35) == 35.0


def test_unfreezing_counts_real_time_again_from_where_it_stood() -> None:
    clock = Clock()
    frozen = clock.freeze()
    time.sleep(0.02)
    assert clock.unfreeze() == pytest.approx(frozen, abs=0.005)
    time.sleep(0.02)
    assert clock.now() > frozen + 0.015


def test_the_clock_only_moves_forward() -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        Clock().advance(-1)
