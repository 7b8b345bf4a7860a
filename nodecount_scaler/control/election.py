"""Leader election on a coordination.k8s.io/v1 Lease: the asyncio shell.

The decisions (is the lease expired, may I take it, what do I write) are pure functions in
`model/lease.py`; `LeaderElector` reads and writes the Lease around them, after client-go's
leaderelection package. Why not `kubernetes_asyncio.leaderelection`: a crash of the
leader's work goes unnoticed while the lease keeps renewing; a connection error escapes
`run()` without cancelling the work (two leaders at once); no per-request timeouts; no
release on shutdown; the wall clock decides expiry.

What is NOT guaranteed: cancelling the leader's work cannot recall a request already on the
wire. A scale PATCH sent a moment before the renew deadline may land after it, and so
after a follower has taken over; it is one write of a correct value computed from the same
cluster state, and the new leader's reconcile corrects it if the state has moved on.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Protocol

import structlog

from nodecount_scaler import metrics
from nodecount_scaler.kube.client import ApiError, JsonObject, KubeClient
from nodecount_scaler.model.lease import (
    LeaderElectionConfig,
    LeaseRecord,
    Observation,
    Verdict,
    claim_spec,
    jittered,
    judge,
    lease_seconds,
    longest_honoured,
    new_lease,
    observe,
    overlong,
    release_spec,
    request_timeout,
    updated_lease,
)

log = structlog.get_logger(__name__)

LEASES_API: Final = "/apis/coordination.k8s.io/v1"
SERVICE_ACCOUNT_NAMESPACE: Final = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# Releasing on shutdown must fit well inside terminationGracePeriodSeconds (30 s default).
RELEASE_TIMEOUT: Final = 2.0
# asyncio runs a timer up to one clock resolution early, so a wait computed as "deadline - now"
# can come back with the deadline still a hair away and spin. Anything this close counts as
# reached; for the renew deadline that means stopping a millisecond early, the safe side.
SLACK: Final = 1e-3


def default_identity() -> str:
    """POD_NAME (Downward API) or the hostname, plus a random suffix as client-go's callers do
    (hostname + "_" + uuid), so two processes on one host never share an identity."""
    base = os.environ.get("POD_NAME", "").strip() or socket.gethostname()
    return f"{base}_{secrets.token_hex(3)}"


def default_lease_namespace() -> str:
    """The pod's namespace (POD_NAMESPACE from the Downward API, else the service account's
    namespace file), or "default" outside a cluster."""
    if namespace := os.environ.get("POD_NAMESPACE", "").strip():
        return namespace
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- async shell


class Outcome(Enum):
    LEADING = "leading"  # our write succeeded: we hold the lease
    HELD = "held"  # another live holder
    CONFLICT = "conflict"  # 409: someone wrote between our read and write
    FAILED = "failed"  # no answer, error status, bad body, timeout


class TermEnd(Enum):
    """Why a term as leader ended."""

    DEADLINE = "renew deadline exceeded"
    TAKEN = "lease taken by another holder"
    WORK_RETURNED = "leader work returned"
    WORK_FAILED = "leader work failed"
    WORK_CANCELLED = "leader work cancelled"
    SHUTDOWN = "shutting down"

    @property
    def voluntary(self) -> bool:
        """We still hold the lease and should hand it over (release) before competing again."""
        return self in (TermEnd.WORK_RETURNED, TermEnd.WORK_FAILED, TermEnd.WORK_CANCELLED)


def released(lease: JsonObject) -> JsonObject:
    """The lease handed over: no holder, a one-second duration (client-go's release)."""
    return updated_lease(lease, release_spec(LeaseRecord.from_lease(lease), _utc_now()))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class WorkHandle(Protocol):
    """The leader's work as the elector sees it: a future in the elector's own loop that
    settles as the work does, and a way to ask the work to stop."""

    @property
    def finished(self) -> asyncio.Future[None]: ...

    def cancel(self) -> None: ...


Work = Callable[[], Awaitable[None]]
Spawn = Callable[[Work], WorkHandle]


async def _call(leader_work: Work) -> None:
    await leader_work()


class LocalWork:
    """The work as a task on the elector's own loop."""

    def __init__(self, work: Work) -> None:
        self._task = asyncio.create_task(_call(work), name="leader-work")

    @property
    def finished(self) -> asyncio.Future[None]:
        return self._task

    def cancel(self) -> None:
        self._task.cancel()


class LeaderElector:
    """Run `leader_work` only while this process holds the Lease."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn | None = None,
    ) -> None:
        config.validate()
        self._client = client
        self._spawn: Spawn = spawn or LocalWork
        self._config = config
        self._clock = clock
        self._path = f"{LEASES_API}/namespaces/{config.namespace}/leases/{config.name}"
        self._collection = f"{LEASES_API}/namespaces/{config.namespace}/leases"
        self._timeout = request_timeout(config)
        self._duration_seconds = lease_seconds(config.lease_duration)
        self._longest = longest_honoured(config)
        self._observation: Observation | None = None
        # The Lease object as we last wrote or read it while we were its holder: the base for
        # renewing without a GET and for releasing. None when someone else holds it.
        self._lease: JsonObject | None = None
        self._leading = False
        self._renewed_at = -math.inf
        self._work: WorkHandle | None = None
        self._running = False
        self._log = log.bind(lease=f"{config.namespace}/{config.name}", identity=config.identity)
        metrics.LEADER.labels(config.name).set(0)

    @property
    def identity(self) -> str:
        return self._config.identity

    @property
    def leader_identity(self) -> str | None:
        if self._observation is None:
            return None
        return self._observation.record.holder_identity or None

    @property
    def is_leader(self) -> bool:
        # Re-checked against the clock on every call: if the event loop stalls past the renew
        # deadline, this turns False before the loop gets round to cancelling the work.
        return self.term_left() > 0

    def term_left(self) -> float:
        """Seconds until the renew deadline of the current term; 0 when not leading. Plain
        reads of two attributes: callable from any thread."""
        if not self._leading:
            return 0.0
        return self._renewed_at + self._config.renew_deadline - self._clock()

    async def run(self, leader_work: Callable[[], Awaitable[None]]) -> None:
        if self._running:
            raise RuntimeError("LeaderElector.run() is already running")
        self._running = True
        try:
            while True:
                await self._acquire()
                end = await self._lead(leader_work)
                if end.voluntary:
                    # Voluntary step-down: hand over at once, compete again a bit later.
                    await self._release(self._timeout)
                    await asyncio.sleep(self._config.retry_period)
        except asyncio.CancelledError:
            # _lead has already stopped the work (its finally). client-go ReleaseOnCancel.
            await self._release(min(self._timeout, RELEASE_TIMEOUT))
            raise
        finally:
            self._running = False

    # -- phases

    async def _acquire(self) -> None:
        """client-go acquire(): try at once, then every retry_period with jitter."""
        while True:
            started = self._clock()
            outcome = await self._attempt(self._timeout, "acquire")
            if outcome is Outcome.LEADING:
                self._renewed_at = started
                if self._clock() < started + self._config.renew_deadline:
                    return
            await asyncio.sleep(jittered(self._config.retry_period))

    async def _lead(self, leader_work: Callable[[], Awaitable[None]]) -> TermEnd:
        """Hold the lease while the work runs; return why the term ended."""
        self._leading = True
        metrics.LEADER.labels(self._config.name).set(1)
        self._log.info("became leader", renew_deadline=self._config.renew_deadline)
        handle = self._spawn(leader_work)
        self._work = handle
        work = handle.finished
        end = TermEnd.SHUTDOWN
        try:
            end = await self._hold(work)
        finally:
            # Whatever ended the term, the work is cancelled and awaited before anything else
            # (client-go cancels the leader's context before OnStoppedLeading). _leading drops
            # in the same step, without an await, so is_leader is False while the work unwinds.
            self._leading = False
            handle.cancel()
            try:
                await asyncio.wait({work})
            finally:
                metrics.LEADER.labels(self._config.name).set(0)
                self._log.info("lost leadership", reason=end.value, holder=self.leader_identity)
                if work.done() and not work.cancelled() and end is not TermEnd.WORK_FAILED:
                    self._reap(work)
        return end

    def _reap(self, work: asyncio.Future[None]) -> None:
        """Retrieve (and log) an error the work raised while being stopped, so asyncio does not
        report it as never retrieved."""
        exc = work.exception()
        if exc is not None:
            self._log.error("leader work failed while stopping", exc_info=exc)

    async def _hold(self, work: asyncio.Future[None]) -> TermEnd:
        """client-go renew(): renew every retry_period; give up when renew_deadline has passed
        since the start of the last successful renewal. Returns the reason the term ends."""
        cfg = self._config
        next_renew = self._renewed_at + cfg.retry_period
        while True:
            if work.done():
                return self._work_ended(work)
            now = self._clock()
            deadline = self._renewed_at + cfg.renew_deadline
            if now >= deadline - SLACK:
                self._log.warning("renew deadline exceeded", renew_deadline=cfg.renew_deadline)
                return TermEnd.DEADLINE
            wait = min(next_renew, deadline) - now
            if wait > SLACK:
                await asyncio.wait({work}, timeout=wait)
                continue
            started = now
            # Bounded by the deadline itself, so a hung request cannot outlive the term.
            outcome = await self._attempt(min(self._timeout, deadline - started), "renew")
            if outcome is Outcome.LEADING:
                self._renewed_at = started
            elif outcome is Outcome.HELD:
                return TermEnd.TAKEN
            next_renew = started + cfg.retry_period

    def _work_ended(self, work: asyncio.Future[None]) -> TermEnd:
        if work.cancelled():
            self._log.warning("leader work was cancelled from elsewhere; stepping down")
            return TermEnd.WORK_CANCELLED
        exc = work.exception()
        if exc is not None:
            self._log.error("leader work failed; stepping down", exc_info=exc)
            return TermEnd.WORK_FAILED
        self._log.warning("leader work returned; stepping down")
        return TermEnd.WORK_RETURNED

    # -- one try

    async def _attempt(self, budget: float, phase: str) -> Outcome:
        """One tryAcquireOrRenew. Never raises except CancelledError: run() must outlive any
        network or API fault."""
        try:
            # The client's aiohttp timeout covers each HTTP exchange; this one also covers
            # credential refresh inside call_api and the GET+PUT pair as a whole.
            async with asyncio.timeout(max(budget, 0.0)):
                return await self._try_acquire_or_renew(budget)
        except Exception as exc:  # noqa: BLE001 - logged and retried; run() must not die
            if isinstance(exc, ApiError) and exc.forbidden:
                verb = {"GET": "get", "POST": "create", "PUT": "update"}.get(exc.method, "")
                self._log.error(
                    "lease request forbidden; needs get, create, update on leases",
                    phase=phase,
                    error=_describe(exc),
                    hint=f"the service account needs {verb} on leases",
                )
            else:
                self._log.warning("lease request failed", phase=phase, error=_describe(exc))
            return Outcome.FAILED

    async def _try_acquire_or_renew(self, budget: float) -> Outcome:
        identity = self._config.identity
        if self._leading and self._lease is not None:
            # client-go fast path: the leader updates its cached Lease without a GET; only a
            # 409 (someone else wrote it) sends us back to read.
            ours = LeaseRecord.from_lease(self._lease)
            spec = claim_spec(ours, identity, self._duration_seconds, _utc_now())
            try:
                written = await self._put(updated_lease(self._lease, spec), budget)
            except ApiError as exc:
                if exc.status != 409:
                    raise
            else:
                self._wrote(written)
                return Outcome.LEADING
        try:
            lease = await self._client.request("GET", self._path, timeout=budget)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return await self._create(budget)
        record = LeaseRecord.from_lease(lease)
        self._saw(record, lease)
        assert self._observation is not None
        verdict = judge(
            self._observation,
            identity,
            self._clock(),
            self._config.lease_duration,
            self._longest,
        )
        if verdict is Verdict.HELD:
            return Outcome.HELD
        if verdict is Verdict.EXPIRED:
            self._log.info("lease expired; taking over", previous_holder=record.holder_identity)
        spec = claim_spec(record, identity, self._duration_seconds, _utc_now())
        try:
            written = await self._put(updated_lease(lease, spec), budget)
        except ApiError as exc:
            if exc.status == 409:
                self._log.info("lease changed under us (409); will re-read")
                return Outcome.CONFLICT
            raise
        self._wrote(written)
        return Outcome.LEADING

    async def _create(self, budget: float) -> Outcome:
        spec = claim_spec(None, self._config.identity, self._duration_seconds, _utc_now())
        body = new_lease(self._config.namespace, self._config.name, spec)
        try:
            written = await self._client.request(
                "POST", self._collection, body=body, timeout=budget
            )
        except ApiError as exc:
            if exc.status == 409:
                self._log.info("lease created by another candidate (409); will re-read")
                return Outcome.CONFLICT
            raise
        self._log.info("lease created")
        self._wrote(written)
        return Outcome.LEADING

    async def _put(self, lease: JsonObject, budget: float) -> JsonObject:
        return await self._client.request("PUT", self._path, body=lease, timeout=budget)

    async def _put_released(self, lease: JsonObject, budget: float) -> JsonObject:
        """PUT the released lease. On 409, read it again and release it as read if it is
        still ours: a renewal the shutdown cut short can land after our record of our last
        write, and the lease would be left to expire for nothing (client-go's release, too,
        reads before it writes). Held by another, the 409 stands."""
        try:
            return await self._put(released(lease), budget)
        except ApiError as exc:
            if exc.status != 409:
                raise
            current = await self._client.request("GET", self._path, timeout=budget)
            if LeaseRecord.from_lease(current).holder_identity != self._config.identity:
                raise
        return await self._put(released(current), budget)

    def _saw(self, record: LeaseRecord, lease: JsonObject) -> None:
        previous = self._observation
        self._observation = observe(previous, record, self._clock())
        holder = record.holder_identity
        self._lease = lease if holder == self._config.identity else None
        if holder and overlong(record, self._longest):
            self._report_overlong(record, previous)
        if previous is None or previous.record.holder_identity != holder:
            if holder and holder != self._config.identity:
                self._log.info("leader observed", holder=holder)
            elif not holder:
                self._log.info("lease is free")

    def _report_overlong(self, record: LeaseRecord, previous: Observation | None) -> None:
        """A holder declares more than is honoured: counted for every record of it seen,
        logged when it first appears (a new holder or a new duration)."""
        if previous is not None and previous.record.key == record.key:
            return
        metrics.LEASE_OVERLONG.labels(self._config.name).inc()
        before = previous.record if previous is not None else None
        if before is None or (before.holder_identity, before.lease_duration_seconds) != (
            record.holder_identity,
            record.lease_duration_seconds,
        ):
            self._log.warning(
                "lease holder declares a longer duration than is honoured; taking over once "
                "the lease has not changed for the honoured duration",
                holder=record.holder_identity,
                declared=record.lease_duration_seconds,
                honoured=self._longest,
                hint="no instance of nodecount-scaler declares this: the Lease was written "
                "with another client, maybe with the service's own token",
            )

    def _wrote(self, lease: JsonObject) -> None:
        record = LeaseRecord.from_lease(lease)
        self._observation = observe(self._observation, record, self._clock())
        # Without a resourceVersion the cached copy cannot make a conditional write.
        mine = record.holder_identity == self._config.identity and record.resource_version
        self._lease = lease if mine else None

    async def _release(self, budget: float) -> None:
        """Hand the lease over if it is still ours. The PUT carries the resourceVersion of our
        last write, so it cannot clobber a lease someone else has taken meanwhile."""
        lease = self._lease
        if lease is None:
            return
        if self._work is not None and not self._work.finished.done():
            # run() was cancelled again while the work was unwinding. Handing the lease over
            # now could make two leaders; let it expire instead.
            self._log.warning("leader work still running; leaving the lease to expire")
            return
        try:
            async with asyncio.timeout(budget):
                written = await self._put_released(lease, budget)
        except ApiError as exc:
            if exc.status == 409:
                self._log.info("lease changed since our last write; not releasing")
            else:
                self._log.warning("lease release failed", error=_describe(exc))
        except Exception as exc:  # noqa: BLE001 - best effort: the lease expires anyway
            self._log.warning("lease release failed", error=_describe(exc))
        else:
            self._lease = None
            self._observation = observe(
                self._observation, LeaseRecord.from_lease(written), self._clock()
            )
            self._log.info("lease released")
