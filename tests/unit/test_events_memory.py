"""The Event recorder's memory is bounded, whatever the targets, topics and messages."""

from __future__ import annotations

import tracemalloc

from nodecount_scaler.control.events import EventCorrelator, Reason
from nodecount_scaler.model.targets import TargetKey
from tests.scripted_api import FakeClock

LIMIT = 64
BIG = "x" * 200_000


def test_entries_and_bytes_stay_bounded() -> None:
    """2,000 targets each warned about a distinct 200 KB value (400 MB of input): at most
    LIMIT entries of each kind are kept, and far less than one value's size per entry."""
    clock = FakeClock()
    events = EventCorrelator(series_limit=LIMIT, clock=clock)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for i in range(2_000):
            target = TargetKey("ns", f"t{i}")
            value = f"{i}{BIG}"
            events.should_announce(target, Reason.INVALID_ANNOTATION, f"min-replicas={value}")
            events.observe(target, "uid", "Warning", "InvalidAnnotation", value, value)
            clock.advance(1)
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    announced, series, budgets = events.sizes
    assert max(announced, series, budgets) <= LIMIT
    # Each entry holds at most a 1 KiB message and short keys.
    assert held < LIMIT * 8 * 1024, held
