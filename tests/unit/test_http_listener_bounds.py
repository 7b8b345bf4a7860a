"""BoundedListener on loopback: connection cap, displacement of slow clients, header
timeout, requests in flight (in all and per identity), body and header caps; and the
shared rendering cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from nodecount_scaler import metrics
from nodecount_scaler.http.cache import Rendered
from nodecount_scaler.http.listener import BoundedListener, ListenerLimits

LIMITS = ListenerLimits(max_connections=3, max_in_flight=2, header_timeout=0.5, max_body=100)
REQUEST = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"


class Served:
    def __init__(self, listener: BoundedListener, release: asyncio.Event) -> None:
        self.listener = listener
        self.release = release

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.listener.port)

    async def ask(self, raw: bytes) -> bytes:
        """Send `raw` on a new connection; the response head (or b"" when closed)."""
        reader, writer = await self.connect()
        writer.write(raw)
        try:
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        except asyncio.IncompleteReadError as exc:
            return exc.partial
        finally:
            writer.close()


def rejected(reason: str) -> float:
    value: float = metrics.HTTP_REJECTED.labels("test", reason)._value.get()
    return value


@contextlib.asynccontextmanager
async def serve(limits: ListenerLimits) -> AsyncIterator[Served]:
    release = asyncio.Event()
    listener = BoundedListener("test", limits)

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[listener.middleware])
    app.router.add_get("/slow", slow)
    app.router.add_get("/fast", fast)
    await listener.start(app, "127.0.0.1:0")
    yield Served(listener, release)
    release.set()
    await listener.stop()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve(LIMITS) as it:
        yield it


async def closed(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except ConnectionResetError:
        return True


async def test_a_new_connection_displaces_the_oldest_idle_one(served: Served) -> None:
    """At the cap, the oldest connection without a request head is closed for the new one."""
    before = rejected("displaced")
    idle = [await served.connect() for _ in range(3)]
    await asyncio.sleep(0.05)
    newest = await served.connect()
    assert await closed(idle[0][0])
    newest[1].write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await newest[0].readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    assert len(served.listener.open) <= 3
    assert rejected("displaced") == before + 1


async def test_when_every_connection_is_busy_a_new_one_is_closed() -> None:
    """Busy connections keep their places; the newcomer is closed at once."""
    before = rejected("connections")
    async with serve(ListenerLimits(2, 2, header_timeout=0.5, max_body=100)) as served:
        busy = [await served.connect() for _ in range(2)]
        for _, writer in busy:
            writer.write(REQUEST)
        await asyncio.sleep(0.1)
        reader, _ = await served.connect()
        assert await closed(reader, 1.0)
        assert rejected("connections") == before + 1
        served.release.set()
        for reader, _ in busy:
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")


async def test_a_slow_request_head_is_cut_off(served: Served) -> None:
    """A client that trickles its head is aborted after header_timeout."""
    before = rejected("header_timeout")
    reader, writer = await served.connect()
    writer.write(b"GET /fast HTTP/1.1\r\n")
    started = asyncio.get_running_loop().time()
    assert await closed(reader)
    assert asyncio.get_running_loop().time() - started < 1.5
    assert rejected("header_timeout") == before + 1
    assert not served.listener.open


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(served: Served) -> None:
    """The timeout starts again after each response."""
    reader, writer = await served.connect()
    writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    assert await closed(reader)


async def test_requests_beyond_the_in_flight_cap_get_503(served: Served) -> None:
    """Two requests run; the third is answered 503 with Retry-After at once."""
    running = [await served.connect() for _ in range(2)]
    for _, writer in running:
        writer.write(REQUEST)
    await asyncio.sleep(0.1)
    head = await served.ask(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 1" in head


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", b"413"),
        (b"GET /fast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"413"),
        (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde", b"200"),
        (b"GET /fast HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", b"400"),
        (
            b"GET /fast HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(40)) + b"\r\n",
            b"400",
        ),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
    ],
    ids=["body-too-long", "chunked-body", "small-body", "long-header", "many-headers", "long-line"],
)
async def test_request_size_caps(served: Served, raw: bytes, status: bytes) -> None:
    """Bodies past max_body, bodies of unknown length and oversized heads are refused."""
    head = await served.ask(raw)
    assert head.split(b" ")[1] == status, head[:200]


def test_rendering_is_fresh_when_asked_now_and_then_and_shared_under_a_flood() -> None:
    """A burst of fresh renderings, then at most `rate` a second; the body in between is
    the last one; after a pause every request is fresh again."""
    now = [0.0]
    counter = iter(range(1000))
    rendered = Rendered(
        lambda: b"%d" % next(counter), rate=5, burst=3, clock=lambda: now[0], cpu_clock=lambda: 0.0
    )
    assert [rendered.get() for _ in range(5)] == [b"0", b"1", b"2", b"2", b"2"]
    now[0] = 0.2
    assert [rendered.get() for _ in range(3)] == [b"3", b"3", b"3"]
    now[0] = 10.0
    assert [rendered.get() for _ in range(3)] == [b"4", b"5", b"6"]
    assert rendered.renders == 7


def test_renderings_stay_within_their_share_of_a_core() -> None:
    """A rendering that costs 0.1 s of CPU at a share of 0.1 is followed by the next one
    only a second later, however many tokens the bucket has: the clients in between get
    the last body."""
    now, cpu = [0.0], [0.0]
    counter = iter(range(1000))

    def render() -> bytes:
        cpu[0] += 0.1
        return b"%d" % next(counter)

    rendered = Rendered(
        render, rate=5, burst=10, share=0.1, clock=lambda: now[0], cpu_clock=lambda: cpu[0]
    )
    assert [rendered.get() for _ in range(5)] == [b"0"] * 5
    assert rendered.cost == pytest.approx(0.1)
    now[0] = 0.99
    assert rendered.get() == b"0"
    now[0] = 1.0
    assert rendered.get() == b"1"
    # Over 10 s of a flood: at most 10 renderings, a tenth of a core.
    for tick in range(1, 1001):
        now[0] = 1.0 + tick / 100
        rendered.get()
    assert rendered.renders <= 12
    with pytest.raises(ValueError, match="share"):
        Rendered(render, rate=5, burst=10, share=0)


async def test_a_prompt_client_gets_in_through_a_crowd_of_idle_ones() -> None:
    """60 connections that send nothing arrive together with one that asks at once: the
    accept loop yields after each accept, so the prompt one is read before it could be
    displaced, and at most the cap stays open."""
    async with serve(ListenerLimits(16, 4, header_timeout=2, max_body=100)) as served:
        crowd = [asyncio.create_task(served.connect()) for _ in range(30)]
        prompt = asyncio.create_task(served.ask(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"))
        crowd += [asyncio.create_task(served.connect()) for _ in range(30)]
        head = await prompt
        await asyncio.gather(*crowd, return_exceptions=True)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert len(served.listener.open) <= 16


async def test_an_identitys_connections_hold_at_most_its_share_of_requests_in_flight() -> None:
    """Once a connection's request has said who holds it, that identity's requests in
    flight count against its share (here 1 of 3): past it 429, another identity served."""
    release = asyncio.Event()
    limits = ListenerLimits(8, 3, header_timeout=2, max_body=100, max_in_flight_per_identity=1)
    listener = BoundedListener("test", limits)

    async def who(request: web.Request) -> web.Response:
        listener.identify(request, request.headers["X-Who"])
        if request.path == "/slow":
            await release.wait()
        return web.Response(text="ok")

    app = web.Application(middlewares=[listener.middleware])
    app.router.add_get("/who", who)
    app.router.add_get("/slow", who)
    await listener.start(app, "127.0.0.1:0")
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(3)]
    url = f"http://127.0.0.1:{listener.port}"
    try:

        async def ask(session: aiohttp.ClientSession, name: str, path: str) -> int:
            async with session.get(url + path, headers={"X-Who": name}) as response:
                await response.read()
                return response.status

        # Each connection's first request names its holder (and is not counted by it).
        firsts = [ask(s, n, "/who") for s, n in zip(sessions, "aab", strict=True)]
        assert await asyncio.gather(*firsts) == [200, 200, 200]
        held = asyncio.create_task(ask(sessions[0], "a", "/slow"))
        await asyncio.sleep(0.2)
        assert await ask(sessions[1], "a", "/slow") == 429
        other = asyncio.create_task(ask(sessions[2], "b", "/slow"))
        await asyncio.sleep(0.2)
        release.set()
        assert list(await asyncio.gather(held, other)) == [200, 200]
        assert rejected("identity_busy") >= 1
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
        await listener.stop()
