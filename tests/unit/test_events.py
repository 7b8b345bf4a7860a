"""EventRecorder: the core/v1 Event it creates, the repeat window, dry run and failures
(aggregation and the write budget: test_events_correlation.py)."""

from __future__ import annotations

from structlog.testing import capture_logs

from nodecount_scaler.control.events import EventReason, EventRecorder, Reason
from nodecount_scaler.model.targets import FindingKind, TargetKey
from tests.scripted_api import KEY, FakeClock, Reply, ScriptedApi, events_path

WINDOW = 600.0


def recorder(
    api: ScriptedApi, clock: FakeClock | None = None, dry_run: bool = False
) -> EventRecorder:
    return EventRecorder(api.client, instance="pod-0", dry_run=dry_run, clock=clock or FakeClock())


async def test_event_is_created_in_the_target_namespace(api: ScriptedApi) -> None:
    """One POST of a core/v1 Event about the Deployment, as kubectl describe shows it."""
    await recorder(api).emit(KEY, "uid-1", "Normal", Reason.RESCALED, "Scaled from 1 to 3")
    assert api.lines == [("POST", events_path())]
    body = api.calls[0].body
    assert api.calls[0].content_type == "application/json"
    assert {k: v for k, v in body.items() if not k.endswith("Timestamp")} == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "d.", "namespace": "ns"},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "ns",
            "name": "d",
            "uid": "uid-1",
        },
        "type": "Normal",
        "reason": "Rescaled",
        "message": "Scaled from 1 to 3",
        "source": {"component": "nodecount-scaler"},
        "reportingComponent": "nodecount-scaler",
        "reportingInstance": "pod-0",
        "count": 1,
    }
    assert body["firstTimestamp"] == body["lastTimestamp"]
    assert body["firstTimestamp"].endswith("Z")
    # The Events policy admits this service's Events only under its own field manager.
    assert ("fieldManager", "nodecount-scaler") in api.calls[0].query


async def test_long_message_is_truncated(api: ScriptedApi) -> None:
    """The API server takes a core/v1 message of any length (it stored 1,000,000
    characters); the recorder cuts it to 1024, the most the Events policy admits."""
    await recorder(api).emit(KEY, "uid-1", "Warning", Reason.INVALID_ANNOTATION, "x" * 5000)
    assert len(api.calls[0].body["message"]) == 1024


async def test_warning_is_sent_once_per_window(api: ScriptedApi) -> None:
    """The same warning within the window is not sent again; after it, its Event's count
    goes up."""
    clock = FakeClock()
    events = recorder(api, clock)
    assert await events.warn_once(KEY, "uid-1", FindingKind.NO_SPREAD_CONSTRAINT, "m")
    clock.advance(WINDOW - 1)
    assert not await events.warn_once(KEY, "uid-1", FindingKind.NO_SPREAD_CONSTRAINT, "m")
    clock.advance(1)
    assert await events.warn_once(KEY, "uid-1", FindingKind.NO_SPREAD_CONSTRAINT, "m")
    assert api.lines == [("POST", events_path()), ("PATCH", events_path() + "/d.")]
    assert api.calls[1].body["count"] == 2


async def test_window_is_per_target_reason_and_topic(api: ScriptedApi) -> None:
    """A different target, reason or topic is a different warning; each is written when
    it starts its own Event (series) or its target's write budget allows."""
    events = recorder(api)
    other = TargetKey("ns", "e")
    cases: list[tuple[TargetKey, EventReason, str]] = [
        (KEY, Reason.INVALID_ANNOTATION, "min=-1"),
        (other, Reason.INVALID_ANNOTATION, "min=-1"),
        (KEY, FindingKind.NO_SPREAD_CONSTRAINT, "min=-1"),
        (KEY, Reason.INVALID_ANNOTATION, "max=x"),
    ]
    for target, reason, topic in cases:
        assert await events.warn_once(target, "uid", reason, "m", topic=topic, series=topic)
    assert len(api.calls) == 4


async def test_changed_counts_do_not_repeat_a_warning(api: ScriptedApi) -> None:
    """The same standing condition with new numbers in its message stays quiet."""
    events = recorder(api)
    assert await events.warn_once(KEY, "uid", Reason.CONFLICTING_AUTOSCALER, "desired 3", topic="h")
    assert not await events.warn_once(
        KEY, "uid", Reason.CONFLICTING_AUTOSCALER, "desired 4", topic="h"
    )
    assert len(api.calls) == 1


async def test_forget_lets_the_warning_out_again(api: ScriptedApi) -> None:
    """A target that left and came back is warned about at once."""
    events = recorder(api)
    await events.warn_once(KEY, "uid-1", Reason.INVALID_ANNOTATION, "m")
    events.forget(KEY)
    assert await events.warn_once(KEY, "uid-2", Reason.INVALID_ANNOTATION, "m")
    assert len(api.calls) == 2


async def test_normal_events_are_counted_not_dropped(api: ScriptedApi) -> None:
    """Every replica change is recorded: repeats raise the one Event's count."""
    clock = FakeClock()
    events = recorder(api, clock)
    for _ in range(3):
        await events.emit(KEY, "uid-1", "Normal", Reason.RESCALED, "Scaled from 1 to 3")
    clock.advance(300)
    assert await events.flush_due() == 1
    assert api.lines == [("POST", events_path()), ("PATCH", events_path() + "/d.")]
    assert api.calls[1].body["count"] == 3


async def test_dry_run_sends_nothing_and_logs(api: ScriptedApi) -> None:
    """dry_run: no request; the event is logged instead."""
    with capture_logs() as logs:
        await recorder(api, dry_run=True).emit(
            KEY, "uid-1", "Warning", Reason.INVALID_ANNOTATION, "m"
        )
    assert api.calls == []
    assert [(e["event"], e["reason"]) for e in logs] == [("would emit event", "InvalidAnnotation")]


async def test_failed_post_is_logged_not_raised(api: ScriptedApi) -> None:
    """An Event is a report: a 500 is logged and the caller goes on."""
    api.script("POST", events_path(), Reply(500))
    with capture_logs() as logs:
        await recorder(api).emit(KEY, "uid-1", "Normal", Reason.RESCALED, "m")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["could not emit event"]
