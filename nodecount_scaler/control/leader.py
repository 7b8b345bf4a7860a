"""Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package.

Why not `kubernetes_asyncio.leaderelection` (python-client.md): a crash of the leader's work
goes unnoticed while the lease keeps renewing; a connection error escapes `run()` without
cancelling the work (two leaders at once); no per-request timeouts; no release on shutdown;
the wall clock decides expiry.

Safety rests on two clocks that never meet. The leader measures its renew deadline on its own
monotonic clock from the *start* of its last successful renewal; a follower measures
expiry on *its* monotonic clock from the moment it *observed* the record change (client-go
observedTime). Remote timestamps are written for humans and other clients, never compared
with local time. Because lease_duration > renew_deadline, and every follower observes a
renewal after its request started, the leader's work is stopped before any follower may
take the lease, whatever the skew between the machines' wall clocks.

The decisions (is the lease expired, may I take it, what do I write) are pure functions
below; `LeaderElector` is the asyncio shell around them.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

import structlog

from nodecount_scaler import metrics
from nodecount_scaler.kube.client import ApiError, JsonObject, KubeClient

log = structlog.get_logger(__name__)

DEFAULT_LEASE_NAME: Final = "nodecount-scaler"
LEASES_API: Final = "/apis/coordination.k8s.io/v1"
# client-go leaderelection.JitterFactor: acquire retries wait retry_period * [1, 1 + 1.2).
JITTER_FACTOR: Final = 1.2
# Releasing on shutdown must fit well inside terminationGracePeriodSeconds (30 s default).
RELEASE_TIMEOUT: Final = 2.0
# asyncio runs a timer up to one clock resolution early, so a wait computed as "deadline - now"
# can come back with the deadline still a hair away and spin. Anything this close counts as
# reached; for the renew deadline that means stopping a millisecond early, the safe side.
SLACK: Final = 1e-3


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    namespace: str
    name: str  # lease name; the service passes DEFAULT_LEASE_NAME unless told otherwise
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def validate(self) -> None:
        """client-go NewLeaderElector's checks. Written as `not (a > b)` so NaN fails too."""
        if not self.namespace:
            raise ValueError("leader election: namespace must not be empty")
        if not self.name:
            raise ValueError("leader election: lease name must not be empty")
        if not self.identity:
            raise ValueError("leader election: identity must not be empty")
        if not (self.retry_period > 0):
            raise ValueError(f"leader election: retry_period ({self.retry_period}) must be > 0")
        if not (self.renew_deadline > self.retry_period * JITTER_FACTOR):
            raise ValueError(
                f"leader election: renew_deadline ({self.renew_deadline}) must be greater than "
                f"retry_period * {JITTER_FACTOR} ({self.retry_period * JITTER_FACTOR:g})"
            )
        if not (self.lease_duration > self.renew_deadline):
            raise ValueError(
                f"leader election: lease_duration ({self.lease_duration}) must be greater than "
                f"renew_deadline ({self.renew_deadline}), or a follower could take the lease "
                "while the leader still works"
            )
        if not math.isfinite(self.lease_duration):
            raise ValueError(
                f"leader election: lease_duration ({self.lease_duration}) must be finite"
            )


def default_identity() -> str:
    """POD_NAME (Downward API) or the hostname, plus a random suffix as client-go's callers do
    (hostname + "_" + uuid), so two processes on one host never share an identity."""
    base = os.environ.get("POD_NAME", "").strip() or socket.gethostname()
    return f"{base}_{secrets.token_hex(3)}"


def request_timeout(config: LeaderElectionConfig) -> float:
    """Per-call timeout: several attempts fit into one renew deadline."""
    return min(config.retry_period * 2, config.renew_deadline / 2)


def jittered(period: float, rand: Callable[[], float] = random.random) -> float:
    """client-go wait.Jitter(period, JitterFactor): candidates spread out instead of stampeding."""
    return period + rand() * JITTER_FACTOR * period


def lease_seconds(duration: float) -> int:
    """spec.leaseDurationSeconds is an int32; round up so others never wait less than we do."""
    return max(1, math.ceil(duration))


def format_micro_time(moment: datetime) -> str:
    """metav1.MicroTime as the API server writes it: RFC 3339, microseconds, UTC, 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- pure decisions


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The parts of a Lease that election reads, parsed leniently (any field may be absent)."""

    holder_identity: str = ""
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0
    resource_version: str = ""

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        metadata = lease.get("metadata")
        spec = lease.get("spec")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        spec = spec if isinstance(spec, Mapping) else {}
        return cls(
            holder_identity=_str_or_none(spec.get("holderIdentity")) or "",
            lease_duration_seconds=_int_or_none(spec.get("leaseDurationSeconds")),
            acquire_time=_str_or_none(spec.get("acquireTime")),
            renew_time=_str_or_none(spec.get("renewTime")),
            lease_transitions=_int_or_none(spec.get("leaseTransitions")) or 0,
            resource_version=_str_or_none(metadata.get("resourceVersion")) or "",
        )

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What must change for a follower to count the holder as alive."""
        return (self.holder_identity, self.renew_time, self.resource_version)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Observation:
    """A record and the time on OUR monotonic clock when it was first seen (client-go
    observedTime)."""

    record: LeaseRecord
    observed_at: float


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Restart the expiry countdown only when the record changed: an unchanged record means
    the holder has not renewed since we last looked."""
    if previous is not None and previous.record.key == record.key:
        return Observation(record, previous.observed_at)
    return Observation(record, now)


