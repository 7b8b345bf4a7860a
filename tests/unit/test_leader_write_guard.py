"""Leadership across threads: writes only while leading and within the term, and the
leader's work hosted on another loop, stopped and awaited from the elector's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from nodecount_scaler.control.lease_thread import LeaderOnlyClient, MainLoopWork
from nodecount_scaler.kube.client import ApiError
from tests.scripted_api import serving

PATH = "/apis/apps/v1/namespaces/ns/deployments/d/scale"


class Term:
    left = 5.0

    def __call__(self) -> float:
        return self.left


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[LeaderOnlyClient, Term, list[str]]]:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.method)
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.json_response({})

    term = Term()
    async with serving(handle) as url:
        client = LeaderOnlyClient.for_url(url, term_left=term)
        yield client, term, seen
        await client.close()


async def test_no_write_goes_out_after_the_term(
    guarded: tuple[LeaderOnlyClient, Term, list[str]],
) -> None:
    """With no term left a PATCH fails as NotLeader and never reaches the server; GETs go."""
    client, term, seen = guarded
    await client.merge_patch(PATH, {"spec": {"replicas": 1}}, field_manager="t")
    term.left = 0.0
    with pytest.raises(ApiError) as refused:
        await client.merge_patch(PATH, {"spec": {"replicas": 2}}, field_manager="t")
    assert refused.value.reason == "NotLeader"
    await client.request("GET", PATH)
    assert seen == ["PATCH", "GET"]


async def test_a_write_is_abandoned_at_the_end_of_the_term(
    guarded: tuple[LeaderOnlyClient, Term, list[str]],
) -> None:
    """The timeout of a write is at most what is left of the term."""
    client, term, _ = guarded
    term.left = 0.3
    started = time.monotonic()
    with pytest.raises(ApiError) as failed:
        await client.request("POST", "/api/v1/x", query=[("delay", "3")], timeout=10)
    assert failed.value.status == 0
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("ending", ["returns", "raises", "cancelled"])
async def test_work_on_another_loop_is_mirrored(ending: str) -> None:
    """Started on the other loop; its end (result, error, cancel) settles `finished` here."""
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    started = threading.Event()
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def work() -> None:
        ran_on.append(asyncio.get_running_loop())
        started.set()
        if ending == "raises":
            raise RuntimeError("boom")
        if ending == "cancelled":
            await asyncio.sleep(60)

    try:
        handle = MainLoopWork(other, work)
        await asyncio.to_thread(started.wait, 5)
        if ending == "cancelled":
            handle.cancel()
        await asyncio.wait({handle.finished}, timeout=5)
        assert handle.finished.done()
        assert ran_on == [other]
        if ending == "returns":
            assert handle.finished.result() is None
        elif ending == "raises":
            assert isinstance(handle.finished.exception(), RuntimeError)
        else:
            assert handle.finished.cancelled()
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()


async def test_cancel_before_the_work_started_still_settles() -> None:
    """A cancel that overtakes the start leaves `finished` cancelled, never hanging."""
    other = asyncio.new_event_loop()
    try:
        handle = MainLoopWork(other, lambda: asyncio.sleep(60))
        handle.cancel()
        thread = threading.Thread(target=other.run_forever, daemon=True)
        thread.start()
        await asyncio.wait({handle.finished}, timeout=5)
        assert handle.finished.cancelled()
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()
