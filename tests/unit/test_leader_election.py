"""LeaderElector against a scripted in-memory Lease endpoint, on fake loop time (looptime).

Each elector talks to its own aiohttp test server; all servers share one LeaseStore, so one
elector can be cut off (hang, 500s, refused connections, garbage) while the others still
reach "the API server". Times are read from the loop clock, which is also the electors'
clock, so assertions on deadlines are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import math
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
import structlog
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from nodecount_scaler import limits, metrics
from nodecount_scaler.control.election import RELEASE_TIMEOUT, LeaderElector
from nodecount_scaler.kube.client import JsonObject, KubeClient
from nodecount_scaler.model.lease import JITTER_FACTOR, LeaderElectionConfig
from tests.scripted_api import InlineExecutor, Reopenable

pytestmark = pytest.mark.looptime

NS = "ns"
NAME = "nodecount-scaler"
LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 2.0
MAX_RETRY_WAIT = RETRY_PERIOD * (1 + JITTER_FACTOR)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"


def now() -> float:
    return asyncio.get_running_loop().time()


# --------------------------------------------------------------------------- fake API server


@dataclass(frozen=True, slots=True)
class Write:
    at: float
    method: str
    spec: JsonObject

    @property
    def holder(self) -> str:
        return str(self.spec.get("holderIdentity") or "")


class LeaseStore:
    """The API server's storage: resourceVersions, 409 on stale writes, a write journal."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], JsonObject] = {}
        self.writes: list[Write] = []
        self.journal: list[tuple[str, str]] = []  # shared with the workers, for ordering
        self.before_write: Callable[[], None] | None = None  # runs once, to stage a race
        self.changed = asyncio.Event()  # pulsed on every write and every work start/end
        self._rv = 100

    def get(self, name: str = NAME) -> JsonObject | None:
        return self.leases.get((NS, name))

    def spec(self, name: str = NAME) -> JsonObject:
        lease = self.get(name)
        assert lease is not None
        spec: JsonObject = lease["spec"]
        return spec

    def store(self, method: str, namespace: str, name: str, body: JsonObject) -> JsonObject:
        self._rv += 1
        lease = copy.deepcopy(body)
        metadata = lease.setdefault("metadata", {})
        metadata.update(name=name, namespace=namespace, resourceVersion=str(self._rv))
        metadata.setdefault("uid", f"uid-{name}")
        lease.setdefault("spec", {})
        self.leases[(namespace, name)] = lease
        self.writes.append(Write(now(), method, dict(lease["spec"])))
        self.journal.append(("write", str(lease["spec"].get("holderIdentity") or "")))
        self.changed.set()
        return lease

    def put_spec(self, **spec: Any) -> JsonObject:
        """Another process (or kubectl) writes the lease, unconditionally."""
        existing = copy.deepcopy(self.get() or {"metadata": {}, "spec": {}})
        existing["spec"].update(spec)
        return self.store("PUT", NS, NAME, existing)

    def renew_as(self, holder: str, stamp: str = "2026-11-28T17:00:00.000000Z") -> JsonObject:
        self._renewals = getattr(self, "_renewals", 0) + 1
        return self.put_spec(
            holderIdentity=holder,
            leaseDurationSeconds=int(LEASE_DURATION),
            renewTime=stamp.replace(".000000Z", f".{self._renewals:06d}Z"),
        )

    def last_write_by(self, holder: str) -> Write:
        return [w for w in self.writes if w.holder == holder][-1]

    def run_hook(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()


class Fault(Enum):
    NONE = "none"
    ERROR = "error"  # 500 with a Status body
    FORBIDDEN = "forbidden"  # 403: RBAC missing
    GARBAGE = "garbage"  # 200 with a body that is not JSON
    HANG = "hang"  # accept, never answer
    REFUSE = "refuse"  # nothing listens on the port


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    return web.json_response({**body, "reason": reason, "message": message}, status=code)


class FakeApiServer:
    """One address of the API server, with its own fault switch."""

    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.fault = Fault.NONE
        self.requests: list[tuple[str, str]] = []
        self._server = Reopenable(self._app)
        self._unhang = asyncio.Event()

    @property
    def host(self) -> str:
        assert self._server.port
        return self._server.host

    def _app(self) -> web.Application:
        app = web.Application()
        base = LEASES.format(ns="{ns}")
        app.router.add_get(base + "/{name}", self._get)
        app.router.add_put(base + "/{name}", self._put)
        app.router.add_post(base, self._post)
        return app

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        self._unhang.set()
        await self._server.stop()

    async def set_fault(self, fault: Fault) -> None:
        if self.fault is Fault.REFUSE and fault is not Fault.REFUSE:
            await self.start()
        if self.fault is Fault.HANG and fault is not Fault.HANG:
            self._unhang.set()
        self._unhang = asyncio.Event()
        self.fault = fault
        if fault is Fault.REFUSE:
            await self.stop()

    async def _faulted(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        if self.fault is Fault.HANG:
            await self._unhang.wait()
            return status(503, "ServiceUnavailable", "was hung")
        if self.fault is Fault.ERROR:
            return status(500, "InternalError", "etcdserver: request timed out")
        if self.fault is Fault.FORBIDDEN:
            return status(403, "Forbidden", "cannot get resource leases")
        if self.fault is Fault.GARBAGE:
            return web.Response(status=200, text="<html>proxy</html>")
        return None

    async def _get(self, request: web.Request) -> web.Response:
        if (faulted := await self._faulted(request)) is not None:
            return faulted
        lease = self.store.leases.get((request.match_info["ns"], request.match_info["name"]))
        if lease is None:
            return status(404, "NotFound", "leases.coordination.k8s.io not found")
        return web.json_response(lease)

    async def _put(self, request: web.Request) -> web.Response:
        if (faulted := await self._faulted(request)) is not None:
            return faulted
        body = await request.json()
        key = (request.match_info["ns"], request.match_info["name"])
        self.store.run_hook()
        existing = self.store.leases.get(key)
        if existing is None:
            return status(404, "NotFound", "leases.coordination.k8s.io not found")
        rv = body.get("metadata", {}).get("resourceVersion")
        if not rv:
            return status(422, "Invalid", "metadata.resourceVersion must be specified")
        if rv != existing["metadata"]["resourceVersion"]:
            return status(409, "Conflict", "the object has been modified")
        return web.json_response(self.store.store("PUT", *key, body))

    async def _post(self, request: web.Request) -> web.Response:
        if (faulted := await self._faulted(request)) is not None:
            return faulted
        body = await request.json()
        name = body["metadata"]["name"]
        self.store.run_hook()
        if (request.match_info["ns"], name) in self.store.leases:
            return status(409, "AlreadyExists", "leases.coordination.k8s.io already exists")
        return web.json_response(self.store.store("POST", request.match_info["ns"], name, body))


# --------------------------------------------------------------------------- harness


class Worker:
    """leader_work that records its terms; optionally fails or returns, or is slow to stop."""

    def __init__(self, name: str, store: LeaseStore, **behaviour: Any) -> None:
        self.name = name
        self.store = store
        self.fail_first: bool = behaviour.get("fail_first", False)
        self.return_first: bool = behaviour.get("return_first", False)
        self.cleanup: float = behaviour.get("cleanup", 0.0)
        self.fail_on_cancel: bool = behaviour.get("fail_on_cancel", False)
        self.elector: LeaderElector | None = None
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.cancels: list[float] = []
        self.leader_at_cancel: list[bool] = []

    @property
    def running(self) -> bool:
        return len(self.starts) > len(self.ends)

    async def __call__(self) -> None:
        self.starts.append(now())
        self.store.journal.append(("work-start", self.name))
        self.store.changed.set()
        try:
            if len(self.starts) == 1 and self.fail_first:
                await asyncio.sleep(1)
                raise RuntimeError("boom")
            if len(self.starts) == 1 and self.return_first:
                await asyncio.sleep(1)
                return
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancels.append(now())
            assert self.elector is not None
            self.leader_at_cancel.append(self.elector.is_leader)
            if self.cleanup:
                await asyncio.sleep(self.cleanup)
            if self.fail_on_cancel:
                raise ValueError("cleanup failed") from None
            raise
        finally:
            self.ends.append(now())
            self.store.journal.append(("work-end", self.name))
            self.store.changed.set()


@dataclass
class Candidate:
    elector: LeaderElector
    worker: Worker
    server: FakeApiServer
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run(self.worker))

    @property
    def alive(self) -> bool:
        """run() is still going (it only ends by cancellation)."""
        return self.task is not None and not self.task.done()

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@dataclass
class Cluster:
    store: LeaseStore = field(default_factory=LeaseStore)
    servers: list[FakeApiServer] = field(default_factory=list)
    clients: list[KubeClient] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)

    async def candidate(
        self, name: str, *, clock: Callable[[], float] | None = None, **behaviour: Any
    ) -> Candidate:
        server = FakeApiServer(self.store)
        await server.start()
        self.servers.append(server)
        configuration = Configuration()
        configuration.host = server.host
        client = KubeClient(configuration)
        self.clients.append(client)
        config = LeaderElectionConfig(
            namespace=NS,
            name=NAME,
            identity=name,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
        )
        elector = LeaderElector(client, config, clock=clock or asyncio.get_running_loop().time)
        worker = Worker(name, self.store, **behaviour)
        worker.elector = elector
        candidate = Candidate(elector, worker, server)
        self.candidates.append(candidate)
        return candidate

    async def leader(self, name: str, **options: Any) -> Candidate:
        """A candidate (options as for `candidate`) started and waited for until it leads."""
        candidate = await self.candidate(name, **options)
        candidate.start()
        await self.until(lambda: candidate.elector.is_leader)
        return candidate

    async def until(self, condition: Callable[[], bool], within: float = 120.0) -> float:
        """Wait on loop time until the condition holds; return the loop time it first held.
        Re-checked on every write and work start/end (so the time is exact), and every 0.5 s
        for anything else; polling finer would cost looptime thousands of idle cycles."""
        deadline = now() + within
        while not condition():
            if now() > deadline:
                raise AssertionError(f"condition not met within {within} s")
            self.store.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self.store.changed.wait()
        return now()

    async def close(self) -> None:
        for candidate in self.candidates:
            if candidate.task is not None and not candidate.task.done():
                candidate.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await candidate.task
        for server in self.servers:
            await server.stop()
        for client in self.clients:
            await client.close()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    # The jitter is random; a fixed seed makes a failure reproducible (LEADER_TEST_SEED=n
    # explores others). The assertions hold for any jitter within client-go's bounds.
    random.seed(int(os.environ.get("LEADER_TEST_SEED", "20261128")))
    cluster = Cluster()
    try:
        yield cluster
    finally:
        await cluster.close()


