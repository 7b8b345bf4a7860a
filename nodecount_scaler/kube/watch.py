"""List+watch over raw JSON: the reflector that keeps a sink in step with one resource.

The protocol (API concepts, "Efficient detection of changes"): a paged consistent LIST
gives the state and a resourceVersion; a WATCH from that version streams ADDED / MODIFIED /
DELETED events, BOOKMARKs that only advance the version, and ERROR events. 410 Gone means
the version is older than the server keeps: the only way on is a fresh LIST. A stream may
end at any time (server timeoutSeconds, load balancers, truncated chunks): reconnect from
the last version seen, after a jittered backoff on errors.

Only projected views leave this module; the decoded JSON of an object is dropped as soon
as it is projected.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

import aiohttp
import orjson
import structlog

from nodecount_scaler import metrics
from nodecount_scaler.kube.client import ApiError, KubeClient, Query
from nodecount_scaler.model.objects import ProjectionError

log = structlog.get_logger(__name__)

# A watch that ends sooner than this without a single event is treated as a failure (backed
# off), not as the normal timeoutSeconds close: client-go's "very short watch" rule. Without
# it a proxy that answers 200 and closes at once turns run() into a busy reconnect loop.
MIN_WATCH_SECONDS = 1.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Sink(Protocol[K, V]):
    """Receives the resource's state; `replace` after every (re)list, then single events."""

    def replace(self, items: dict[K, V]) -> None: ...
    def upsert(self, key: K, view: V) -> None: ...
    def delete(self, key: K) -> None: ...


@dataclass(frozen=True, slots=True)
class Projection(Generic[K, V]):
    """How a resource's JSON objects become keys and views. Both answer a ProjectionError
    for a value that is not an object of the resource's kind; `view` returns None for an
    object the service does not track (a Deployment that has not opted in)."""

    key: Callable[[object], K | ProjectionError]
    view: Callable[[object], V | ProjectionError | None]


# Watch event types of the protocol; anything else is counted and ignored.
EVENT_TYPES: Final = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})


class Rejections:
    """Counts objects and events that are not what the resource should deliver, and logs
    each kind of problem once per resource: a broken proxy repeating the same fault must
    not turn into a log line per event."""

    __slots__ = ("_logged", "resource")

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self._logged: set[str] = set()

    def reject(self, reason: str, detail: str) -> None:
        metrics.REJECTED_OBJECTS.labels(self.resource, reason).inc()
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning(
                "skipped malformed object",
                resource=self.resource,
                reason=reason,
                detail=detail[:200],
                note="logged once per reason; nodecount_scaler_rejected_objects_total counts all",
            )


class ExpiredError(Exception):
    """410 Gone: the resourceVersion is too old; the caller must relist."""


class StreamError(Exception):
    """The watch stream broke (truncated chunk, undecodable line, ERROR event)."""


@dataclass(frozen=True, slots=True)
class ListPage(Generic[K, V]):
    items: dict[K, V]
    resource_version: str
    continue_token: str
    skipped: int


def project(
    projection: Projection[K, V], obj: object, *, with_view: bool
) -> tuple[K, V | None] | ProjectionError:
    """The object's key and (unless only the key is wanted) its view: None for an object
    the service does not track, a ProjectionError for one that is not of the resource."""
    try:
        key = projection.key(obj)
        if isinstance(key, ProjectionError):
            return key
        view = projection.view(obj) if with_view else None
    except Exception as exc:  # noqa: BLE001 - a projection bug must not stop the watch
        return ProjectionError("projection-failed", repr(exc))
    if isinstance(view, ProjectionError):
        return view
    return key, view


