"""Reflector against a scripted API server: paged lists, watch events, and every way a
stream can fail (410, ERROR events, stalls, truncation, refused connections, 403).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from tests.unit.fake_watch_api import (
    FakeApi,
    RecordingBackoff,
    RecordingSink,
    bookmark,
    error_event,
    event,
    eventually,
    gated,
    list_page,
    make_reflector,
    node,
    raw_body,
    running,
    seen,
    status,
)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def backoff() -> RecordingBackoff:
    return RecordingBackoff()


@pytest.fixture
def reflector(
    kube: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> Reflector[str, str]:
    return make_reflector(kube, sink, backoff)


# --------------------------------------------------------------------------- listing


async def test_paged_list_then_replace_with_all_items(
    fake: FakeApi, kube: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """Pages are followed by their continue tokens; the sink gets one replace with them all."""
    fake.lists.extend(
        [
            list_page(node("a", 1), node("b", 2), cont="t1"),
            list_page(node("c", 3), node("d", 4), cont="t2"),
            list_page(node("e", 5), rv=10),
        ]
    )
    reflector = make_reflector(kube, sink, backoff, page_size=2)
    async with running(reflector) as task:
        await eventually(task, seen(fake, 4))
    assert fake.requests == [("list", ""), ("list", "t1"), ("list", "t2"), ("watch", "10")]
    assert fake.limits == ["2", "2", "2"]
    assert sink.calls == [("replace", dict.fromkeys("abcde", "x"))]
    assert reflector.synced.is_set()
    assert reflector.connected


async def test_expired_continue_token_falls_back_to_one_unpaged_list(
    fake: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """A 410 on a continue token drops the partial list and lists again in one request
    (client-go's pager), with a log line; the abandoned pages' skips are not counted."""
    fake.lists.extend(
        [
            list_page(node("gone", 1), {"metadata": {"name": "bad"}}, cont="t1"),
            status(410, "Expired", "continue token expired"),
            list_page(node("a", 2), {"metadata": {"name": "bad"}}, node("b", 3), rv=10),
        ]
    )
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(fake, 4))
    assert fake.requests == [("list", ""), ("list", "t1"), ("list", ""), ("watch", "10")]
    assert fake.limits == ["500", "500", ""]
    assert sink.calls == [("replace", {"a": "x", "b": "x"})]
    skipped = [e["count"] for e in logs if e["event"] == "skipped malformed objects"]
    assert skipped == [1]
    fallbacks = [e for e in logs if e["event"].startswith("continue token expired")]
    assert len(fallbacks) == 1


async def test_forbidden_list_is_retried_and_logged_with_a_hint(
    fake: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """403 on LIST logs an error naming the missing permission, backs off and retries."""
    forbidden = status(403, "Forbidden", 'nodes is forbidden: cannot list resource "nodes"')
    gate = asyncio.Event()
    fake.lists.extend([forbidden, forbidden, gated(list_page(node("a", 1), rv=10), gate)])
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(fake, 3))
            assert not reflector.synced.is_set()
            assert not reflector.connected
            gate.set()
            await eventually(task, reflector.synced.is_set)
            await eventually(task, seen(fake, 4))
            assert not task.done()
    assert fake.requests == [("list", ""), ("list", ""), ("list", ""), ("watch", "10")]
    failures = [e for e in logs if e["event"] == "list/watch failed"]
    assert [e["log_level"] for e in failures] == ["error", "error"]
    assert all("list and watch on nodes" in e["hint"] for e in failures)
    assert "403" in failures[0]["error"]
    assert backoff.waits == 2


async def test_undecodable_list_response_is_retried(
    fake: FakeApi, reflector: Reflector[str, str], sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """A 200 that is not a list (a proxy's page) is retried after a backoff, not raised."""
    fake.lists.extend([raw_body(b"<html>gateway</html>"), list_page(node("a", 1), rv=10)])
    async with running(reflector) as task:
        await eventually(task, seen(fake, 3))
    assert fake.requests == [("list", ""), ("list", ""), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    assert backoff.waits == 1


# --------------------------------------------------------------------------- watching


async def test_watch_events_are_applied_in_order(
    fake: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """ADDED / MODIFIED / DELETED reach the sink in stream order; untracked means deleted."""
    fake.lists.append(list_page(node("a", 1), rv=10))
    fake.watches.append(
        fake.stream(
            event("ADDED", node("b", 11)),
            event("MODIFIED", node("a", 12, "y")) + event("DELETED", node("b", 13)),
            event("MODIFIED", node("a", 14, "")),
        )
    )
    async with running(reflector) as task:
        await eventually(task, lambda: len(sink.calls) == 5)
        assert reflector.resource_version == "14"
    assert sink.calls == [
        ("replace", {"a": "x"}),
        ("upsert", "b", "x"),
        ("upsert", "a", "y"),
        ("delete", "b"),
        ("delete", "a"),
    ]
    assert fake.requests == [("list", ""), ("watch", "10")]


async def test_bookmark_advances_version_without_sink_calls(
    fake: FakeApi, reflector: Reflector[str, str], sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """A BOOKMARK only moves the version; the next watch resumes from it at once."""
    fake.lists.append(list_page(node("a", 1), rv=10))
    fake.watches.append(fake.stream(bookmark(50), end="close"))
    async with running(reflector) as task:
        await eventually(task, seen(fake, 3))
    assert fake.requests == [("list", ""), ("watch", "10"), ("watch", "50")]
    assert sink.calls == [("replace", {"a": "x"})]
    assert backoff.waits == 0


@pytest.mark.parametrize(
    ("watch_timeout", "lowest", "highest"),
    [
        pytest.param(300.0, 300, 599, id="client-go-range-5-to-10-minutes"),
        pytest.param(0.5, 1, 1, id="never-zero"),
    ],
)
async def test_watch_asks_for_bookmarks_and_a_server_timeout(
    fake: FakeApi,
    kube: KubeClient,
    sink: RecordingSink,
    backoff: RecordingBackoff,
    watch_timeout: float,
    lowest: int,
    highest: int,
) -> None:
    """The watch asks for bookmarks and a timeoutSeconds in [t, 2t) (client-go's
    minWatchTimeout * (1 + rand)), at least 1."""
    queries: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        return await fake.stream()(request)

    fake.lists.append(list_page(rv=10))
    fake.watches.append(record)
    reflector = make_reflector(kube, sink, backoff, watch_timeout=watch_timeout)
    async with running(reflector) as task:
        await eventually(task, lambda: len(queries) == 1)
    assert queries[0]["allowWatchBookmarks"] == "true"
    assert lowest <= int(queries[0]["timeoutSeconds"]) <= highest


async def test_normal_close_after_events_resumes_at_once(
    fake: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """The server ending a stream (timeoutSeconds) is not a failure: no backoff, same RV."""
    fake.lists.append(list_page(node("a", 1), rv=10))
    fake.watches.append(fake.stream(event("ADDED", node("b", 11)), end="close"))
    async with running(reflector) as task:
        await eventually(task, seen(fake, 3))
        assert reflector.connected
    assert fake.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert backoff.waits == 0


@pytest.mark.parametrize(
    ("clock_step", "waits"),
    [
        pytest.param(0.0, 3, id="closed-at-once-backs-off"),
        pytest.param(10.0, 0, id="quiet-but-long-resumes-at-once"),
    ],
)
async def test_empty_watch_is_backed_off_only_when_it_ends_at_once(
    fake: FakeApi,
    kube: KubeClient,
    sink: RecordingSink,
    backoff: RecordingBackoff,
    clock_step: float,
    waits: int,
) -> None:
    """A stream closed with no events before MIN_WATCH_SECONDS is backed off, not spun on."""
    ticks = iter(range(1_000_000))
    reflector = make_reflector(kube, sink, backoff, clock=lambda: next(ticks) * clock_step)
    fake.lists.append(list_page(rv=10))
    fake.watches.extend([fake.stream(end="close") for _ in range(3)])
    async with running(reflector) as task:
        await eventually(task, seen(fake, 5))
    assert fake.requests == [("list", ""), *[("watch", "10")] * 4]
    assert backoff.waits == waits
    assert reflector.connected


@pytest.mark.parametrize(
    ("failure", "waits"),
    [
        pytest.param("http-410", 0, id="http-410-relists-at-once"),
        pytest.param("event-410", 0, id="error-event-410-relists-at-once"),
        pytest.param("event-500", 1, id="error-event-500-relists-after-backoff"),
    ],
)
async def test_watch_failure_relists(
    fake: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    failure: str,
    waits: int,
) -> None:
    """410 (as a status or an ERROR event) and other ERROR events end in a fresh LIST."""
    fake.lists.extend([list_page(node("a", 1), rv=10), list_page(node("b", 20), rv=30)])
    if failure == "http-410":
        fake.watches.append(status(410, "Expired", "too old resource version: 10 (25)"))
    else:
        code = 410 if failure == "event-410" else 500
        fake.watches.append(fake.stream(error_event(code, "boom")))
    async with running(reflector) as task:
        await eventually(task, seen(fake, 4))
    assert fake.requests == [("list", ""), ("watch", "10"), ("list", ""), ("watch", "30")]
    assert sink.calls == [("replace", {"a": "x"}), ("replace", {"b": "x"})]
    assert backoff.waits == waits


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("http-500", id="http-500"),
        pytest.param("http-429", id="http-429"),
        pytest.param("cut", id="connection-cut"),
    ],
)
async def test_transient_watch_failure_rewatches_from_the_same_version(
    fake: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    failure: str,
) -> None:
    """A 5xx / 429 answer or a dropped connection is backed off and re-watched, not relisted."""
    fake.lists.append(list_page(node("a", 1), rv=10))
    if failure == "cut":
        fake.watches.append(fake.stream(end="cut"))
    else:
        code = int(failure.removeprefix("http-"))
        fake.watches.append(status(code, "TooManyRequests" if code == 429 else "InternalError"))
    async with running(reflector) as task:
        await eventually(task, seen(fake, 3))
    assert fake.requests == [("list", ""), ("watch", "10"), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    assert backoff.waits == 1


async def test_stream_with_events_resets_the_backoff(
    fake: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """Failures are counted while consecutive: a stream that delivered events starts the next
    backoff from the shortest delay again."""
    fake.lists.append(list_page(rv=10))
    fake.watches.extend(
        [
            fake.stream(end="cut"),
            fake.stream(end="cut"),
            fake.stream(event("ADDED", node("a", 11)), end="cut"),
        ]
    )
    async with running(reflector) as task:
        await eventually(task, seen(fake, 5))
    assert fake.requests == [("list", ""), *[("watch", "10")] * 3, ("watch", "11")]
    assert backoff.waits == 3
    assert backoff.attempt == 1  # one failure since the events, not three


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"metadata": {"name": "bad", "resourceVersion": "12"}}, id="view-fails"),
        pytest.param({"metadata": "oops", "data": "x"}, id="metadata-not-a-mapping"),
        pytest.param({"metadata": {"name": ["x"], "resourceVersion": "12"}}, id="bad-key"),
    ],
)
async def test_malformed_object_in_watch_is_skipped(
    fake: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    bad: dict[str, Any],
) -> None:
    """An event whose object cannot be projected is skipped; the same stream goes on."""
    fake.lists.append(list_page(rv=10))
    fake.watches.append(
        fake.stream(
            event("ADDED", node("a", 11)),
            event("ADDED", bad),
            event("ADDED", node("c", 13)),
        )
    )
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, lambda: len(sink.calls) == 3)
    assert sink.calls == [("replace", {}), ("upsert", "a", "x"), ("upsert", "c", "x")]
    assert reflector.resource_version == "13"
    assert fake.requests == [("list", ""), ("watch", "10")]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["skipped malformed object"]
    assert backoff.waits == 0


async def test_last_progress_advances_on_data(
    fake: FakeApi, kube: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """Each chunk received stamps last_progress with the reflector's clock."""
    now = [0.0]
    gate = asyncio.Event()
    reflector = make_reflector(kube, sink, backoff, clock=lambda: now[0])
    fake.lists.append(list_page(rv=10))
    fake.watches.append(fake.stream(gate, event("ADDED", node("a", 11))))
    async with running(reflector) as task:
        await eventually(task, seen(fake, 2))
        assert reflector.last_progress == 0.0
        now[0] = 5.0
        gate.set()
        await eventually(task, lambda: "a" in sink.items)
        assert reflector.last_progress == 5.0


# --------------------------------------------------------------------------- broken streams


async def test_stalled_stream_reconnects_after_inactivity_timeout(
    fake: FakeApi, kube: KubeClient, sink: RecordingSink
) -> None:
    """A stream still silent inactivity_timeout past the deadline it asked the server for
    is dropped and resumed from its RV."""
    reflector = make_reflector(
        kube, sink, RecordingBackoff(), watch_timeout=0.5, inactivity_timeout=0.5
    )
    fake.lists.append(list_page(rv=10))
    fake.watches.append(fake.stream(event("ADDED", node("a", 11))))  # then silence
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(fake, 3))
    assert fake.requests[:3] == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert sink.calls == [("replace", {}), ("upsert", "a", "x")]
    lost = [e for e in logs if e["event"] == "watch connection lost"]
    assert lost
    assert "no data for" in lost[0]["error"]


@pytest.mark.parametrize(
    ("end", "error"),
    [
        pytest.param("cut", "ClientPayloadError", id="connection-cut"),
        pytest.param("close", "truncated payload", id="stream-closed"),
    ],
)
async def test_truncated_event_is_dropped_and_watch_resumes_from_last_version(
    fake: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    end: str,
    error: str,
) -> None:
    """Half an event line at the end of a stream is not applied; the watch resumes from the
    last complete event's version without a relist."""
    gate = asyncio.Event()
    half = event("ADDED", node("half", 12))[:25]
    fake.lists.append(list_page(rv=10))
    # The complete event, then (once it was applied) half of the next one and the end.
    fake.watches.append(fake.stream(event("ADDED", node("a", 11)), gate, half, end=end))
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, lambda: "a" in sink.items)
            gate.set()
            await eventually(task, seen(fake, 3))
    assert fake.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert sink.calls == [("replace", {}), ("upsert", "a", "x")]
    lost = [e["error"] for e in logs if e["event"] == "watch connection lost"]
    assert len(lost) == 1
    assert error in lost[0]
    assert backoff.waits == 1