async def idle(seconds: float) -> None:
    await asyncio.sleep(seconds)


def leads(candidate: Candidate) -> Callable[[], bool]:
    return lambda: candidate.elector.is_leader


def sees(observer: Candidate, leader: Candidate) -> Callable[[], bool]:
    return lambda: observer.elector.leader_identity == leader.elector.identity


def leader_gauge() -> float | None:
    return metrics.REGISTRY.get_sample_value("leader_election_master_status", {"name": NAME})


@contextlib.contextmanager
def captured() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


def events(logs: list[MutableMapping[str, Any]]) -> list[str]:
    return [str(entry["event"]) for entry in logs]


# --------------------------------------------------------------------------- acquiring


async def test_creates_an_absent_lease_and_leads(cluster: Cluster) -> None:
    a = await cluster.candidate("a")
    t0 = now()
    a.start()
    led_at = await cluster.until(lambda: a.elector.is_leader)
    assert led_at - t0 < 0.1  # first attempt is immediate (client-go JitterUntil, sliding)
    assert a.worker.running
    assert a.elector.leader_identity == "a"
    assert a.elector.identity == "a"
    assert leader_gauge() == 1
    spec = cluster.store.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == spec["renewTime"]
    assert cluster.store.writes[0].method == "POST"

    await idle(30)  # renews every retry_period, without a GET each time
    renewals = [w for w in cluster.store.writes if w.method == "PUT"]
    assert len(renewals) == pytest.approx(30 / RETRY_PERIOD, abs=1)
    assert a.server.requests.count(("GET", f"{LEASES.format(ns=NS)}/{NAME}")) == 1
    assert cluster.store.spec()["acquireTime"] == spec["acquireTime"]
    assert len(a.worker.starts) == 1
    assert a.worker.ends == []

    await a.stop()
    assert leader_gauge() == 0
    assert not a.elector.is_leader


