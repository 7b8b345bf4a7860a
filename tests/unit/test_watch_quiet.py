"""Quiet watches: a stream the server ends at its deadline is no warning and no failure,
however long it was silent; the read timeout sits past that deadline; a failure after a
long healthy stream starts the backoff afresh."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import BACKOFF_RESET_AFTER, Reflector
from tests.unit.fake_watch_api import (
    PATH,
    FakeApi,
    RecordingBackoff,
    RecordingSink,
    event,
    eventually,
    list_page,
    node,
    running,
    seen,
    status,
)
from tests.unit.string_projection import PROJECTION


async def test_stream_ended_by_the_server_after_silence_is_not_a_warning(
    fake: FakeApi, kube: KubeClient
) -> None:
    """Three streams, each silent and then closed by the server (as at timeoutSeconds):
    re-watched at once from the same version, nothing logged above debug."""
    ticks = iter(range(1_000_000))
    backoff = RecordingBackoff()
    made = Reflector(
        kube, "nodes", PATH, PROJECTION, RecordingSink(), clock=lambda: next(ticks) * 10.0
    )
    made._backoff = backoff
    fake.lists.append(list_page(rv=10))
    fake.watches.extend([fake.stream(end="close") for _ in range(3)])
    with capture_logs() as logs:
        async with running(made) as task:
            await eventually(task, seen(fake, 5))
    assert fake.requests == [("list", ""), *[("watch", "10")] * 4]
    assert [e["event"] for e in logs if e["log_level"] not in ("debug", "info")] == []
    assert backoff.waits == 0


async def test_silence_until_the_deadline_is_not_a_stall(fake: FakeApi, kube: KubeClient) -> None:
    """A stream silent for 1.5 s, longer than the 1 s inactivity timeout but within the
    1 s deadline it asked for plus that timeout, is kept: its next event is applied."""
    gate = asyncio.Event()
    made = Reflector(
        kube,
        "nodes",
        PATH,
        PROJECTION,
        sink := RecordingSink(),
        watch_timeout=0.5,
        inactivity_timeout=1.0,
    )
    fake.lists.append(list_page(rv=10))
    fake.watches.append(fake.stream(gate, event("ADDED", node("a", 11))))
    asyncio.get_running_loop().call_later(1.5, gate.set)
    with capture_logs() as logs:
        async with running(made) as task:
            await eventually(task, lambda: "a" in sink.items)
    assert fake.requests == [("list", ""), ("watch", "10")]
    assert [e for e in logs if e["log_level"] == "warning"] == []


@pytest.mark.parametrize(
    ("lived", "attempt_after"),
    [
        pytest.param(BACKOFF_RESET_AFTER, 1, id="long-stream-resets"),
        pytest.param(1.0, 3, id="short-stream-keeps-counting"),
    ],
)
async def test_backoff_starts_afresh_after_a_long_healthy_stream(
    fake: FakeApi, kube: KubeClient, lived: float, attempt_after: int
) -> None:
    """Two failed lists grow the backoff; a watch that then served `lived` seconds before
    its connection was cut resets it (client-go: 2 minutes), a short one does not."""
    now = [0.0]
    backoff = RecordingBackoff()
    made = Reflector(kube, "nodes", PATH, PROJECTION, RecordingSink(), clock=lambda: now[0])
    made._backoff = backoff
    failed = status(500, "InternalError")
    fake.lists.extend([failed, failed, list_page(rv=10)])

    async def long_lived(request: web.Request) -> web.StreamResponse:
        now[0] += lived
        return await fake.stream(end="cut")(request)

    fake.watches.append(long_lived)
    async with running(made) as task:
        await eventually(task, seen(fake, 5))
    assert backoff.attempt == attempt_after
