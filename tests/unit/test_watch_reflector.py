"""Reflector against a scripted API server: paged lists, watch events, and every way a
stream can fail (410, ERROR events, stalls, truncation, refused connections, 403).

The server answers each LIST and each WATCH request with the next responder of its script;
a WATCH past the end of the script is held open in silence, so a test that has seen its last
expected request sees no further ones. Backoff delays are tiny and recorded, so tests assert
whether a failure was backed off without timing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import Configuration
from structlog.testing import capture_logs

from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Backoff, Reflector
from tests.unit.string_projection import PROJECTION

PATH = "/api/v1/nodes"
# Generous: only the stall test relies on an inactivity timeout firing, and sets its own.
QUIET = 30.0
WAIT = 10.0

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]
Request = tuple[str, str]  # ("list", continue token) or ("watch", resourceVersion)


# --------------------------------------------------------------------------- objects


def node(name: str, rv: int, data: str = "x") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(rv)}, "data": data}


def event(event_type: str, body: object) -> bytes:
    return orjson.dumps({"type": event_type, "object": body}) + b"\n"


def bookmark(rv: int) -> bytes:
    return event("BOOKMARK", {"kind": "Node", "metadata": {"resourceVersion": str(rv)}})


def error_event(code: int, reason: str) -> bytes:
    return event("ERROR", {"kind": "Status", "code": code, "reason": reason, "message": reason})


class RecordingSink:
    """A dict-backed Sink that also logs every call, in order."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.calls: list[tuple[object, ...]] = []

    def replace(self, items: dict[str, str]) -> None:
        self.items = dict(items)
        self.calls.append(("replace", dict(items)))

    def upsert(self, key: str, view: str) -> None:
        self.items[key] = view
        self.calls.append(("upsert", key, view))

    def delete(self, key: str) -> None:
        self.items.pop(key, None)
        self.calls.append(("delete", key))


@dataclass(slots=True)
class RecordingBackoff(Backoff):
    """Tiny delays; remembers how many times run() backed off."""

    initial: float = 0.005
    cap: float = 0.02
    waits: int = 0

    def next_delay(self) -> float:
        self.waits += 1
        return Backoff.next_delay(self)


# --------------------------------------------------------------------------- scripted server


def status(code: int, reason: str, message: str = "") -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
        return web.json_response({**body, "reason": reason, "message": message}, status=code)

    return respond


def list_page(*items: dict[str, Any], rv: int = 0, cont: str = "") -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        metadata = {"resourceVersion": str(rv) if rv else "", "continue": cont}
        return web.Response(
            body=orjson.dumps({"kind": "NodeList", "metadata": metadata, "items": list(items)}),
            content_type="application/json",
        )

    return respond


def gated(responder: Responder, gate: asyncio.Event) -> Responder:
    """`responder`, once `gate` is set: lets a test look at the reflector mid-script."""

    async def respond(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return await responder(request)

    return respond


def raw_body(body: bytes) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="text/html")

    return respond