async def test_takes_a_released_lease_at_once(cluster: Cluster) -> None:
    cluster.store.put_spec(holderIdentity="", leaseDurationSeconds=1, leaseTransitions=4)
    a = await cluster.candidate("a")
    t0 = now()
    a.start()
    assert await cluster.until(lambda: a.elector.is_leader) - t0 < 0.1
    assert cluster.store.spec()["leaseTransitions"] == 5


async def test_follower_never_takes_a_live_lease(cluster: Cluster) -> None:
    cluster.store.renew_as("other")
    a = await cluster.candidate("a")
    a.start()

    async def other_renews() -> None:
        while True:
            await asyncio.sleep(RETRY_PERIOD)
            cluster.store.renew_as("other")

    renewer = asyncio.create_task(other_renews())
    try:
        for _ in range(60):  # four lease durations
            await asyncio.sleep(1)
            assert not a.elector.is_leader
        assert a.worker.starts == []
        assert a.elector.leader_identity == "other"
        assert [w.holder for w in cluster.store.writes] == ["other"] * len(cluster.store.writes)
    finally:
        renewer.cancel()


@pytest.mark.parametrize(
    "renew_time",
    [
        "2000-01-01T00:00:00.000000Z",  # looks long expired: must still wait a full duration
        "2999-01-01T00:00:00.000000Z",  # looks valid for centuries: must not wait for ever
    ],
)
async def test_takes_an_expired_lease_after_a_full_duration_of_its_own_clock(
    cluster: Cluster, renew_time: str
) -> None:
    cluster.store.put_spec(holderIdentity="other", leaseDurationSeconds=15, renewTime=renew_time)
    a = await cluster.candidate("a")
    t0 = now()
    with captured() as logs:
        a.start()
        led_at = await cluster.until(lambda: a.elector.is_leader)
    assert t0 + LEASE_DURATION <= led_at <= t0 + LEASE_DURATION + MAX_RETRY_WAIT + 0.1
    assert cluster.store.spec()["holderIdentity"] == "a"
    assert "lease expired; taking over" in events(logs)


