"""Kubernetes Events on target Deployments (core/v1, as `kubectl describe` shows them),
correlated the way client-go's recorder does it (EventCorrelator,
https://github.com/kubernetes/client-go/blob/v0.36.3/tools/record/events_cache.go).

- Aggregation: the occurrences of one reason about one target (and, for warnings about
  distinct problems, one series name such as the annotation key) are one Event object, a
  *series*. The first occurrence creates it; later ones raise its `count`, move its
  `lastTimestamp` and replace its `message` with the latest, by a merge PATCH of those
  three fields (client-go's eventObserve patch). `kubectl describe` then shows one line
  "(xN over T)" with the latest message instead of N lines.
- Spam filter: writes about one target are rate limited to one per `write_interval`
  (5 minutes, client-go's spam filter refill rate). Unlike client-go, an occurrence over
  the budget is not dropped: it is counted in memory and written with the next PATCH, when
  the budget allows (a background flusher, `run`). A new series is news and is created at
  once. Sustained churn of one target thus costs one Event write per 5 minutes, while
  every occurrence is still a log line (by the caller) and a metric
  (`nodecount_scaler_events_total`).
- Standing warnings (invalid annotation, template finding, conflicting HPA) are announced
  at most once per `repeat_window` per target, reason and topic.
- Memory is bounded: series, announcements and budgets are LRU maps of at most
  `series_limit` entries (client-go's 4096), messages are cut to EVENT_MESSAGE_LIMIT
  characters (the API server itself takes a core/v1 message of any length) and long topics
  are kept as digests.
- What is written stays inside the shipped Events policy (policies/events.yaml): under the
  field manager nodecount-scaler, a first occurrence no older than the policy admits, and
  a count no larger than it admits for the time the Event spans (`admitted`).
- The API server deletes an Event an hour (--event-ttl) after its last write: a series
  idle for `SERIES_TTL` starts a new Event, and a PATCH answered 404 creates one. So does
  a PATCH answered 403 (a service account with create but not patch on events).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

import structlog

from nodecount_scaler import limits, metrics
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.kinds import BUILTIN
from nodecount_scaler.model.targets import FindingKind, TargetKey

log = structlog.get_logger(__name__)

COMPONENT: Final = "nodecount-scaler"
EventType = Literal["Normal", "Warning"]
# Under the API server's default --event-ttl (1 h), counted from an Event's last write.
SERIES_TTL: Final = 3000.0


class Reason(enum.StrEnum):
    """The reasons of the Events this service writes (besides template findings)."""

    RESCALED = "Rescaled"
    DRIFT_CORRECTED = "DriftCorrected"
    INVALID_ANNOTATION = "InvalidAnnotation"
    INVALID_TEMPLATE = "InvalidTemplate"
    CONFLICTING_AUTOSCALER = "ConflictingAutoscaler"
    SCALE_DOWN_HELD = "ScaleDownHeld"


EventReason = Reason | FindingKind
# Every reason an Event of this service can carry: the README's Events table lists these.
EVENT_REASONS: Final = frozenset(Reason) | frozenset(FindingKind)

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A map that keeps its `limit` most recently used entries."""

    __slots__ = ("_items", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def drop(self, matches: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if matches(k)]:
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)


def short_topic(topic: str) -> str:
    """A topic as a map key: long ones (a template error quoting a value) as a digest."""
    if len(topic) <= limits.EVENT_TOPIC_LIMIT:
        return topic
    return hashlib.blake2b(topic.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


STAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


@functools.lru_cache(maxsize=2)
def stamp_of(second: int) -> str:
    """Seconds since the epoch as an Event timestamp (whole seconds, UTC)."""
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime(STAMP_FORMAT)


def seconds_of(stamp: str) -> int:
    return int(dt.datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=dt.UTC).timestamp())


def admitted(first: str, last: str, count: int, now: float) -> tuple[str, int]:
    """The firstTimestamp and count to write, as the shipped Events policy admits them:
    a first occurrence no earlier than EVENT_BACKDATE_MAX before the server's clock (taken
    as `now` less EVENT_CLOCK_SKEW), and a count of at most EVENT_COUNT_BASE plus
    EVENT_COUNT_PER_SECOND for each second from there to `last`."""
    earliest = int(now) - (limits.EVENT_BACKDATE_MAX - limits.EVENT_CLOCK_SKEW)
    start = max(seconds_of(first), earliest)
    span = max(0, seconds_of(last) - start)
    bound = limits.EVENT_COUNT_BASE + limits.EVENT_COUNT_PER_SECOND * span
    return stamp_of(start), min(count, bound)


SeriesKey = tuple[TargetKey, str, str, str]