def decode_list_page(
    raw: bytes, projection: Projection[K, V], rejections: Rejections
) -> ListPage[K, V]:
    """Decode one LIST response page into views. Objects that fail to project are skipped
    (and counted) rather than failing the whole list: one bad object must not stop the
    service from serving every other one. A body that is not a list at all (a proxy's
    error page) raises StreamError."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StreamError(f"undecodable list response: {raw[:120]!r}") from exc
    if not isinstance(body, dict):
        raise StreamError(f"not a list response: {raw[:120]!r}")
    meta = body.get("metadata") or {}
    objects = body.get("items") or []
    if not isinstance(meta, dict) or not isinstance(objects, list):
        raise StreamError(f"not a list response: {raw[:120]!r}")
    items: dict[K, V] = {}
    skipped = 0
    for obj in objects:
        projected = project(projection, obj, with_view=True)
        if isinstance(projected, ProjectionError):
            rejections.reject(projected.reason, projected.detail)
            skipped += 1
        elif projected[1] is not None:
            items[projected[0]] = projected[1]
    return ListPage(
        items, str(meta.get("resourceVersion", "")), str(meta.get("continue", "")), skipped
    )


class LineBuffer:
    """Splits a chunked byte stream into newline-terminated lines (one watch event each).

    aiohttp's readline() refuses lines above 128 KiB, and a Node or Deployment can be
    larger, so lines are assembled here without a length limit.
    """

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            self._parts.append(chunk)
            return []
        first = b"".join((*self._parts, lines[0])) if self._parts else lines[0]
        self._parts = [lines[-1]] if lines[-1] else []
        return [line for line in (first, *lines[1:-1]) if line.strip()]

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished line: at end of stream this means a truncated event."""
        return any(p.strip() for p in self._parts)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        meta = self.object.get("metadata")
        return str(meta.get("resourceVersion", "")) if isinstance(meta, dict) else ""