async def test_a_holder_of_an_absurd_duration_is_taken_over_and_reported(
    cluster: Cluster,
) -> None:
    """leaseDurationSeconds 2147483647 from a holder that then stops: taken over once the
    lease has not changed for 4 lease durations of our clock, counted and logged once."""
    cluster.store.put_spec(holderIdentity="thief", leaseDurationSeconds=2147483647)
    a = await cluster.candidate("a")
    counted = overlong_count()
    t0 = now()
    with captured() as logs:
        a.start()
        led_at = await cluster.until(lambda: a.elector.is_leader)
    longest = LEASE_DURATION * limits.LEASE_HOLDER_DURATION_FACTOR
    assert t0 + longest <= led_at <= t0 + longest + MAX_RETRY_WAIT + 0.1
    assert cluster.store.spec()["holderIdentity"] == "a"
    assert (
        events(logs).count(
            "lease holder declares a longer duration than is honoured; taking over once the "
            "lease has not changed for the honoured duration"
        )
        == 1
    )
    assert overlong_count() == counted + 1


def overlong_count() -> float:
    found = metrics.REGISTRY.get_sample_value(
        "nodecount_scaler_lease_overlong_total", {"name": "nodecount-scaler"}
    )
    return found or 0.0


async def test_takes_over_only_a_full_duration_after_the_last_renewal(cluster: Cluster) -> None:
    cluster.store.renew_as("other")
    a = await cluster.candidate("a")
    a.start()
    for _ in range(10):  # the holder renews for 20 s, then dies
        await asyncio.sleep(RETRY_PERIOD)
        cluster.store.renew_as("other")
    last_renewal = now()
    led_at = await cluster.until(lambda: a.elector.is_leader)
    assert last_renewal + LEASE_DURATION <= led_at
    assert led_at <= last_renewal + LEASE_DURATION + 2 * MAX_RETRY_WAIT
    assert cluster.store.spec()["leaseTransitions"] == 1


