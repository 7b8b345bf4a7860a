"""Reflector against a hostile API server: endless watch lines, huge list bodies, endless
continue tokens, and expiring continue tokens cost bounded memory and requests, each with
an error in the log and a metric."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import orjson
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from nodecount_scaler import limits, metrics
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import LineBuffer, LineTooLong, Reflector
from tests.unit.fake_watch_api import (
    PATH,
    FakeApi,
    RecordingBackoff,
    RecordingSink,
    Responder,
    eventually,
    gated,
    list_page,
    node,
    running,
    seen,
    status,
)
from tests.unit.string_projection import PROJECTION

MiB = 2**20
CHUNK = b"x" * (256 * 1024)


def rss() -> int:
    with open("/proc/self/status") as status_file:
        for line in status_file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class RssSampler:
    """The highest RSS seen while a block runs, sampled every 10 ms on the loop."""

    def __init__(self) -> None:
        self.base = rss()
        self.peak = self.base
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss())
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


@pytest.mark.parametrize(
    ("chunks", "fits"),
    [
        pytest.param([b"x" * 100], True, id="at-the-bound"),
        pytest.param([b"x" * 60, b"x" * 41], False, id="unfinished-line-over"),
        pytest.param([b"x" * 101 + b"\n"], False, id="finished-line-over"),
        pytest.param([b"x" * 50 + b"\n" + b"y" * 100], True, id="next-line-at-the-bound"),
        pytest.param([b"x" * 99 + b"\n", b"y" * 99 + b"\n"] * 3, True, id="many-lines"),
    ],
)
def test_line_buffer_holds_at_most_its_bound(chunks: list[bytes], fits: bool) -> None:
    """A line (finished or not) longer than max_bytes raises LineTooLong and empties the
    buffer; below it, what is held for the unfinished line never exceeds the bound."""
    buffer = LineBuffer(max_bytes=100)
    try:
        for chunk in chunks:
            buffer.feed(chunk)
            assert buffer.buffered <= 100
    except LineTooLong:
        assert not fits
        assert buffer.buffered == 0
    else:
        assert fits


def endless(sent: list[int], total: int, *, prefix: bytes = b"") -> Responder:
    """A 200 whose body is `prefix` and then `total` bytes without a newline."""

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(prefix)
        try:
            while sent[0] < total:
                await response.write(CHUNK)
                sent[0] += len(CHUNK)
        except ConnectionError:
            pass  # the client hung up: what is being tested
        return response

    return respond


def declared(length: int) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = length
        await response.prepare(request)
        await response.write(b'{"items": [')
        return response

    return respond


def limit_count(limit: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("nodecount_scaler_limit_exceeded_total", {"limit": limit})
        or 0.0
    )


def reflector(client: KubeClient, sink: RecordingSink, **kwargs: Any) -> Reflector[str, str]:
    made = Reflector(client, "nodes", PATH, PROJECTION, sink, **kwargs)
    made._backoff = RecordingBackoff()
    return made


async def test_endless_watch_line_costs_at_most_the_event_bound(
    fake: FakeApi, kube: KubeClient
) -> None:
    """A watch line that never ends (1 GiB offered) is cut at MAX_WATCH_EVENT_BYTES
    (16 MiB): RSS grows by less than 40 MiB, an error names the limit, and the reflector
    relists after a backoff. (Unbounded, this grew by 7.8 GB in 30 s.)"""
    sent = [0]
    sink = RecordingSink()
    made = reflector(kube, sink)
    fake.lists.extend([list_page(node("a", 1), rv=10), list_page(node("a", 1), rv=11)])
    fake.watches.append(endless(sent, 1024 * MiB))
    before = limit_count("watch_event_bytes")
    with capture_logs() as logs:
        async with RssSampler() as memory, running(made) as task:
            await eventually(task, seen(fake, 4))
    assert fake.requests[:3] == [("list", ""), ("watch", "10"), ("list", "")]
    print(f"endless watch line: {sent[0] / MiB:.0f} MiB sent, RSS +{memory.growth / MiB:.1f} MiB")
    assert limits.MAX_WATCH_EVENT_BYTES <= sent[0] < 64 * MiB
    assert memory.growth < 40 * MiB, f"RSS grew by {memory.growth / MiB:.1f} MiB"
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["limit"] for e in errors] == ["watch_event_bytes"]
    assert limit_count("watch_event_bytes") == before + 1
    assert made._backoff.waits >= 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("declared", id="content-length-1GiB-refused-unread"),
        pytest.param("streamed", id="chunked-1GiB-cut-at-the-bound"),
    ],
)
async def test_huge_list_body_is_dropped_at_the_response_bound(
    fake: FakeApi, kube: KubeClient, answer: str
) -> None:
    """A 1 GiB list body is refused (declared length) or cut at MAX_RESPONSE_BYTES
    (64 MiB) without being kept: RSS grows by less than 100 MiB, an error is logged, and
    the next list, after a backoff, succeeds."""
    sent = [0]
    huge = declared(1024 * MiB) if answer == "declared" else endless(sent, 1024 * MiB)
    fake.lists.extend([huge, list_page(node("a", 1), rv=10)])
    sink = RecordingSink()
    made = reflector(kube, sink)
    with capture_logs() as logs:
        async with RssSampler() as memory, running(made) as task:
            await eventually(task, seen(fake, 3))
    assert fake.requests == [("list", ""), ("list", ""), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    print(
        f"1 GiB list ({answer}): {sent[0] / MiB:.0f} MiB sent, RSS +{memory.growth / MiB:.1f} MiB"
    )
    assert sent[0] < 128 * MiB
    assert memory.growth < 100 * MiB, f"RSS grew by {memory.growth / MiB:.1f} MiB"
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["limit"] for e in errors] == ["response_bytes"]
    assert made._backoff.waits == 1  # type: ignore[attr-defined]


def endless_pages(per_page: int) -> Responder:
    """Pages of fresh objects, each with a continue token to yet another page."""
    counter = itertools.count()

    async def respond(request: web.Request) -> web.StreamResponse:
        page = next(counter)
        items = [node(f"n{page}-{i}", 1) for i in range(per_page)]
        body = {"metadata": {"continue": f"token-{page + 1}"}, "items": items}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return respond


@pytest.mark.parametrize(
    ("per_page", "bounds", "limit", "pages"),
    [
        pytest.param(1, {"max_list_pages": 20}, "list_pages", 20, id="pages"),
        pytest.param(10, {"max_list_items": 55}, "list_items", 6, id="items"),
    ],
)
async def test_endless_continue_tokens_stop_at_the_list_bounds(
    fake: FakeApi,
    kube: KubeClient,
    per_page: int,
    bounds: dict[str, int],
    limit: str,
    pages: int,
) -> None:
    """A server that hands out continue tokens for ever is followed for a bounded number of
    pages or objects; the partial list is dropped (never replaces the sink), an error names
    the limit, and the next attempt comes after a backoff."""
    responder = endless_pages(per_page)
    # A whole bounded list, page one of the next attempt, then a page that never comes.
    fake.lists.extend([*[responder] * (pages + 1), gated(responder, asyncio.Event())])
    sink = RecordingSink()
    made = reflector(kube, sink, **bounds)
    with capture_logs() as logs:
        async with running(made) as task:
            await eventually(task, seen(fake, pages + 2))
    assert [r[0] for r in fake.requests[: pages + 1]] == ["list"] * (pages + 1)
    assert fake.requests[1:pages] == [("list", f"token-{n}") for n in range(1, pages)]
    assert fake.requests[pages] == ("list", "")  # started again from page one
    assert sink.calls == []
    assert [e["limit"] for e in logs if e["log_level"] == "error"] == [limit]
    assert made._backoff.waits == 1  # type: ignore[attr-defined]


def expiring_continue() -> Responder:
    """Page one hands out a continue token; any continue token is 410; a list without a
    limit is whole."""

    async def respond(request: web.Request) -> web.StreamResponse:
        if request.query.get("continue"):
            return await status(410, "Expired", "continue token expired")(request)
        if request.query.get("limit"):
            return await list_page(node("a", 1), cont="c1")(request)
        return await list_page(node("a", 1), node("b", 2), rv=10)(request)

    return respond


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("watch_expires", "most"),
    [
        pytest.param(False, 3, id="watch-holds"),
        pytest.param(True, 60, id="watch-410-every-time"),
    ],
)
async def test_expired_continue_tokens_cost_a_bounded_number_of_lists(
    fake: FakeApi, kube: KubeClient, watch_expires: bool, most: int
) -> None:
    """410 on every continue token: each relist is page one, then one unpaged list; when the
    watch then expires at once, every time, relists are backed off. Over 30 s of loop time
    the LISTs stay bounded (this was 17,587 in 30 s without a log line)."""
    random.seed(7)
    loop = asyncio.get_running_loop()
    fake.lists.extend([expiring_continue()] * 1000)
    if watch_expires:
        fake.watches.extend([status(410, "Expired", "too old resource version")] * 1000)
    made = Reflector(kube, "nodes", PATH, PROJECTION, RecordingSink(), clock=loop.time)
    with capture_logs() as logs:
        async with running(made):
            await asyncio.sleep(30)
    lists = sum(1 for r in fake.requests if r[0] == "list")
    print(f"expired continue tokens, watch expires: {watch_expires}: {lists} LISTs in 30 s")
    assert 3 <= lists <= most
    fallbacks = [e for e in logs if e["event"].startswith("continue token expired")]
    assert len(fallbacks) == lists // 3
    assert made.synced.is_set()