def parse_watch_line(line: bytes) -> WatchEvent:
    """Decode one watch line; ERROR events become exceptions (410 -> ExpiredError)."""
    try:
        event = orjson.loads(line)
        kind = event["type"]
        obj = event["object"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise StreamError(f"undecodable watch line: {line[:120]!r}") from exc
    if not isinstance(obj, dict):
        raise StreamError(f"watch event without an object: {line[:120]!r}")
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise ExpiredError(str(obj.get("message", "resource version expired")))
        raise StreamError(f"ERROR event: {obj}")
    return WatchEvent(kind, obj)


@dataclass(slots=True)
class Backoff:
    """Full-jitter exponential backoff (AWS architecture blog; client-go uses a similar one)."""

    initial: float = 0.2
    cap: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        delay = random.uniform(0, min(self.cap, self.initial * 2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Reflector(Generic[K, V]):
    """Keeps a Sink equal to the server's state of one resource collection."""

    def __init__(
        self,
        client: KubeClient,
        name: str,
        path: str,
        projection: Projection[K, V],
        sink: Sink[K, V],
        *,
        query: Query = (),
        page_size: int = 500,
        watch_timeout: float = 300.0,
        inactivity_timeout: float = 120.0,
        list_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.name = name
        self.path = path
        self.projection = projection
        self.sink = sink
        # Sent with every list and watch (a labelSelector narrows the collection).
        self.query = tuple(query)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.inactivity_timeout = inactivity_timeout
        self.list_timeout = list_timeout
        self.connect_timeout = connect_timeout
        self._clock = clock
        self.resource_version = ""
        # Set after the first complete list; stays set (the cache stays usable).
        self.synced = asyncio.Event()
        # True while the last list or watch attempt succeeded: feeds /readyz.
        self.connected = False
        # Monotonic time of the last sign of life of this loop (data, list, connect attempt):
        # feeds /healthz; a hung loop stops moving it.
        self.last_progress = clock()
        self._backoff = Backoff()
        self._rejections = Rejections(name)

    @property
    def max_silence(self) -> float:
        """The longest a healthy loop can go without a sign of life: a silent stream's read
        timeout, a connect attempt and the longest backoff, with a margin for each."""
        return self.inactivity_timeout + self.connect_timeout + self._backoff.cap + 10.0

    def _progress(self) -> None:
        self.last_progress = self._clock()

    async def run(self) -> None:
        need_list = True
        list_reason = "initial"
        while True:
            try:
                if need_list:
                    await self._list(list_reason)
                    need_list = False
                started = self._clock()
                events = await self._watch()
                metrics.WATCH_RESTARTS.labels(self.name, "closed").inc()
                if events or self._clock() - started >= MIN_WATCH_SECONDS:
                    # The server closed the stream normally (timeoutSeconds): resume at once.
                    self._backoff.reset()
                    continue
                log.warning("watch closed at once without events", resource=self.name)
                self._progress()
                await asyncio.sleep(self._backoff.next_delay())
                continue
            except ExpiredError as exc:
                # 410 Gone is for resource version too old: restart from a fresh list.
                log.info("watch expired, relisting", resource=self.name, detail=str(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "expired").inc()
                need_list, list_reason = True, "expired"
                continue
            except ApiError as exc:
                reason = "forbidden" if exc.forbidden else f"http_{exc.status}"
                level = log.error if exc.forbidden else log.warning
                level(
                    "list/watch failed",
                    resource=self.name,
                    error=str(exc),
                    hint=(
                        f"the service account needs list and watch on {self.name.partition('/')[0]}"
                        if exc.forbidden
                        else None
                    ),
                )
                metrics.WATCH_RESTARTS.labels(self.name, reason).inc()
            except StreamError as exc:
                log.warning("watch stream error, relisting", resource=self.name, error=str(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "stream_error").inc()
                need_list, list_reason = True, "error"
            except (TimeoutError, OSError) as exc:
                log.warning("watch connection lost", resource=self.name, error=repr(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "connection").inc()
            self.connected = False
            self._progress()
            await asyncio.sleep(self._backoff.next_delay())

    async def list_once(self) -> None:
        """One full list into the sink, without watching (the `plan` command)."""
        await self._list("initial")

    async def _list(self, reason: str) -> None:
        metrics.WATCH_RELISTS.labels(self.name, reason).inc()
        items: dict[K, V] = {}
        token = ""
        skipped = 0
        while True:
            query = [*self.query, ("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            try:
                raw = await self.client.get_bytes(self.path, query=query, timeout=self.list_timeout)
            except ApiError as exc:
                if exc.status == 410 and token:
                    # The continue token outlived the compaction window: start over.
                    items, token, skipped = {}, "", 0
                    continue
                raise
            page = decode_list_page(raw, self.projection, self._rejections)
            del raw
            items.update(page.items)
            skipped += page.skipped
            self._progress()
            if not page.continue_token:
                self.resource_version = page.resource_version
                break
            token = page.continue_token
        if skipped:
            log.warning("skipped malformed objects", resource=self.name, count=skipped)
        self.sink.replace(items)
        self.connected = True
        self._backoff.reset()
        self.synced.set()
        log.info(
            "listed", resource=self.name, count=len(items), resource_version=self.resource_version
        )

    async def _watch(self) -> int:
        """Follow one watch stream until the server ends it; return the events received."""
        query = [
            *self.query,
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", self.resource_version),
            # Jittered so that many watches do not all reconnect at once.
            # At least 1: timeoutSeconds=0 would mean the server's default instead.
            ("timeoutSeconds", str(max(1, int(self.watch_timeout * random.uniform(0.8, 1.0))))),
        ]
        try:
            async with self.client.stream(
                self.path,
                query=query,
                connect_timeout=self.connect_timeout,
                read_timeout=self.inactivity_timeout,
            ) as response:
                self.connected = True
                self._progress()
                buffer = LineBuffer()
                events = 0
                async for chunk in response.content.iter_any():
                    self._progress()
                    for line in buffer.feed(chunk):
                        self._handle(parse_watch_line(line))
                        if not events:
                            # A working stream ends a run of failures: the next one starts
                            # again from the shortest delay.
                            self._backoff.reset()
                        events += 1
                if buffer.pending:
                    # Like a ClientPayloadError below: the events before the cut were
                    # applied, so resume from the last version seen instead of relisting.
                    raise OSError("stream ended inside an event (truncated payload)")
                return events
        except ApiError as exc:
            if exc.status == 410:
                raise ExpiredError(exc.message) from exc
            raise
        except TimeoutError as exc:
            raise TimeoutError(
                f"no data for {self.inactivity_timeout:.0f}s on the {self.name} watch"
            ) from exc
        except aiohttp.ClientError as exc:
            # ClientPayloadError (truncated chunked body) and friends: reconnect from the
            # last version seen; the events before the cut were applied.
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    def _handle(self, event: WatchEvent) -> None:
        if event.type not in EVENT_TYPES:
            self._rejections.reject("event-type", f"watch event type {event.type!r:.40}")
            return
        metrics.WATCH_EVENTS.labels(self.name, event.type).inc()
        rv = event.resource_version
        if event.type == "BOOKMARK":
            # A bookmark's object carries only the version; nothing else changed.
            self.resource_version = rv or self.resource_version
            return
        projected = project(self.projection, event.object, with_view=event.type != "DELETED")
        if isinstance(projected, ProjectionError):
            # Not an object of this resource at all: the previous view (if any) stands.
            self._rejections.reject(projected.reason, projected.detail)
        elif projected[1] is None:
            self.sink.delete(projected[0])
        else:
            self.sink.upsert(projected[0], projected[1])
        self.resource_version = rv or self.resource_version
