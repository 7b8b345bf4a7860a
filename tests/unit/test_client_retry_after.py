"""Retry-After on 429 and 503: read (bounded) into ApiError, and waited for by the
reflector's list and watch retries and by the work queue's retry of a failed write."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from nodecount_scaler import limits
from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.queue import WorkQueue
from nodecount_scaler.kube.client import ApiError, KubeClient, retry_after
from nodecount_scaler.kube.watch import Reflector
from testkit.builders import deployment, node
from tests.scripted_api import (
    Call,
    Reply,
    ScriptedApi,
    deployment_path,
    make_reconciler,
    seeded_state,
    serving,
)
from tests.unit.fake_watch_api import PATH, RecordingSink, Responder, list_page, running
from tests.unit.string_projection import PROJECTION


def http_date(seconds_from_now: float) -> str:
    return email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now), usegmt=True
    )


@pytest.mark.parametrize(
    ("header", "status_object", "expected"),
    [
        pytest.param("5", None, 5.0, id="seconds"),
        pytest.param("0", None, 0.0, id="zero"),
        pytest.param("3600", None, limits.RETRY_AFTER_MAX, id="bounded"),
        pytest.param("99999999999999999999", None, limits.RETRY_AFTER_MAX, id="huge"),
        pytest.param("date+20", None, 20.0, id="http-date"),
        pytest.param("date-20", None, 0.0, id="http-date-past"),
        pytest.param("soon", None, None, id="garbage"),
        pytest.param("-3", None, None, id="negative-is-not-delta-seconds"),
        pytest.param("", {"details": {"retryAfterSeconds": 2}}, 2.0, id="status-details"),
        pytest.param("7", {"details": {"retryAfterSeconds": 2}}, 7.0, id="header-first"),
        pytest.param("", {"details": {"retryAfterSeconds": True}}, None, id="details-bool"),
        pytest.param("", {"details": "x"}, None, id="details-not-object"),
        pytest.param("", None, None, id="none"),
    ],
)
def test_retry_after_is_read_and_bounded(
    header: str, status_object: object, expected: float | None
) -> None:
    """Delta-seconds or an HTTP date, else the Status's retryAfterSeconds; never negative,
    at most RETRY_AFTER_MAX."""
    if header.startswith("date"):
        header = http_date(float(header.removeprefix("date")))
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": header} if header else {}))
    found = retry_after(headers, status_object)
    if expected is None:
        assert found is None
    else:
        assert found == pytest.approx(expected, abs=1.5)


def answer(code: int, wait: str) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        body = {"kind": "Status", "code": code, "reason": "TooManyRequests", "message": "slow"}
        return web.json_response(body, status=code, headers={"Retry-After": wait})

    return respond


class Server:
    """Answers GET (list or watch) and PATCH from scripts, noting each request's loop time."""

    def __init__(self) -> None:
        self.script: dict[str, list[Responder]] = {"list": [], "watch": [], "PATCH": []}
        self.arrivals: list[tuple[str, float]] = []
        self.closing = asyncio.Event()
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        kind = request.method if request.method != "GET" else "list"
        if request.query.get("watch"):
            kind = "watch"
        self.arrivals.append((kind, asyncio.get_running_loop().time()))
        self.arrived.set()
        script = self.script[kind]
        if not script:
            await self.closing.wait()  # silent: nothing more was scripted
            raise web.HTTPServiceUnavailable
        return await script.pop(0)(request)

    def times(self, kind: str) -> list[float]:
        return [t for k, t in self.arrivals if k == kind]


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, KubeClient]]:
    fake = Server()
    async with serving(fake.handle) as url:
        async with KubeClient.for_url(url) as client:
            yield fake, client
        fake.closing.set()


async def test_write_error_carries_the_bounded_retry_after(
    server: tuple[Server, KubeClient],
) -> None:
    """A 429 on a PATCH raises ApiError with retry_after, at most RETRY_AFTER_MAX."""
    fake, client = server
    fake.script["PATCH"] = [answer(429, "120")]
    with pytest.raises(ApiError) as raised:
        await client.merge_patch("/x", {"a": 1}, field_manager="t")
    assert raised.value.status == 429
    assert raised.value.retry_after == limits.RETRY_AFTER_MAX
    assert "retry after 60s" in str(raised.value)


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("kind", "code"),
    [
        pytest.param("list", 429, id="list-429"),
        pytest.param("list", 503, id="list-503"),
        pytest.param("watch", 429, id="watch-429"),
        pytest.param("watch", 503, id="watch-503"),
    ],
)
async def test_reflector_waits_at_least_retry_after(
    server: tuple[Server, KubeClient], kind: str, code: int
) -> None:
    """A list or watch refused with Retry-After: 7 is retried no sooner than 7 s later,
    though the backoff alone would wait under a second."""
    fake, client = server
    fake.script["list"] = [list_page(rv=10)]
    fake.script[kind].insert(0, answer(code, "7"))
    loop = asyncio.get_running_loop()
    made = Reflector(client, "nodes", PATH, PROJECTION, RecordingSink(), clock=loop.time)
    async with running(made):
        await asyncio.sleep(20)
    first, second = fake.times(kind)[:2]
    assert second - first >= 7.0


async def test_queue_retry_waits_at_least_the_given_time() -> None:
    """WorkQueue.retry: the longer of the exponential delay and `at_least`."""
    queue: WorkQueue[str] = WorkQueue("t", base_delay=0.05)
    delays = [queue.retry("k"), queue.retry("k", 5.0), queue.retry("j", 0.01)]
    queue.close()
    assert delays == [0.05, 5.0, 0.05]


async def test_failed_write_is_retried_after_the_servers_retry_after(api: ScriptedApi) -> None:
    """A scale PATCH answered 429 with retryAfterSeconds 1 is retried 1 s later, not after
    the 0.05 s backoff."""
    status = {"kind": "Status", "code": 429, "reason": "TooManyRequests"}
    api.script(
        "PATCH",
        deployment_path(),
        Reply(429, {**status, "details": {"retryAfterSeconds": 1}}),
        Reply(),
    )
    state = seeded_state([node("n1"), node("n2")], [deployment("d", replicas=1)])
    controller = Controller(state, make_reconciler(api, state))
    task = asyncio.create_task(controller.run_workers())

    def patches() -> list[Call]:
        return [c for c in api.calls if c.method == "PATCH"]

    try:
        async with asyncio.timeout(5):
            while len(patches()) < 2:
                await api.wait_for_calls(len(api.calls) + 1)
    finally:
        task.cancel()
    first, second = patches()
    assert second.at - first.at >= 1.0
