"""Event correlation on a fake clock: one Event per target and reason whose count grows, at
most one write per target per 5 minutes, new series at once, expiry and failures."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from nodecount_scaler.control.events import (
    SERIES_TTL,
    EventCorrelator,
    EventReason,
    EventRecorder,
    Reason,
    admitted,
    seconds_of,
    stamp_of,
)
from nodecount_scaler.model.targets import FindingKind, TargetKey
from tests.scripted_api import KEY, FakeClock, Reply, ScriptedApi, events_path

OTHER = TargetKey("ns", "e")
POST = ("POST", events_path())
PATCH = ("PATCH", events_path() + "/d.")
PATCH_OTHER = ("PATCH", events_path() + "/e.")


def recorder(api: ScriptedApi, clock: FakeClock) -> EventRecorder:
    correlator = EventCorrelator(clock=clock, wall=clock)
    return EventRecorder(api.client, instance="pod-0", dry_run=False, correlator=correlator)


@dataclass(frozen=True)
class Step:
    """Advance the clock, then emit (a target, a reason, a series) or flush what is due."""

    advance: float = 0.0
    target: TargetKey = KEY
    reason: EventReason = Reason.RESCALED
    series: str = ""
    uid: str = "uid-1"
    flush: bool = False


SCENARIOS = [
    pytest.param([Step()], [POST], id="first-occurrence-created-at-once"),
    pytest.param([Step(), Step(1), Step(1)], [POST], id="repeats-within-5-min-held"),
    pytest.param(
        [Step(), Step(1), Step(1), Step(298, flush=True)],
        [POST, PATCH],
        id="held-repeats-one-patch",
    ),
    pytest.param([Step(), Step(300)], [POST, PATCH], id="repeat-after-5-min-written-at-once"),
    pytest.param(
        [Step(), Step(1, reason=Reason.DRIFT_CORRECTED)], [POST, POST], id="new-reason-is-news"
    ),
    pytest.param(
        [Step(), Step(1, reason=Reason.INVALID_ANNOTATION, series="min")],
        [POST, POST],
        id="new-series-is-news",
    ),
    pytest.param([Step(), Step(1, target=OTHER)], [POST, POST], id="budget-per-target"),
    pytest.param(
        [Step(), Step(1, target=OTHER), Step(1), Step(1, target=OTHER), Step(300, flush=True)],
        [POST, POST, PATCH, PATCH_OTHER],
        id="flush-each-target",
    ),
    pytest.param([Step(), Step(1, uid="uid-2")], [POST, POST], id="recreated-target-new-event"),
    pytest.param([Step(), Step(SERIES_TTL)], [POST, POST], id="idle-series-new-event"),
    pytest.param([Step(), Step(299, flush=True)], [POST], id="nothing-pending-nothing-flushed"),
]


@pytest.mark.parametrize(("steps", "expected"), SCENARIOS)
async def test_writes(api: ScriptedApi, steps: list[Step], expected: list[tuple[str, str]]) -> None:
    """The requests a sequence of occurrences makes."""
    clock = FakeClock()
    events = recorder(api, clock)
    for step in steps:
        clock.advance(step.advance)
        if step.flush:
            await events.flush_due()
        else:
            await events.emit(step.target, step.uid, "Normal", step.reason, "m", series=step.series)
    assert api.lines == expected


async def test_sustained_churn_is_one_event_whose_count_grows(api: ScriptedApi) -> None:
    """A rescale every second for 15 minutes: one POST, then one PATCH per 5 minutes with
    the count so far, the latest message and the latest time; the first time stays."""
    clock = FakeClock()
    events = recorder(api, clock)
    for second in range(900):
        await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, f"Scaled to {second}")
        clock.advance(1)
        await events.flush_due()
    assert api.lines == [POST, PATCH, PATCH, PATCH]
    assert api.calls[0].body["count"] == 1
    patches = [c.body for c in api.calls[1:]]
    assert [p["count"] for p in patches] == [300, 600, 900]
    assert patches[-1] == {
        "count": 900,
        "lastTimestamp": stamp_of(1899),
        "message": "Scaled to 899",
    }
    assert api.calls[0].body["firstTimestamp"] == stamp_of(1000)


async def test_expired_event_is_created_again_with_what_it_did_not_show(
    api: ScriptedApi,
) -> None:
    """A PATCH answered 404 (the API server's Event TTL) creates a new Event holding the
    occurrences the old one did not show, from the first of them."""
    clock = FakeClock()
    events = recorder(api, clock)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "a")
    api.script("PATCH", PATCH[1], Reply(404))
    for _ in range(2):
        clock.advance(10)
        await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "b")
    clock.advance(300)
    await events.flush_due()
    assert api.lines == [POST, PATCH, POST]
    recreated = api.calls[2].body
    assert (recreated["count"], recreated["firstTimestamp"]) == (2, stamp_of(1010))
    assert recreated["lastTimestamp"] == stamp_of(1020)


async def test_failed_patch_stays_pending_until_the_next_budget(api: ScriptedApi) -> None:
    """A 500 on the PATCH loses nothing: the next write carries every occurrence."""
    clock = FakeClock()
    events = recorder(api, clock)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "a")
    api.script("PATCH", PATCH[1], Reply(500), Reply(200))
    clock.advance(300)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "b")
    assert await events.flush_due() == 0
    clock.advance(300)
    assert await events.flush_due() == 1
    assert api.lines == [POST, PATCH, PATCH]
    assert api.calls[2].body["count"] == 2


async def test_shutdown_flush_ignores_the_budget(api: ScriptedApi) -> None:
    """flush_due(everything=True) writes every held occurrence at once."""
    clock = FakeClock()
    events = recorder(api, clock)
    for target in (KEY, OTHER, KEY, OTHER):
        await events.emit(target, "uid-1", "Normal", Reason.RESCALED, "m")
    assert await events.flush_due(everything=True) == 2
    assert sorted(api.lines) == sorted([POST, POST, PATCH, PATCH_OTHER])


async def test_forget_drops_every_record_of_the_target(api: ScriptedApi) -> None:
    """A target that went leaves no series, announcement or budget behind."""
    clock = FakeClock()
    events = recorder(api, clock)
    await events.warn_once(KEY, "uid-1", FindingKind.NO_SPREAD_CONSTRAINT, "m")
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "m")
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "m")
    events.forget(KEY)
    assert events.correlator.sizes == (0, 0, 0)
    assert events.correlator.next_due() is None


async def test_flusher_writes_held_occurrences_when_the_budget_allows(api: ScriptedApi) -> None:
    """run() sleeps until the earliest budget refills, then PATCHes (real loop time)."""
    correlator = EventCorrelator(write_interval=0.2, clock=time.monotonic)
    events = EventRecorder(api.client, instance="pod-0", dry_run=False, correlator=correlator)
    flusher = asyncio.create_task(events.run())
    try:
        for _ in range(3):
            await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "m")
        assert api.lines == [POST]
        await api.wait_for_calls(2, timeout=5.0)
    finally:
        flusher.cancel()
    assert api.lines == [POST, PATCH]
    assert api.calls[1].body["count"] == 3


async def test_forbidden_patch_creates_a_new_event_instead(api: ScriptedApi) -> None:
    """Without patch on events (403), the held occurrences go out as a new Event."""
    clock = FakeClock()
    events = recorder(api, clock)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "a")
    api.script("PATCH", PATCH[1], Reply(403))
    clock.advance(300)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "b")
    assert api.lines == [POST, PATCH, POST]
    assert (api.calls[2].body["count"], api.calls[2].body["message"]) == (1, "b")


ADMITTED = [
    # (first, last, count, now) -> (first, count) as written
    pytest.param(1000, 1000, 1, 1000, (1000, 1), id="fresh"),
    pytest.param(1000, 1000, 5000, 1000, (1000, 100), id="burst-cut-to-the-base"),
    pytest.param(1000, 1300, 900, 1300, (1000, 900), id="sustained-within-the-rate"),
    pytest.param(1000, 1010, 999999, 1010, (1000, 200), id="999999-cut-to-the-rate"),
    pytest.param(1000, 9000, 3, 9000, (5700, 3), id="held-first-moved-up-to-the-backdate"),
    pytest.param(1000, 2000, 50_000, 9000, (5700, 100), id="moved-first-leaves-the-base"),
]


@pytest.mark.parametrize(("first", "last", "count", "now", "written"), ADMITTED)
def test_written_first_and_count_are_what_the_policy_admits(
    first: int, last: int, count: int, now: int, written: tuple[int, int]
) -> None:
    """firstTimestamp no earlier than 3,300 s before now (the policy's 3,600 s back less
    300 s of clock skew), count at most 100 + 10 a second from first to last."""
    stamp, shown = admitted(stamp_of(first), stamp_of(last), count, now)
    assert (seconds_of(stamp), shown) == written


async def test_a_count_past_the_bound_is_written_as_the_bound(api: ScriptedApi) -> None:
    """5,000 occurrences within one second: the Event shows 100, the most the policy admits
    for an Event that spans no time (each occurrence is still a log line and a metric);
    one more occurrence 600 s after the first shows all 5,001 (the bound grows by 10 a
    second)."""
    clock = FakeClock()
    events = recorder(api, clock)
    for _ in range(5000):
        await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "again")
    clock.advance(300)
    await events.flush_due()
    clock.advance(300)
    await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "later")
    assert api.lines == [POST, PATCH, PATCH]
    assert [call.body["count"] for call in api.calls] == [1, 100, 5001]
