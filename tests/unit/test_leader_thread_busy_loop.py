"""LeaseThread against a Lease endpoint served from a thread of its own: renewals go on while
the main event loop is blocked, the leader's work runs on the main loop, and cancelling stops
the work before the Lease is released.

These are about order, not timing: the lease is long (30 s) so that no load on the machine
running the tests can end a term, and the main loop is blocked until renewals have been
seen rather than for a set time. That renewals arrive within the renew deadline while the
main process is CPU-bound is proven on the real control plane, with a 4 s lease and a 3 s
renew deadline (tighter than the defaults): tests/integration/test_http_hostile_load.py."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from nodecount_scaler.control.lease_thread import LeaseThread
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.model.lease import LeaderElectionConfig
from tests.scripted_api import serving

LEASE = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lease"
CONFIG = LeaderElectionConfig(
    "ns", "lease", "me", lease_duration=30.0, renew_deadline=20.0, retry_period=0.2
)
# Renewals to see while the main loop is blocked, and how long to wait for them at most (a
# bound for a broken lease thread, not a timing claim: 5 renewals take 1 s when idle).
RENEWALS_WHILE_BLOCKED = 5
BLOCKED_AT_MOST = 60.0


class LeaseApi:
    """One Lease with resourceVersions and 409s, served on a loop in its own thread."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.writes: list[tuple[float, str]] = []  # (time, holder)
        self.written = threading.Condition()
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            if self.lease is None:
                return web.json_response({"kind": "Status"}, status=404)
            return web.json_response(self.lease)
        body = await request.json()
        current = (self.lease or {}).get("metadata", {}).get("resourceVersion")
        stale = body["metadata"].get("resourceVersion") != current
        if (request.method == "POST") != (self.lease is None) or (current and stale):
            return web.json_response({"kind": "Status"}, status=409)
        body["metadata"]["resourceVersion"] = str(len(self.writes) + 1)
        self.lease = body
        with self.written:
            self.writes.append((time.monotonic(), body["spec"].get("holderIdentity", "")))
            self.written.notify_all()
        return web.json_response(body)

    def wait_for_renewals(self, count: int, since: float, timeout: float) -> list[float]:
        """Block the calling thread until `count` writes by "me" after `since`; their times."""

        def renewed() -> list[float]:
            return [at for at, holder in self.writes if at > since and holder == "me"]

        with self.written:
            self.written.wait_for(lambda: len(renewed()) >= count, timeout)
            return renewed()

    async def _serve(self) -> None:
        async with serving(self._handle) as url:
            self.url = url
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> LeaseApi:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture
def api() -> Iterator[LeaseApi]:
    with LeaseApi() as served:
        yield served


def lease_thread(api: LeaseApi) -> LeaseThread:
    async def connect() -> KubeClient:
        configuration = Configuration()
        configuration.host = api.url
        return KubeClient(configuration)

    return LeaseThread(CONFIG, connect)


async def test_a_blocked_main_loop_does_not_cost_the_lease(api: LeaseApi) -> None:
    """The main loop blocked (the thread that runs it waits) until the lease thread has
    renewed 5 times: the renewals happened meanwhile, the term is current, the work ran on
    the main loop, and cancelling releases the Lease."""
    lease = lease_thread(api)
    main = asyncio.get_running_loop()
    working = asyncio.Event()
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def work() -> None:
        ran_on.append(asyncio.get_running_loop())
        working.set()
        await asyncio.Event().wait()

    runner = asyncio.create_task(lease.run(work))
    await asyncio.wait_for(working.wait(), 5)
    # Blocking the main loop is the point: nothing on it runs until the renewals are seen.
    renewed = api.wait_for_renewals(RENEWALS_WHILE_BLOCKED, time.monotonic(), BLOCKED_AT_MOST)
    assert len(renewed) >= RENEWALS_WHILE_BLOCKED, api.writes[-5:]
    assert lease.is_leader
    assert lease.term_left() > 0
    assert ran_on == [main]
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert api.writes[-1][1] == "", "the lease was not released on cancel"
    assert not lease.is_leader


async def test_cancel_stops_the_work_before_the_lease_is_released(api: LeaseApi) -> None:
    """The work's unwinding on the main loop ends before the releasing write."""
    lease = lease_thread(api)
    working = asyncio.Event()
    stopped_at: list[float] = []

    async def work() -> None:
        working.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.3)  # an in-flight write finishing
            stopped_at.append(time.monotonic())

    runner = asyncio.create_task(lease.run(work))
    await asyncio.wait_for(working.wait(), 5)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    (released_at,) = [at for at, holder in api.writes if holder == ""]
    assert stopped_at
    assert stopped_at[0] <= released_at
