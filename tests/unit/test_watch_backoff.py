"""Backoff: full-jitter exponential delays between failed list/watch attempts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodecount_scaler.kube.watch import Backoff


@pytest.fixture
def upper_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the jitter always pick the top of its range, so delays equal their bounds."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


@given(
    initial=st.floats(min_value=0.0, max_value=100.0),
    cap=st.floats(min_value=0.0, max_value=1000.0),
    attempts=st.integers(min_value=1, max_value=80),
)
def test_delay_always_within_zero_and_cap(initial: float, cap: float, attempts: int) -> None:
    """Every delay lies in [0, min(cap, initial * 2**attempt)], however many failures."""
    backoff = Backoff(initial=initial, cap=cap)
    for attempt in range(attempts):
        delay = backoff.next_delay()
        assert 0.0 <= delay <= min(cap, initial * 2 ** min(attempt, 30))


@pytest.mark.usefixtures("upper_bound")
def test_bound_doubles_up_to_the_cap() -> None:
    """The upper bound starts at `initial`, doubles per failure and stops at `cap`."""
    backoff = Backoff(initial=0.2, cap=3.0)
    delays = [backoff.next_delay() for _ in range(7)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0])


@pytest.mark.usefixtures("upper_bound")
def test_reset_starts_again_from_initial() -> None:
    """After reset the next delay is bounded by `initial` again."""
    backoff = Backoff(initial=0.2, cap=30.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.2)


@pytest.mark.usefixtures("upper_bound")
def test_many_failures_stay_at_the_cap() -> None:
    """The attempt counter is bounded: thousands of failures neither overflow nor exceed cap."""
    backoff = Backoff(initial=0.2, cap=30.0)
    for _ in range(10_000):
        delay = backoff.next_delay()
    assert delay == pytest.approx(30.0)
    assert backoff.attempt <= 30