# --------------------------------------------------------------------------- losing the lease


@pytest.mark.parametrize(
    "fault", [Fault.HANG, Fault.ERROR, Fault.REFUSE, Fault.GARBAGE], ids=lambda f: f.value
)
async def test_failed_renewals_stop_the_work_before_the_renew_deadline(
    cluster: Cluster, fault: Fault
) -> None:
    a = await cluster.leader("a")
    await idle(5.3)
    with captured() as logs:
        await a.server.set_fault(fault)
        await cluster.until(lambda: not a.worker.running, within=RENEW_DEADLINE + 1)
        await cluster.until(lambda: leader_gauge() == 0, within=0.1)  # set once the work ended
    last_renewal = cluster.store.last_write_by("a").at  # the request started no later
    [cancelled_at] = a.worker.cancels
    # client-go renew(): give up once renewDeadline has passed since the last renewal.
    assert last_renewal + RENEW_DEADLINE - RETRY_PERIOD <= cancelled_at
    assert cancelled_at <= last_renewal + RENEW_DEADLINE + 1e-6
    assert a.worker.leader_at_cancel == [False]
    assert not a.elector.is_leader
    assert leader_gauge() == 0
    assert "lost leadership" in events(logs)
    assert next(e for e in logs if e["event"] == "lost leadership")["reason"] == (
        "renew deadline exceeded"
    )
    assert a.alive  # run() survives

    # The lease still names us, so we take it back as soon as the API answers again.
    await a.server.set_fault(Fault.NONE)
    back_at = await cluster.until(lambda: a.elector.is_leader, within=2 * MAX_RETRY_WAIT + 1)
    assert back_at < last_renewal + LEASE_DURATION + 2 * MAX_RETRY_WAIT
    assert len(a.worker.starts) == 2
    assert cluster.store.spec()["leaseTransitions"] == 0  # same holder: not a transition


async def test_a_stalled_clock_turns_is_leader_false_at_once(cluster: Cluster) -> None:
    stall = [0.0]
    loop = asyncio.get_running_loop()
    a = await cluster.leader("a", clock=lambda: loop.time() + stall[0])
    # As if the event loop had been blocked (e.g. by a huge decode) for a whole deadline:
    # the property must not wait for the loop to notice.
    stall[0] = RENEW_DEADLINE
    assert not a.elector.is_leader
    await cluster.until(lambda: len(a.worker.cancels) == 1, within=RETRY_PERIOD)
    assert a.worker.leader_at_cancel == [False]
    # The lease still names us and nobody else took it: we lead again after retry_period.
    await cluster.until(lambda: len(a.worker.starts) == 2, within=MAX_RETRY_WAIT + 1)


async def test_lease_taken_by_another_stops_the_work_at_the_next_renewal(
    cluster: Cluster,
) -> None:
    a = await cluster.leader("a")
    await idle(3)
    taken_at = now()
    cluster.store.renew_as("usurper")
    with captured() as logs:
        await cluster.until(lambda: "lost leadership" in events(logs))
    stopped_at = a.worker.ends[0]
    assert stopped_at - taken_at <= RETRY_PERIOD + 0.1  # not the whole renew deadline
    assert a.worker.leader_at_cancel == [False]
    assert a.elector.leader_identity == "usurper"
    lost = next(e for e in logs if e["event"] == "lost leadership")
    assert lost["reason"] == "lease taken by another holder"
    assert lost["holder"] == "usurper"