async def test_connection_refused_is_retried_until_the_server_is_up(
    kube: KubeClient, fake: FakeApi, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """With nothing listening, run() keeps retrying, not connected and not synced; once the
    server answers it lists, syncs and watches."""
    await fake.stop()
    fake.lists.append(list_page(node("a", 1), rv=10))
    reflector = make_reflector(kube, sink, backoff)
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, lambda: backoff.waits >= 3)
            assert not reflector.connected
            assert not reflector.synced.is_set()
            assert fake.requests == []
            await fake.start()
            await eventually(task, reflector.synced.is_set)
            await eventually(task, seen(fake, 2))
            assert reflector.connected
    assert fake.requests == [("list", ""), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    failures = [e for e in logs if e["event"] == "list/watch failed"]
    assert len(failures) >= 3
    assert {e["log_level"] for e in failures} == {"warning"}


async def test_server_outage_resumes_the_watch_without_relisting(
    fake: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """When the server goes away the reflector reports not connected (still synced), and
    when it is back the watch resumes from the last version."""
    fake.lists.append(list_page(node("a", 1), rv=10))
    fake.watches.append(fake.stream(event("ADDED", node("b", 11))))
    async with running(reflector) as task:
        await eventually(task, lambda: "b" in sink.items)
        assert reflector.connected
        await fake.stop()
        await eventually(task, lambda: not reflector.connected)
        assert reflector.synced.is_set()
        await fake.start()
        await eventually(task, seen(fake, 3))
        await eventually(task, lambda: reflector.connected)
    assert fake.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert sink.calls == [("replace", {"a": "x"}), ("upsert", "b", "x")]