def expiry_duration(record: LeaseRecord, default: float) -> float:
    """client-go isLeaseValid uses the holder's declared leaseDurationSeconds (the promise the
    holder made); ours only when the record carries none."""
    declared = record.lease_duration_seconds
    return float(declared) if declared is not None and declared > 0 else default


def lease_expired(observation: Observation, now: float, default_duration: float) -> bool:
    duration = expiry_duration(observation.record, default_duration)
    return now >= observation.observed_at + duration


class Verdict(Enum):
    FREE = "free"  # no holder (released): take at once
    OURS = "ours"  # we hold it: renew
    EXPIRED = "expired"  # unchanged for a whole lease duration of our clock: take over
    HELD = "held"  # another live holder: wait


def judge(observation: Observation, identity: str, now: float, default_duration: float) -> Verdict:
    """client-go tryAcquireOrRenew: 'if holder set and lease valid and holder is not me: fail'."""
    holder = observation.record.holder_identity
    if not holder:
        return Verdict.FREE
    if holder == identity:
        return Verdict.OURS
    if lease_expired(observation, now, default_duration):
        return Verdict.EXPIRED
    return Verdict.HELD


def claim_spec(
    current: LeaseRecord | None, identity: str, duration_seconds: int, now: datetime
) -> dict[str, Any]:
    """The spec we write to create, take over or renew. Like client-go: keep acquireTime and
    leaseTransitions on renewal, count a transition when the holder changes, start at 0 on
    create."""
    stamp = format_micro_time(now)
    if current is None:
        acquired, transitions = stamp, 0
    elif current.holder_identity == identity:
        acquired, transitions = current.acquire_time or stamp, current.lease_transitions
    else:
        acquired, transitions = stamp, current.lease_transitions + 1
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_seconds,
        "acquireTime": acquired,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


def release_spec(current: LeaseRecord, now: datetime) -> dict[str, Any]:
    """client-go release() (ReleaseOnCancel): empty holder so any candidate takes it at once,
    and leaseDurationSeconds=1 for clients that only look at expiry."""
    stamp = format_micro_time(now)
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": current.lease_transitions,
    }


def new_lease(namespace: str, name: str, spec: Mapping[str, Any]) -> JsonObject:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def updated_lease(lease: Mapping[str, Any], spec: Mapping[str, Any]) -> JsonObject:
    """The object to PUT: as read (metadata.resourceVersion makes the write conditional, so a
    concurrent writer gets 409), with our fields over any other spec fields (e.g. strategy)."""
    old_spec = lease.get("spec")
    merged = {**(old_spec if isinstance(old_spec, Mapping) else {}), **spec}
    return {**lease, "spec": merged}


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


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class LeaderElector:
    """Run `leader_work` only while this process holds the Lease."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config.validate()
        self._client = client
        self._config = config
        self._clock = clock
        self._path = f"{LEASES_API}/namespaces/{config.namespace}/leases/{config.name}"
        self._collection = f"{LEASES_API}/namespaces/{config.namespace}/leases"
        self._timeout = request_timeout(config)
        self._duration_seconds = lease_seconds(config.lease_duration)
        self._observation: Observation | None = None
        # The Lease object as we last wrote or read it while we were its holder: the base for
        # renewing without a GET and for releasing. None when someone else holds it.
        self._lease: JsonObject | None = None
        self._leading = False
        self._renewed_at = -math.inf
        self._work: asyncio.Task[None] | None = None
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
        return self._leading and self._clock() < self._renewed_at + self._config.renew_deadline

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
        work = asyncio.create_task(_call(leader_work), name=f"leader-work:{self._config.name}")
        self._work = work
        end = TermEnd.SHUTDOWN
        try:
            end = await self._hold(work)
        finally:
            # Whatever ended the term, the work is cancelled and awaited before anything else
            # (client-go cancels the leader's context before OnStoppedLeading). _leading drops
            # in the same step, without an await, so is_leader is False while the work unwinds.
            self._leading = False
            work.cancel()
            try:
                await asyncio.wait({work})
            finally:
                metrics.LEADER.labels(self._config.name).set(0)
                self._log.info("lost leadership", reason=end.value, holder=self.leader_identity)
                if work.done() and not work.cancelled() and end is not TermEnd.WORK_FAILED:
                    self._reap(work)
        return end

    def _reap(self, work: asyncio.Task[None]) -> None:
        """Retrieve (and log) an error the work raised while being stopped, so asyncio does not
        report it as never retrieved."""
        exc = work.exception()
        if exc is not None:
            self._log.error("leader work failed while stopping", exc_info=exc)

    async def _hold(self, work: asyncio.Task[None]) -> TermEnd:
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

    def _work_ended(self, work: asyncio.Task[None]) -> TermEnd:
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
        verdict = judge(self._observation, identity, self._clock(), self._config.lease_duration)
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

    def _saw(self, record: LeaseRecord, lease: JsonObject) -> None:
        previous = self._observation
        self._observation = observe(previous, record, self._clock())
        holder = record.holder_identity
        self._lease = lease if holder == self._config.identity else None
        if previous is None or previous.record.holder_identity != holder:
            if holder and holder != self._config.identity:
                self._log.info("leader observed", holder=holder)
            elif not holder:
                self._log.info("lease is free")

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
        if self._work is not None and not self._work.done():
            # run() was cancelled again while the work was unwinding. Handing the lease over
            # now could make two leaders; let it expire instead.
            self._log.warning("leader work still running; leaving the lease to expire")
            return
        spec = release_spec(LeaseRecord.from_lease(lease), _utc_now())
        try:
            async with asyncio.timeout(budget):
                written = await self._put(updated_lease(lease, spec), budget)
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


async def _call(leader_work: Callable[[], Awaitable[None]]) -> None:
    await leader_work()