class FakeApi:
    """An API server for one collection, following a script of LIST and WATCH answers."""

    def __init__(self) -> None:
        self.lists: deque[Responder] = deque()
        self.watches: deque[Responder] = deque()
        self.requests: list[Request] = []
        self.limits: list[str] = []
        self.port = 0
        self._server: TestServer | None = None
        self._stopping = asyncio.Event()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._stopping = asyncio.Event()
        self._server = TestServer(app, host="127.0.0.1", port=self.port or None)
        await self._server.start_server(shutdown_timeout=1.0)
        assert self._server.port is not None
        self.port = self._server.port

    async def stop(self) -> None:
        """Go away like a crashed API server: open streams are cut, new connections refused."""
        self._stopping.set()
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._stopping.is_set():
            return await self._cut(request)
        query = request.query
        if query.get("watch") in ("1", "true"):
            self.requests.append(("watch", query.get("resourceVersion", "")))
            responder = self.watches.popleft() if self.watches else self.stream()
        else:
            self.requests.append(("list", query.get("continue", "")))
            self.limits.append(query.get("limit", ""))
            responder = self.lists.popleft() if self.lists else status(500, "Unscripted")
        return await responder(request)

    def stream(self, *steps: bytes | asyncio.Event, end: str = "hold") -> Responder:
        """A watch response: headers, then each step (a chunk to send, or an Event to wait
        for), then `end`: "close" ends the response normally, "cut" closes the connection
        mid-body, "hold" keeps it open and silent until the server stops."""

        async def respond(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for step in steps:
                if isinstance(step, asyncio.Event):
                    await step.wait()
                else:
                    await response.write(step)
            if end == "hold":
                await self._stopping.wait()
                return await self._cut(request)
            if end == "cut":
                return await self._cut(request)
            await response.write_eof()
            return response

        return respond

    @staticmethod
    async def _cut(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        # Unwinds the handler; aiohttp does not log a dropped connection.
        raise asyncio.CancelledError


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    server = FakeApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[KubeClient]:
    configuration = Configuration()
    configuration.host = api.host
    kube = KubeClient(configuration)
    yield kube
    await kube.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def backoff() -> RecordingBackoff:
    return RecordingBackoff()


@pytest.fixture
def reflector(
    client: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> Reflector[str, str]:
    return make_reflector(client, sink, backoff)


def make_reflector(
    client: KubeClient, sink: RecordingSink, backoff: RecordingBackoff, **kwargs: Any
) -> Reflector[str, str]:
    kwargs.setdefault("inactivity_timeout", QUIET)
    reflector = Reflector(client, "nodes", PATH, PROJECTION, sink, **kwargs)
    reflector._backoff = backoff  # no public knob; keeps failure paths fast
    return reflector


@contextlib.asynccontextmanager
async def running(reflector: Reflector[Any, Any]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(reflector.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(task: asyncio.Task[None], condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds; fail at once if run() ended (it never should)."""

    async def poll() -> None:
        while not condition():
            if task.done():
                task.result()  # re-raises what escaped run()
                pytest.fail("Reflector.run() returned")
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), WAIT)


def seen(api: FakeApi, count: int) -> Callable[[], bool]:
    return lambda: len(api.requests) >= count


# --------------------------------------------------------------------------- listing


async def test_paged_list_then_replace_with_all_items(
    api: FakeApi, client: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """Pages are followed by their continue tokens; the sink gets one replace with them all."""
    api.lists.extend(
        [
            list_page(node("a", 1), node("b", 2), cont="t1"),
            list_page(node("c", 3), node("d", 4), cont="t2"),
            list_page(node("e", 5), rv=10),
        ]
    )
    reflector = make_reflector(client, sink, backoff, page_size=2)
    async with running(reflector) as task:
        await eventually(task, seen(api, 4))
    assert api.requests == [("list", ""), ("list", "t1"), ("list", "t2"), ("watch", "10")]
    assert api.limits == ["2", "2", "2"]
    assert sink.calls == [("replace", dict.fromkeys("abcde", "x"))]
    assert reflector.synced.is_set()
    assert reflector.connected


async def test_expired_continue_token_falls_back_to_one_unpaged_list(
    api: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """A 410 on a continue token drops the partial list and lists again in one request
    (client-go's pager), with a log line; the abandoned pages' skips are not counted."""
    api.lists.extend(
        [
            list_page(node("gone", 1), {"metadata": {"name": "bad"}}, cont="t1"),
            status(410, "Expired", "continue token expired"),
            list_page(node("a", 2), {"metadata": {"name": "bad"}}, node("b", 3), rv=10),
        ]
    )
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(api, 4))
    assert api.requests == [("list", ""), ("list", "t1"), ("list", ""), ("watch", "10")]
    assert api.limits == ["500", "500", ""]
    assert sink.calls == [("replace", {"a": "x", "b": "x"})]
    skipped = [e["count"] for e in logs if e["event"] == "skipped malformed objects"]
    assert skipped == [1]
    fallbacks = [e for e in logs if e["event"].startswith("continue token expired")]
    assert len(fallbacks) == 1


async def test_forbidden_list_is_retried_and_logged_with_a_hint(
    api: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """403 on LIST logs an error naming the missing permission, backs off and retries."""
    forbidden = status(403, "Forbidden", 'nodes is forbidden: cannot list resource "nodes"')
    gate = asyncio.Event()
    api.lists.extend([forbidden, forbidden, gated(list_page(node("a", 1), rv=10), gate)])
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(api, 3))
            assert not reflector.synced.is_set()
            assert not reflector.connected
            gate.set()
            await eventually(task, reflector.synced.is_set)
            await eventually(task, seen(api, 4))
            assert not task.done()
    assert api.requests == [("list", ""), ("list", ""), ("list", ""), ("watch", "10")]
    failures = [e for e in logs if e["event"] == "list/watch failed"]
    assert [e["log_level"] for e in failures] == ["error", "error"]
    assert all("list and watch on nodes" in e["hint"] for e in failures)
    assert "403" in failures[0]["error"]
    assert backoff.waits == 2


async def test_undecodable_list_response_is_retried(
    api: FakeApi, reflector: Reflector[str, str], sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """A 200 that is not a list (a proxy's page) is retried after a backoff, not raised."""
    api.lists.extend([raw_body(b"<html>gateway</html>"), list_page(node("a", 1), rv=10)])
    async with running(reflector) as task:
        await eventually(task, seen(api, 3))
    assert api.requests == [("list", ""), ("list", ""), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    assert backoff.waits == 1


# --------------------------------------------------------------------------- watching


async def test_watch_events_are_applied_in_order(
    api: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """ADDED / MODIFIED / DELETED reach the sink in stream order; untracked means deleted."""
    api.lists.append(list_page(node("a", 1), rv=10))
    api.watches.append(
        api.stream(
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
    assert api.requests == [("list", ""), ("watch", "10")]


async def test_bookmark_advances_version_without_sink_calls(
    api: FakeApi, reflector: Reflector[str, str], sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """A BOOKMARK only moves the version; the next watch resumes from it at once."""
    api.lists.append(list_page(node("a", 1), rv=10))
    api.watches.append(api.stream(bookmark(50), end="close"))
    async with running(reflector) as task:
        await eventually(task, seen(api, 3))
    assert api.requests == [("list", ""), ("watch", "10"), ("watch", "50")]
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
    api: FakeApi,
    client: KubeClient,
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
        return await api.stream()(request)

    api.lists.append(list_page(rv=10))
    api.watches.append(record)
    reflector = make_reflector(client, sink, backoff, watch_timeout=watch_timeout)
    async with running(reflector) as task:
        await eventually(task, lambda: len(queries) == 1)
    assert queries[0]["allowWatchBookmarks"] == "true"
    assert lowest <= int(queries[0]["timeoutSeconds"]) <= highest


async def test_normal_close_after_events_resumes_at_once(
    api: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """The server ending a stream (timeoutSeconds) is not a failure: no backoff, same RV."""
    api.lists.append(list_page(node("a", 1), rv=10))
    api.watches.append(api.stream(event("ADDED", node("b", 11)), end="close"))
    async with running(reflector) as task:
        await eventually(task, seen(api, 3))
        assert reflector.connected
    assert api.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert backoff.waits == 0


@pytest.mark.parametrize(
    ("clock_step", "waits"),
    [
        pytest.param(0.0, 3, id="closed-at-once-backs-off"),
        pytest.param(10.0, 0, id="quiet-but-long-resumes-at-once"),
    ],
)
async def test_empty_watch_is_backed_off_only_when_it_ends_at_once(
    api: FakeApi,
    client: KubeClient,
    sink: RecordingSink,
    backoff: RecordingBackoff,
    clock_step: float,
    waits: int,
) -> None:
    """A stream closed with no events before MIN_WATCH_SECONDS is backed off, not spun on."""
    ticks = iter(range(1_000_000))
    reflector = make_reflector(client, sink, backoff, clock=lambda: next(ticks) * clock_step)
    api.lists.append(list_page(rv=10))
    api.watches.extend([api.stream(end="close") for _ in range(3)])
    async with running(reflector) as task:
        await eventually(task, seen(api, 5))
    assert api.requests == [("list", ""), *[("watch", "10")] * 4]
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
    api: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    failure: str,
    waits: int,
) -> None:
    """410 (as a status or an ERROR event) and other ERROR events end in a fresh LIST."""
    api.lists.extend([list_page(node("a", 1), rv=10), list_page(node("b", 20), rv=30)])
    if failure == "http-410":
        api.watches.append(status(410, "Expired", "too old resource version: 10 (25)"))
    else:
        code = 410 if failure == "event-410" else 500
        api.watches.append(api.stream(error_event(code, "boom")))
    async with running(reflector) as task:
        await eventually(task, seen(api, 4))
    assert api.requests == [("list", ""), ("watch", "10"), ("list", ""), ("watch", "30")]
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
    api: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    failure: str,
) -> None:
    """A 5xx / 429 answer or a dropped connection is backed off and re-watched, not relisted."""
    api.lists.append(list_page(node("a", 1), rv=10))
    if failure == "cut":
        api.watches.append(api.stream(end="cut"))
    else:
        code = int(failure.removeprefix("http-"))
        api.watches.append(status(code, "TooManyRequests" if code == 429 else "InternalError"))
    async with running(reflector) as task:
        await eventually(task, seen(api, 3))
    assert api.requests == [("list", ""), ("watch", "10"), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    assert backoff.waits == 1


async def test_stream_with_events_resets_the_backoff(
    api: FakeApi, reflector: Reflector[str, str], backoff: RecordingBackoff
) -> None:
    """Failures are counted while consecutive: a stream that delivered events starts the next
    backoff from the shortest delay again."""
    api.lists.append(list_page(rv=10))
    api.watches.extend(
        [
            api.stream(end="cut"),
            api.stream(end="cut"),
            api.stream(event("ADDED", node("a", 11)), end="cut"),
        ]
    )
    async with running(reflector) as task:
        await eventually(task, seen(api, 5))
    assert api.requests == [("list", ""), *[("watch", "10")] * 3, ("watch", "11")]
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
    api: FakeApi,
    reflector: Reflector[str, str],
    sink: RecordingSink,
    backoff: RecordingBackoff,
    bad: dict[str, Any],
) -> None:
    """An event whose object cannot be projected is skipped; the same stream goes on."""
    api.lists.append(list_page(rv=10))
    api.watches.append(
        api.stream(
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
    assert api.requests == [("list", ""), ("watch", "10")]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["skipped malformed object"]
    assert backoff.waits == 0


async def test_last_progress_advances_on_data(
    api: FakeApi, client: KubeClient, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """Each chunk received stamps last_progress with the reflector's clock."""
    now = [0.0]
    gate = asyncio.Event()
    reflector = make_reflector(client, sink, backoff, clock=lambda: now[0])
    api.lists.append(list_page(rv=10))
    api.watches.append(api.stream(gate, event("ADDED", node("a", 11))))
    async with running(reflector) as task:
        await eventually(task, seen(api, 2))
        assert reflector.last_progress == 0.0
        now[0] = 5.0
        gate.set()
        await eventually(task, lambda: "a" in sink.items)
        assert reflector.last_progress == 5.0


# --------------------------------------------------------------------------- broken streams


async def test_stalled_stream_reconnects_after_inactivity_timeout(
    api: FakeApi, client: KubeClient, sink: RecordingSink
) -> None:
    """A stream still silent inactivity_timeout past the deadline it asked the server for
    is dropped and resumed from its RV."""
    reflector = make_reflector(
        client, sink, RecordingBackoff(), watch_timeout=0.5, inactivity_timeout=0.5
    )
    api.lists.append(list_page(rv=10))
    api.watches.append(api.stream(event("ADDED", node("a", 11))))  # then silence
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, seen(api, 3))
    assert api.requests[:3] == [("list", ""), ("watch", "10"), ("watch", "11")]
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
    api: FakeApi,
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
    api.lists.append(list_page(rv=10))
    # The complete event, then (once it was applied) half of the next one and the end.
    api.watches.append(api.stream(event("ADDED", node("a", 11)), gate, half, end=end))
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, lambda: "a" in sink.items)
            gate.set()
            await eventually(task, seen(api, 3))
    assert api.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert sink.calls == [("replace", {}), ("upsert", "a", "x")]
    lost = [e["error"] for e in logs if e["event"] == "watch connection lost"]
    assert len(lost) == 1
    assert error in lost[0]
    assert backoff.waits == 1


async def test_connection_refused_is_retried_until_the_server_is_up(
    client: KubeClient, api: FakeApi, sink: RecordingSink, backoff: RecordingBackoff
) -> None:
    """With nothing listening, run() keeps retrying, not connected and not synced; once the
    server answers it lists, syncs and watches."""
    await api.stop()
    api.lists.append(list_page(node("a", 1), rv=10))
    reflector = make_reflector(client, sink, backoff)
    with capture_logs() as logs:
        async with running(reflector) as task:
            await eventually(task, lambda: backoff.waits >= 3)
            assert not reflector.connected
            assert not reflector.synced.is_set()
            assert api.requests == []
            await api.start()
            await eventually(task, reflector.synced.is_set)
            await eventually(task, seen(api, 2))
            assert reflector.connected
    assert api.requests == [("list", ""), ("watch", "10")]
    assert sink.calls == [("replace", {"a": "x"})]
    failures = [e for e in logs if e["event"] == "list/watch failed"]
    assert len(failures) >= 3
    assert {e["log_level"] for e in failures} == {"warning"}


async def test_server_outage_resumes_the_watch_without_relisting(
    api: FakeApi, reflector: Reflector[str, str], sink: RecordingSink
) -> None:
    """When the server goes away the reflector reports not connected (still synced), and
    when it is back the watch resumes from the last version."""
    api.lists.append(list_page(node("a", 1), rv=10))
    api.watches.append(api.stream(event("ADDED", node("b", 11))))
    async with running(reflector) as task:
        await eventually(task, lambda: "b" in sink.items)
        assert reflector.connected
        await api.stop()
        await eventually(task, lambda: not reflector.connected)
        assert reflector.synced.is_set()
        await api.start()
        await eventually(task, seen(api, 3))
        await eventually(task, lambda: reflector.connected)
    assert api.requests == [("list", ""), ("watch", "10"), ("watch", "11")]
    assert sink.calls == [("replace", {"a": "x"}), ("upsert", "b", "x")]