@dataclass(slots=True)
class Series:
    """One Event object: its occurrences so far and how many of them the server shows."""

    key: SeriesKey
    uid: str
    type: EventType
    reason: str
    message: str
    first: str
    last: str
    # Monotonic time of the creation, then of the last successful write.
    written_at: float
    count: int = 1
    written: int = 0
    # The first occurrence the server does not show yet.
    unwritten_first: str = ""
    # The Event's name on the server, once created.
    event_name: str | None = None
    in_flight: bool = False

    @property
    def target(self) -> TargetKey:
        return self.key[0]

    @property
    def pending(self) -> bool:
        return self.count > self.written

    def restart(self) -> None:
        """The server lost the Event: the occurrences it did not show begin a new one."""
        self.count -= self.written
        self.written = 0
        self.first = self.unwritten_first or self.first
        self.event_name = None


class EventCorrelator:
    """What to write for each occurrence (no I/O): the series it joins, whether the
    target's write budget lets it out now, and the held series that are due."""

    def __init__(
        self,
        *,
        repeat_window: float = 600.0,
        write_interval: float = limits.EVENT_WRITE_INTERVAL,
        series_limit: int = limits.EVENT_SERIES_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.repeat_window = repeat_window
        self.write_interval = write_interval
        self.clock = clock
        # The wall clock the timestamps are written from.
        self.wall = wall
        self._announced: Lru[tuple[TargetKey, str, str], float] = Lru(series_limit)
        self._series: Lru[SeriesKey, Series] = Lru(series_limit)
        # Target -> when its next write is allowed (the spam filter's budget).
        self._next_write: Lru[TargetKey, float] = Lru(series_limit)
        self._pending: dict[SeriesKey, None] = {}

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Entries held: announcements, series, budgets (each at most series_limit)."""
        return len(self._announced), len(self._series), len(self._next_write)

    def should_announce(self, target: TargetKey, reason: EventReason, topic: str) -> bool:
        """True unless the same (reason, topic) was announced for the target within the
        window."""
        now = self.clock()
        key = (target, str(reason), short_topic(topic))
        last = self._announced.get(key)
        if last is not None and now - last < self.repeat_window:
            return False
        self._announced.put(key, now)
        return True

    def forget(self, target: TargetKey) -> None:
        self._announced.drop(lambda k: k[0] == target)
        self._series.drop(lambda k: k[0] == target)
        self._next_write.drop(lambda k: k == target)
        for key in [k for k in self._pending if k[0] == target]:
            del self._pending[key]

    def observe(
        self, target: TargetKey, uid: str, type_: EventType, reason: str, message: str, name: str
    ) -> Series | None:
        """Record one occurrence; the series to write now, or None when it is held (it
        is then pending: `due` hands it out once the target's budget allows)."""
        now, stamp = self.clock(), stamp_of(int(self.wall()))
        message = message[: limits.EVENT_MESSAGE_LIMIT]
        key = (target, type_, reason, short_topic(name))
        found = self._series.get(key)
        if found is None or found.uid != uid or now - found.written_at >= SERIES_TTL:
            fresh = Series(key, uid, type_, reason, message, stamp, stamp, now)
            self._series.put(key, fresh)
            self._pending.pop(key, None)
            self._spend(target, now)
            return fresh
        if not found.pending:
            found.unwritten_first = stamp
        found.count += 1
        found.message, found.last = message, stamp
        if not found.in_flight and self._may_write(target, now):
            self._spend(target, now)
            return found
        self._pending[key] = None
        return None

    def _may_write(self, target: TargetKey, now: float) -> bool:
        allowed = self._next_write.peek(target)
        return allowed is None or now >= allowed

    def _spend(self, target: TargetKey, now: float) -> None:
        self._next_write.put(target, now + self.write_interval)

    def next_due(self) -> float | None:
        """When the earliest pending series may be written (None: nothing pending)."""
        times = [
            self._next_write.peek(key[0]) or 0.0
            for key in self._pending
            if self._series.peek(key) is not None
        ]
        return min(times, default=None)

    def due(self, *, everything: bool = False) -> list[Series]:
        """The pending series whose target's budget allows a write now (all of them with
        `everything`); their budgets are spent."""
        now = self.clock()
        found = []
        for key in list(self._pending):
            series = self._series.peek(key)
            if series is None or not series.pending:
                del self._pending[key]
                continue
            if series.in_flight or not (everything or self._may_write(key[0], now)):
                continue
            del self._pending[key]
            self._spend(key[0], now)
            found.append(series)
        return found

    def still_pending(self, series: Series) -> None:
        """A write left occurrences unshown (it failed, or more came meanwhile)."""
        if series.pending and self._series.peek(series.key) is series:
            self._pending[series.key] = None


class EventRecorder:
    """Writes the Events the correlator lets out (see the module docstring)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        instance: str,
        dry_run: bool,
        clock: Callable[[], float] = time.monotonic,
        correlator: EventCorrelator | None = None,
    ) -> None:
        self.client = client
        self.instance = instance
        self.dry_run = dry_run
        self.correlator = correlator or EventCorrelator(clock=clock)
        self._wake = asyncio.Event()
        self._no_patch_reported = False
        # Kind -> apiVersion of the involved object; custom workloads are added at start-up.
        self.api_versions: dict[str, str] = {w.kind: w.api_version for w in BUILTIN}

    def should_emit(self, target: TargetKey, reason: EventReason, topic: str) -> bool:
        return self.correlator.should_announce(target, reason, topic)

    def forget(self, target: TargetKey) -> None:
        self.correlator.forget(target)

    async def warn_once(
        self,
        target: TargetKey,
        uid: str,
        reason: EventReason,
        message: str,
        *,
        topic: str = "",
        series: str = "",
    ) -> bool:
        """Emit a Warning unless one with the same reason and topic went out within the
        window.

        The topic tells apart distinct problems of one reason (two invalid annotations); it
        leaves out counts that change, so a standing condition is not re-announced at every
        node change. `series` names the Event object the warning joins (by default one per
        target and reason)."""
        if not self.should_emit(target, reason, topic):
            return False
        await self.emit(target, uid, "Warning", reason, message, series=series)
        return True

    async def emit(
        self,
        target: TargetKey,
        uid: str,
        type_: EventType,
        reason: EventReason,
        message: str,
        *,
        series: str = "",
    ) -> None:
        """Record one occurrence: written at once when it starts a series or the target's
        budget allows, else counted and written by the flusher later."""
        if self.dry_run:
            log.info("would emit event", event_type=type_, reason=reason, message=message)
            return
        metrics.EVENTS_EMITTED.labels(type_, reason).inc()
        held = self.correlator.pending_count
        due = self.correlator.observe(target, uid, type_, str(reason), message, series)
        if due is None:
            if self.correlator.pending_count != held:
                # A series newly held: the flusher may have to wake sooner.
                self._wake.set()
            return
        await self._write(due)
        self.correlator.still_pending(due)

    async def _write(self, series: Series) -> None:
        """Create the series' Event or PATCH its count, time and message; a failure is
        logged and the occurrences stay pending for the next write."""
        series.in_flight = True
        count, last, message = series.count, series.last, series.message
        try:
            if series.event_name is not None:
                try:
                    shown = admitted(series.first, last, count, self.correlator.wall())[1]
                    await self._patch(series.target, series.event_name, shown, last, message)
                except ApiError as exc:
                    if exc.status != 404 and not exc.forbidden:
                        raise
                    # Expired on the server (--event-ttl), or no patch permission: what
                    # it did not show yet starts a new Event.
                    self._report_no_patch(exc)
                    series.restart()
                    count = series.count
            if series.event_name is None:
                # A first occurrence held longer than the policy admits begins the Event at
                # the earliest time it admits; the patches keep that firstTimestamp.
                series.first, shown = admitted(series.first, last, count, self.correlator.wall())
                series.event_name = await self._create(series, shown, last, message)
        except ApiError as exc:
            # An Event is a report, not the job: log and go on.
            verb = "patch" if series.event_name is not None else "create"
            log.error(
                "could not emit event",
                reason=series.reason,
                error=str(exc),
                hint=f"the service account needs {verb} on events" if exc.forbidden else None,
            )
            return
        finally:
            series.in_flight = False
        series.written, series.written_at = count, self.correlator.clock()

    def _report_no_patch(self, exc: ApiError) -> None:
        if exc.forbidden and not self._no_patch_reported:
            self._no_patch_reported = True
            log.warning(
                "cannot patch events; repeats create new Events instead (still at most one "
                "write per target per interval)",
                error=str(exc),
                hint="the service account needs patch on events",
            )

    async def _create(self, series: Series, count: int, last: str, message: str) -> str | None:
        target = series.target
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{target.name}.", "namespace": target.namespace},
            "involvedObject": {
                "apiVersion": self.api_versions.get(target.kind, "apps/v1"),
                "kind": target.kind,
                "namespace": target.namespace,
                "name": target.name,
                "uid": series.uid,
            },
            "type": series.type,
            "reason": series.reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": series.first,
            "lastTimestamp": last,
            "count": count,
        }
        created = await self.client.request(
            "POST",
            resources.events_path(target.namespace),
            query=[("fieldManager", COMPONENT)],
            body=body,
            timeout=5.0,
        )
        metadata = created.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        return name if isinstance(name, str) and name else None

    async def _patch(
        self, target: TargetKey, name: str, count: int, last: str, message: str
    ) -> None:
        await self.client.merge_patch(
            f"{resources.events_path(target.namespace)}/{name}",
            {"count": count, "lastTimestamp": last, "message": message},
            field_manager=COMPONENT,
            timeout=5.0,
        )

    async def flush_due(self, *, everything: bool = False) -> int:
        """Write the held series whose target's budget allows it (all of them with
        `everything`, at shutdown); return how many writes were made."""
        due = self.correlator.due(everything=everything)
        for series in due:
            await self._write(series)
            self.correlator.still_pending(series)
        return len(due)

    async def run(self) -> None:
        """Write held series as their budgets allow, until cancelled (the leader's)."""
        while True:
            due = self.correlator.next_due()
            self._wake.clear()
            timeout = None if due is None else max(0.0, due - self.correlator.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await self.flush_due()