async def test_unrelated_update_conflict_keeps_leadership(cluster: Cluster) -> None:
    a = await cluster.leader("a")
    await idle(1)
    # kubectl label: resourceVersion moves, holder stays. The cached PUT gets 409.
    lease = cluster.store.get()
    assert lease is not None
    lease = copy.deepcopy(lease)
    lease["metadata"]["labels"] = {"team": "platform"}
    cluster.store.store("PUT", NS, NAME, lease)
    with captured() as logs:
        await idle(10)
    assert a.worker.cancels == []
    assert a.elector.is_leader
    stored = cluster.store.get()
    assert stored is not None
    assert stored["metadata"]["labels"] == {"team": "platform"}
    assert stored["spec"]["holderIdentity"] == "a"
    assert "lost leadership" not in events(logs)


# --------------------------------------------------------------------------- two candidates


async def test_two_electors_never_lead_at_once(cluster: Cluster) -> None:
    a = await cluster.candidate("a")
    b = await cluster.candidate("b")
    violations: list[float] = []

    async def watch_invariant() -> None:
        # Checked at every write and every work start/end (when leadership can change), and
        # every 0.25 s in between (when is_leader can lapse by the clock alone).
        while True:
            if a.elector.is_leader and b.elector.is_leader:
                violations.append(now())
            if a.worker.running and b.worker.running:
                violations.append(now())
            cluster.store.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await cluster.store.changed.wait()

    watcher = asyncio.create_task(watch_invariant())
    try:
        a.start()
        b.start()
        await cluster.until(lambda: a.elector.is_leader or b.elector.is_leader)
        leaders = []
        for fault in [Fault.HANG, Fault.ERROR, Fault.REFUSE, Fault.GARBAGE, Fault.HANG]:
            leader, follower = (a, b) if a.elector.is_leader else (b, a)
            leaders.append(leader.elector.identity)
            await idle(7)  # the follower has seen the lease renewed
            await leader.server.set_fault(fault)
            await cluster.until(leads(follower), LEASE_DURATION + 10)
            await leader.server.set_fault(Fault.NONE)
            # The old leader, reachable again, sees the new one and stays a follower.
            await cluster.until(sees(leader, follower), within=3 * MAX_RETRY_WAIT)
            await idle(5)
            assert follower.elector.is_leader
        assert leaders in (["a", "b", "a", "b", "a"], ["b", "a", "b", "a", "b"])
    finally:
        watcher.cancel()
    assert violations == []
    terms = sorted(
        (start, end)
        for c in (a, b)
        for start, end in zip(c.worker.starts, [*c.worker.ends, math.inf], strict=False)
    )
    for (_, end), (start, _) in itertools.pairwise(terms):
        assert end < start  # strictly one term after the other
    assert cluster.store.spec()["leaseTransitions"] == 5


async def test_cancel_releases_the_lease_and_a_waiting_candidate_takes_over(
    cluster: Cluster,
) -> None:
    a = await cluster.candidate("a", cleanup=0.5)  # the work needs time to unwind
    b = await cluster.candidate("b")
    a.start()
    await cluster.until(lambda: a.elector.is_leader)
    b.start()
    await idle(5)
    assert b.elector.leader_identity == "a"
    cancelled_at = now()
    with captured() as logs:
        await a.stop()  # run() re-raises CancelledError
    b_led_at = await cluster.until(lambda: b.elector.is_leader)

    release = next(w for w in cluster.store.writes if w.holder == "")
    assert release.spec["leaseDurationSeconds"] == 1
    assert cancelled_at + 0.5 <= release.at <= cancelled_at + 0.6
    journal = cluster.store.journal
    assert journal.index(("work-end", "a")) < journal.index(("write", ""))  # work first
    assert b_led_at - release.at <= MAX_RETRY_WAIT + 0.1  # not a lease duration
    assert events(logs)[-2:] == ["lost leadership", "lease released"]
    assert cluster.store.spec()["holderIdentity"] == "b"


