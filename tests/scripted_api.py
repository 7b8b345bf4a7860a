"""A scripted Kubernetes API server and seeded caches for controller tests.

In the manner of sample-controller's tests: seed the caches, run one sync, assert the exact
list of API calls. The server records every request (method, path, query, JSON body,
Content-Type) and answers from a script: by default 200 with a plausible body, or per
(method, path) a queue of replies (status, body, delay) whose last entry repeats.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from nodecount_scaler.control.events import EventRecorder
from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.kube.client import JsonObject, KubeClient
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import node_view, target_view
from tests.tasks import running_task

MERGE_PATCH = "application/merge-patch+json"
KEY = TargetKey("ns", "d")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 500: "InternalError"}


def deployment_path(name: str = "d", namespace: str = "ns") -> str:
    """Where a replica change is written: the Deployment itself."""
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def pod_path(name: str, namespace: str = "ns") -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def events_path(namespace: str = "ns") -> str:
    return f"/api/v1/namespaces/{namespace}/events"


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: Any
    content_type: str
    at: float  # loop time when the request arrived

    @property
    def line(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def event(self) -> tuple[str, str]:
        """(type, reason) of a POSTed Event."""
        assert self.method == "POST", self
        assert self.path.endswith("/events"), self
        return self.body["type"], self.body["reason"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: JsonObject | None = None  # None: a plausible body for the request
    delay: float = 0.0


@dataclass(slots=True)
class ScriptedApi:
    client: KubeClient
    calls: list[Call] = field(default_factory=list)
    completed: list[Call] = field(default_factory=list)  # answered with a 2xx
    pods: list[JsonObject] = field(default_factory=list)  # what a pod list returns
    # What a watch streams, one watch event per item; None ends one stream.
    watch_events: asyncio.Queue[JsonObject | None] = field(default_factory=asyncio.Queue)
    open_watches: int = 0  # watch streams being served now
    most_watches: int = 0  # the most at any one time
    _script: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer (method, path) with these replies in turn; the last one repeats."""
        self._script[(method, path)] = list(replies)

    @property
    def lines(self) -> list[tuple[str, str]]:
        return [c.line for c in self.calls]

    def clear(self) -> None:
        self.calls.clear()
        self.completed.clear()

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.calls) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def _reply(self, method: str, path: str) -> Reply:
        replies = self._script.get((method, path))
        if not replies:
            return Reply()
        return replies.pop(0) if len(replies) > 1 else replies[0]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        call = Call(
            request.method,
            request.path,
            tuple(request.query.items()),
            body,
            request.headers.get("Content-Type", ""),
            asyncio.get_running_loop().time(),
        )
        self.calls.append(call)
        self._arrived.set()
        if call.method == "GET" and ("watch", "1") in call.query:
            return await self._stream(request)
        reply = self._reply(call.method, call.path)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 300:
            reason = REASONS.get(reply.status, "Unknown")
            return web.json_response(
                reply.body
                or {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": reason,
                    "message": f"scripted {reply.status}",
                    "code": reply.status,
                },
                status=reply.status,
            )
        self.completed.append(call)
        return web.json_response(reply.body or self._default_body(call), status=reply.status)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """A watch stream of `watch_events`, held open until None or the client goes away."""
        response = web.StreamResponse()
        await response.prepare(request)
        self.open_watches += 1
        self.most_watches = max(self.most_watches, self.open_watches)
        try:
            while request.transport is not None and not request.transport.is_closing():
                try:
                    event = await asyncio.wait_for(self.watch_events.get(), 0.05)
                except TimeoutError:
                    continue
                if event is None:
                    break
                await response.write(json.dumps(event).encode() + b"\n")
        finally:
            self.open_watches -= 1
        return response

    def _default_body(self, call: Call) -> JsonObject:
        if call.method == "GET" and call.path.endswith("/pods"):
            return {
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {"resourceVersion": "1"},
                "items": self.pods,
            }
        if call.method == "POST" and call.path.endswith("/events"):
            metadata = {**call.body["metadata"], "name": call.body["metadata"]["generateName"]}
            return {**call.body, "metadata": metadata}
        if "/deployments/" in call.path:
            return {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": call.path.split("/")[-1]},
                "spec": (call.body or {}).get("spec", {}),
                "status": {"replicas": 0},
            }
        return {"kind": "Pod", "apiVersion": "v1", **(call.body or {})}


@asynccontextmanager
async def serving(handle: Handler) -> AsyncIterator[str]:
    """An HTTP server on a free loopback port that gives every request, whatever its method
    and path, to `handle`; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


class Reopenable:
    """A test server that stops like a crashed API server (connections refused, open streams
    cut after `shutdown_timeout`) and starts again on the same port, where clients still
    point."""

    def __init__(self, app: Callable[[], web.Application], shutdown_timeout: float = 60.0) -> None:
        self.port = 0
        self._app = app
        self._shutdown_timeout = shutdown_timeout
        self._server: TestServer | None = None

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = TestServer(self._app(), host="127.0.0.1", port=self.port or None)
        await self._server.start_server(shutdown_timeout=self._shutdown_timeout)
        assert self._server.port is not None
        self.port = self._server.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None


@asynccontextmanager
async def scripted_api() -> AsyncIterator[ScriptedApi]:
    """Start the server and a real KubeClient pointed at it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await api.handle(request)

    async with serving(handle) as url, KubeClient.for_url(url) as client:
        api = ScriptedApi(client)
        yield api


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs executor jobs at once, in the loop's thread. aiohttp (trust_env=True, as
    kubernetes-asyncio sets it) sends every request through two executor hops (netrc, proxy
    environment); looptime lets the loop time flow in real time while a thread job is
    pending, which made runs slow and their interleaving depend on thread timing."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed over, as a thread would
            future.set_exception(exc)
        return future


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll the loop until predicate() is truthy; fail after `timeout` seconds."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s")


@asynccontextmanager
async def running(caches: PodCaches) -> AsyncIterator[None]:
    """The pod caches' run() for the block, as the leader runs it."""
    async with running_task(caches.run()):
        await asyncio.sleep(0)  # run() has begun: the caches take targets
        yield


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def seeded_state(
    nodes: Iterable[JsonObject],
    deployments: Iterable[JsonObject],
    *,
    unready_grace: float = 0.0,
    now: float = 0.0,
    settle: float = 0.0,
) -> ClusterState:
    """ClusterState filled from Node and Deployment JSON, as the reflectors would fill it;
    new targets settle for `settle` seconds (none unless a test is about settling)."""
    state = ClusterState(unready_grace, settle)
    for obj in nodes:
        state.upsert_node(node_view(obj), now)
    for obj in deployments:
        state.upsert_target(target_view(obj), now)
    return state


def make_reconciler(
    api: ScriptedApi,
    state: ClusterState,
    *,
    dry_run: bool = False,
    replica_cap: int = 1000,
    clock: FakeClock | None = None,
    pods: bool = True,
    caches: PodCaches | None = None,
    node_pods: NodePods | None = None,
) -> Reconciler:
    """A reconciler on the scripted API. `pods`: pod-deletion-cost steering on or off;
    without `caches` every scale-down lists the target's pods once (--pod-watches 0)."""
    clock = clock or FakeClock()
    events = EventRecorder(api.client, instance="test-0", dry_run=dry_run, clock=clock)
    return Reconciler(
        api.client,
        state,
        events,
        replica_cap,
        dry_run,
        steer_pods=pods,
        pod_caches=caches,
        clock=clock,
        node_pods=node_pods,
    )