async def test_cancel_releases_the_lease_after_an_unseen_write_of_it(cluster: Cluster) -> None:
    """A write this elector never saw the answer of (a renewal the shutdown cut short; here a
    label, as kubectl would write) moved the resourceVersion, the holder is still us: the
    release PUT gets 409, reads the lease again and releases it rather than leave it to
    expire (the compatibility tier caught the handover waiting a lease duration)."""
    a = await cluster.leader("a")
    await idle(1)
    lease = cluster.store.get()
    assert lease is not None
    lease = copy.deepcopy(lease)
    lease["metadata"]["labels"] = {"written": "unseen"}
    cluster.store.store("PUT", NS, NAME, lease)
    with captured() as logs:
        await a.stop()
    stored = cluster.store.get()
    assert stored is not None
    assert stored["spec"]["holderIdentity"] == ""
    assert stored["metadata"]["labels"] == {"written": "unseen"}
    assert events(logs)[-2:] == ["lost leadership", "lease released"]


async def test_cancel_does_not_release_a_lease_another_took(cluster: Cluster) -> None:
    """The 409 of the release stands when the lease, read again, has another holder."""
    a = await cluster.leader("a")
    await idle(1)
    cluster.store.renew_as("usurper")
    with captured() as logs:
        await a.stop()
    assert cluster.store.spec()["holderIdentity"] == "usurper"
    assert "lease changed since our last write; not releasing" in events(logs)


async def test_cancel_while_following_writes_nothing(cluster: Cluster) -> None:
    cluster.store.renew_as("other")
    a = await cluster.candidate("a")
    a.start()
    await idle(5)
    writes = len(cluster.store.writes)
    await a.stop()
    assert len(cluster.store.writes) == writes


async def test_cancel_with_a_hung_api_server_gives_up_releasing_quickly(
    cluster: Cluster,
) -> None:
    a = await cluster.leader("a")
    await a.server.set_fault(Fault.HANG)
    cancelled_at = now()
    await a.stop()
    assert now() - cancelled_at <= RELEASE_TIMEOUT + 0.01
    assert a.worker.ends == [cancelled_at]


async def test_cancelled_twice_while_the_work_unwinds_leaves_the_lease_to_expire(
    cluster: Cluster,
) -> None:
    a = await cluster.candidate("a", cleanup=3.0)
    a.start()
    await cluster.until(leads(a))
    assert a.task is not None
    with captured() as logs:
        a.task.cancel()
        await idle(1)
        assert a.worker.running  # still unwinding
        await a.stop()  # the second cancel
    # Releasing now would let a successor start beside the still-running work.
    assert [w.holder for w in cluster.store.writes if w.holder == ""] == []
    assert "leader work still running; leaving the lease to expire" in events(logs)
    await cluster.until(lambda: not a.worker.running)


async def test_an_error_raised_while_the_work_stops_is_logged(cluster: Cluster) -> None:
    a = await cluster.candidate("a", fail_on_cancel=True)
    a.start()
    await cluster.until(leads(a))
    with captured() as logs:
        await a.stop()
    entry = next(e for e in logs if e["event"] == "leader work failed while stopping")
    assert isinstance(entry["exc_info"], ValueError)
    assert cluster.store.spec()["holderIdentity"] == ""  # released after it ended


# --------------------------------------------------------------------------- the work's own end


@pytest.mark.parametrize(
    ("fails", "event"),
    [(True, "leader work failed; stepping down"), (False, "leader work returned; stepping down")],
    ids=["raises", "returns"],
)
async def test_work_ending_on_its_own_steps_down_and_competes_again(
    cluster: Cluster, fails: bool, event: str
) -> None:
    with captured() as logs:
        a = await cluster.candidate("a", fail_first=fails, return_first=not fails)
        a.start()
        await cluster.until(lambda: len(a.worker.starts) == 2)
    first_end, second_start = a.worker.ends[0], a.worker.starts[1]
    assert second_start >= first_end + RETRY_PERIOD
    assert second_start <= first_end + RETRY_PERIOD + 0.1  # the lease is free: no lease wait
    assert a.elector.is_leader
    assert [w.holder for w in cluster.store.writes if w.method == "PUT"][:2] == ["", "a"]
    entry = next(e for e in logs if e["event"] == event)
    if fails:
        assert entry["log_level"] == "error"
        assert isinstance(entry["exc_info"], RuntimeError)
    assert "lease released" in events(logs)
    assert cluster.store.spec()["leaseTransitions"] == 1


# --------------------------------------------------------------------------- conflicts, errors


async def test_losing_the_create_race_makes_a_follower(cluster: Cluster) -> None:
    def intruder_creates() -> None:
        cluster.store.renew_as("intruder")

    cluster.store.before_write = intruder_creates
    a = await cluster.candidate("a")
    with captured() as logs:
        a.start()
        await cluster.until(lambda: a.elector.leader_identity == "intruder")
    assert not a.elector.is_leader
    assert "lease created by another candidate (409); will re-read" in events(logs)
    assert a.alive


async def test_conflicting_takeover_restarts_the_countdown(cluster: Cluster) -> None:
    cluster.store.renew_as("other")
    a = await cluster.candidate("a")
    a.start()
    await idle(LEASE_DURATION - 1)

    # Just as we try to take the expired lease, the holder comes back and renews.
    renewed_at: list[float] = []

    def holder_renews() -> None:
        cluster.store.renew_as("other")
        renewed_at.append(now())

    cluster.store.before_write = holder_renews
    with captured() as logs:
        led_at = await cluster.until(lambda: a.elector.is_leader)
    assert "lease changed under us (409); will re-read" in events(logs)
    assert led_at >= renewed_at[0] + LEASE_DURATION


@pytest.mark.parametrize(
    ("fault", "event"),
    [
        (Fault.ERROR, "lease request failed"),
        (Fault.FORBIDDEN, "lease request forbidden; needs get, create, update on leases"),
        (Fault.GARBAGE, "lease request failed"),
        (Fault.HANG, "lease request failed"),
        (Fault.REFUSE, "lease request failed"),
    ],
    ids=["error", "forbidden", "garbage", "hang", "refuse"],
)
async def test_api_faults_never_end_run(cluster: Cluster, fault: Fault, event: str) -> None:
    a = await cluster.candidate("a")
    await a.server.set_fault(fault)
    with captured() as logs:
        a.start()
        await idle(40)
    assert a.alive
    assert not a.elector.is_leader
    assert event in events(logs)
    await a.server.set_fault(Fault.NONE)
    await cluster.until(lambda: a.elector.is_leader, within=MAX_RETRY_WAIT + 5)


async def test_hung_request_is_bounded_by_the_request_timeout(cluster: Cluster) -> None:
    a = await cluster.candidate("a")
    await a.server.set_fault(Fault.HANG)
    with captured() as logs:
        t0 = now()
        a.start()
        await cluster.until(lambda: "lease request failed" in events(logs))
    # min(retry_period * 2, renew_deadline / 2) = 4 s
    assert now() - t0 == pytest.approx(4.0, abs=0.05)


async def test_invalid_config_is_rejected(cluster: Cluster) -> None:
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:1"
    async with KubeClient(configuration) as client:
        bad = LeaderElectionConfig(NS, NAME, "a", lease_duration=10, renew_deadline=10)
        with pytest.raises(ValueError, match="lease_duration"):
            LeaderElector(client, bad)


async def test_run_twice_is_rejected(cluster: Cluster) -> None:
    a = await cluster.candidate("a")
    a.start()
    await idle(1)

    async def noop() -> None:
        pass

    run: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]] = a.elector.run
    with pytest.raises(RuntimeError, match="already running"):
        await run(noop)
