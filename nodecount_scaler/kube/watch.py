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
import msgspec
import orjson
import structlog

from nodecount_scaler import limits, metrics
from nodecount_scaler.kube import wire
from nodecount_scaler.kube.client import ApiError, KubeClient, Query
from nodecount_scaler.model.objects import ProjectionError

log = structlog.get_logger(__name__)

# A watch that ends sooner than this without a single event is treated as a failure (backed
# off), not as the normal timeoutSeconds close: client-go's "very short watch" rule. Without
# it a proxy that answers 200 and closes at once turns run() into a busy reconnect loop.
MIN_WATCH_SECONDS = 1.0

# A failure after a stream was open this long starts the backoff afresh (client-go's
# reflector resets its backoff after 2 minutes of a healthy ListAndWatch).
BACKOFF_RESET_AFTER = 120.0

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
    # An object whose JSON is longer than this is never decoded whole: `oversized` gets its
    # skeleton (kube/wire.py) and its size in bytes, and answers its view. None: no bound.
    max_object_bytes: int | None = None
    oversized: Callable[[object, int], V | ProjectionError | None] | None = None
    # Decoders that build only what `view` reads (kube/wire.py): of one listed object, and
    # of a watch line into (type, object). None: the whole object (orjson).
    item_decoder: Callable[[msgspec.Raw], object] | None = None
    event_decoder: Callable[[bytes], tuple[object, object]] | None = None


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


class RelistRequested(Exception):
    """Someone asked for a fresh list (the scale-down guard's confirmation)."""


class StreamError(Exception):
    """The watch stream broke (truncated chunk, undecodable line, ERROR event)."""


class LimitError(StreamError):
    """A list or watch event past a bound of limits.py; already counted and logged."""


def over_limit(limit: str, resource: str, detail: str) -> LimitError:
    metrics.LIMIT_EXCEEDED.labels(limit).inc()
    log.error(
        "over a size limit; dropped, will relist", limit=limit, resource=resource, detail=detail
    )
    return LimitError(f"{limit}: {detail}")


class ContinueExpired(Exception):
    """410 Gone on a continue token: the paged list outlived the server's compaction window."""


@dataclass(frozen=True, slots=True)
class ListPage(Generic[K, V]):
    items: dict[K, V]
    resource_version: str
    continue_token: str
    skipped: int
    # Objects in the page, tracked or not: what the list's item bound counts.
    count: int = 0


def project(
    projection: Projection[K, V], obj: object, *, with_view: bool, size: int = 0
) -> tuple[K, V | None] | ProjectionError:
    """The object's key and (unless only the key is wanted) its view: None for an object
    the service does not track, a ProjectionError for one that is not of the resource.
    `size`: the object is a skeleton of an object of that many bytes, past the bound."""
    try:
        key = projection.key(obj)
        if isinstance(key, ProjectionError):
            return key
        view: V | ProjectionError | None = None
        if with_view:
            oversized = projection.oversized
            view = projection.view(obj) if not size or oversized is None else oversized(obj, size)
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
    error page) raises StreamError. With a bound on objects, the page is split first and
    each object decoded alone (an object past the bound: its skeleton)."""
    if projection.max_object_bytes is not None or projection.item_decoder is not None:
        return _decode_split_page(raw, projection, rejections)
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
        items,
        str(meta.get("resourceVersion", "")),
        str(meta.get("continue", "")),
        skipped,
        len(objects),
    )


def _decode_split_page(
    raw: bytes, projection: Projection[K, V], rejections: Rejections
) -> ListPage[K, V]:
    try:
        version, token, objects = wire.split_list(raw)
    except wire.WireError as exc:
        raise StreamError(f"not a list response: {raw[:120]!r}") from exc
    items: dict[K, V] = {}
    skipped = 0
    for item in objects:
        try:
            obj, size = _decoded(item, projection.max_object_bytes, projection.item_decoder)
        except (orjson.JSONDecodeError, wire.WireError) as exc:
            raise StreamError(f"undecodable list item: {exc}") from exc
        projected = project(projection, obj, with_view=True, size=size)
        if isinstance(projected, ProjectionError):
            rejections.reject(projected.reason, projected.detail)
            skipped += 1
        elif projected[1] is not None:
            items[projected[0]] = projected[1]
    return ListPage(items, version, token, skipped, len(objects))


def _decoded(
    raw: msgspec.Raw, bound: int | None, decoder: Callable[[msgspec.Raw], object] | None = None
) -> tuple[object, int]:
    """The object (whole, or as `decoder` builds it), with size 0; or past `bound`, its
    skeleton and its size."""
    size = len(raw)
    if bound is not None and size > bound:
        return wire.skeleton(raw), size
    if decoder is not None:
        return decoder(raw), 0
    return orjson.loads(memoryview(raw)), 0


class LineBuffer:
    """Splits a chunked byte stream into newline-terminated lines (one watch event each).

    aiohttp's readline() refuses lines above 128 KiB, and a Node or Deployment can be
    larger, so lines are assembled here, up to `max_bytes` each: a longer line (a server
    that never ends one) raises LineTooLong instead of growing the buffer without end.
    """

    __slots__ = ("_parts", "_size", "max_bytes")

    def __init__(self, max_bytes: int = limits.MAX_WATCH_EVENT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            self._parts.append(chunk)
            self._size += len(chunk)
            self._check(self._size)
            return []
        first = b"".join((*self._parts, lines[0])) if self._parts else lines[0]
        self._parts = [lines[-1]] if lines[-1] else []
        self._size = len(lines[-1])
        complete = [line for line in (first, *lines[1:-1]) if line.strip()]
        self._check(max(self._size, *map(len, complete)) if complete else self._size)
        return complete

    def _check(self, size: int) -> None:
        if size > self.max_bytes:
            self._parts.clear()
            self._size = 0
            raise LineTooLong(size, self.max_bytes)

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished line."""
        return self._size

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished line: at end of stream this means a truncated event."""
        return any(p.strip() for p in self._parts)


class LineTooLong(Exception):
    """A watch line past LineBuffer.max_bytes; the buffer was emptied."""

    def __init__(self, size: int, bound: int) -> None:
        super().__init__(f"a watch event of over {size} bytes (bound {bound})")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    object: dict[str, Any]
    # Not 0: `object` is the skeleton of an object of this many bytes (past the bound).
    size: int = 0

    @property
    def resource_version(self) -> str:
        meta = self.object.get("metadata")
        return str(meta.get("resourceVersion", "")) if isinstance(meta, dict) else ""


def parse_watch_line(
    line: bytes,
    max_object_bytes: int | None = None,
    decoder: Callable[[bytes], tuple[object, object]] | None = None,
) -> WatchEvent:
    """Decode one watch line; ERROR events become exceptions (410 -> ExpiredError). A line
    longer than `max_object_bytes` is split first, and its object decoded whole only if
    it is within the bound (else: its skeleton); `decoder` decodes the line instead."""
    size = 0
    kind: Any
    obj: Any
    try:
        if decoder is not None:
            kind, obj = decoder(line)
        elif max_object_bytes is not None and len(line) > max_object_bytes:
            kind, raw = wire.split_event(line)
            obj, size = _decoded(raw, max_object_bytes)
        else:
            event = orjson.loads(line)
            kind = event["type"]
            obj = event["object"]
    except (orjson.JSONDecodeError, wire.WireError, KeyError, TypeError) as exc:
        raise StreamError(f"undecodable watch line: {line[:120]!r}") from exc
    if not isinstance(obj, dict):
        raise StreamError(f"watch event without an object: {line[:120]!r}")
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise ExpiredError(str(obj.get("message", "resource version expired")))
        raise StreamError(f"ERROR event: {obj}")
    return WatchEvent(kind, obj, size)


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


# The reasons a watch is re-opened that every running reflector exports from the start (an
# unexpected HTTP status adds "http_<code>" when it happens).
RESTART_REASONS: Final = ("closed", "expired", "limit", "stream_error", "connection", "forbidden")


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
        page_size: int = limits.LIST_PAGE_SIZE,
        watch_timeout: float = limits.WATCH_MIN_TIMEOUT,
        inactivity_timeout: float = 120.0,
        list_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_list_items: int = limits.MAX_LIST_ITEMS,
        max_list_pages: int = limits.MAX_LIST_PAGES,
        max_event_bytes: int = limits.MAX_WATCH_EVENT_BYTES,
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
        # Each watch asks the server to end it after [watch_timeout, 2 x watch_timeout).
        self.watch_timeout = watch_timeout
        # Silence past that deadline after which the stream counts as stalled.
        self.inactivity_timeout = inactivity_timeout
        self.list_timeout = list_timeout
        self.connect_timeout = connect_timeout
        self.max_list_items = max_list_items
        self.max_list_pages = max_list_pages
        self.max_event_bytes = max_event_bytes
        self._clock = clock
        self.resource_version = ""
        # A server time (Unix seconds) no later than the snapshot of the list last applied:
        # every object created before it was in that list (None: no list, or no Date).
        self.listed_from: float | None = None
        self._first_page_served: float | None = None
        # Set after the first complete list; stays set (the cache stays usable).
        self.synced = asyncio.Event()
        # True while the last list or watch attempt succeeded: feeds /readyz.
        self.connected = False
        # Monotonic time of the last sign of life of this loop (data, list, connect attempt):
        # feeds /healthz; a hung loop stops moving it.
        self.last_progress = clock()
        self._backoff = Backoff()
        self._rejections = Rejections(name)
        self._relist_requested = asyncio.Event()
        # Lists started, and the number of the last one applied: fresh_list() waits for one
        # that started after it asked.
        self._lists_started = 0
        self._last_applied = 0
        self._list_applied = asyncio.Condition()
        # 410s on watches with no event between them: the second and later are backed off.
        self._expired_in_a_row = 0

    @property
    def max_silence(self) -> float:
        """The longest a healthy loop can go without a sign of life: a quiet stream until
        its latest deadline and the inactivity timeout past it, a connect attempt and the
        longest backoff, with a margin."""
        longest_watch = 2 * self.watch_timeout + self.inactivity_timeout
        return longest_watch + self.connect_timeout + self._backoff.cap + 10.0

    def _progress(self) -> None:
        self.last_progress = self._clock()

    async def run(self, *, listed: bool = False) -> None:
        """List and watch until cancelled; `listed`: the sink already holds a list_once()
        of this reflector, so start by watching from its version."""
        # Exported at 0 from the start, so a rate of restarts reads 0, not "no data".
        for reason in RESTART_REASONS:
            metrics.WATCH_RESTARTS.labels(self.name, reason)
        need_list = not listed
        list_reason = "initial"
        while True:
            delay = 0.0
            started = self._clock()
            try:
                if need_list:
                    await self._list(list_reason)
                    need_list = False
                started = self._clock()
                events = await self._watch_until_relist()
                metrics.WATCH_RESTARTS.labels(self.name, "closed").inc()
                if events or self._clock() - started >= MIN_WATCH_SECONDS:
                    # The server ended the stream at its deadline: resume at once.
                    log.debug("watch closed by the server", resource=self.name, events=events)
                    self._backoff.reset()
                    continue
                log.warning("watch closed at once without events", resource=self.name)
                self._progress()
                await asyncio.sleep(self._backoff.next_delay())
                continue
            except RelistRequested:
                need_list, list_reason = True, "requested"
                continue
            except ExpiredError as exc:
                # 410 Gone is for resource version too old: restart from a fresh list; at
                # once the first time, backed off when it keeps happening.
                log.info("watch expired, relisting", resource=self.name, detail=str(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "expired").inc()
                need_list, list_reason = True, "expired"
                self._expired_in_a_row += 1
                if self._expired_in_a_row == 1:
                    continue
                delay = self._backoff.next_delay()
            except ApiError as exc:
                delay = self._api_failure(exc)
            except LimitError:
                metrics.WATCH_RESTARTS.labels(self.name, "limit").inc()
                need_list, list_reason = True, "error"
            except StreamError as exc:
                log.warning("watch stream error, relisting", resource=self.name, error=str(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "stream_error").inc()
                need_list, list_reason = True, "error"
            except (TimeoutError, OSError) as exc:
                log.warning("watch connection lost", resource=self.name, error=repr(exc))
                metrics.WATCH_RESTARTS.labels(self.name, "connection").inc()
                if self._clock() - started >= BACKOFF_RESET_AFTER:
                    # A stream that served a long while ends a run of failures too.
                    self._backoff.reset()
            self.connected = False
            self._progress()
            await asyncio.sleep(delay or self._backoff.next_delay())

    def _api_failure(self, exc: ApiError) -> float:
        """Log a failed list or watch request; the delay before the next attempt: the
        backoff's, or longer when the server asked for it (Retry-After)."""
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
        return max(self._backoff.next_delay(), exc.retry_after or 0.0)

    async def list_once(self) -> None:
        """One full list into the sink, without watching (the `plan` command)."""
        await self._list("initial")

    async def fresh_list(self) -> None:
        """Make a fresh LIST from the server and return once one that started after this
        call has been applied to the sink (the current watch stream is dropped for it)."""
        asked_after = self._lists_started
        self._relist_requested.set()
        async with self._list_applied:
            await self._list_applied.wait_for(lambda: self._last_applied > asked_after)

    async def _watch_until_relist(self) -> int:
        """Follow the watch until it ends, or until a relist is requested."""
        if self._relist_requested.is_set():
            raise RelistRequested
        watch = asyncio.ensure_future(self._watch())
        wake = asyncio.ensure_future(self._relist_requested.wait())
        try:
            await asyncio.wait({watch, wake}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            if not watch.done():
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
        if watch.cancelled():
            raise RelistRequested
        return watch.result()

    async def _list(self, reason: str) -> None:
        # A request made from here on needs a list that starts later than this one.
        self._relist_requested.clear()
        self._lists_started += 1
        number = self._lists_started
        await self._list_into_sink(reason)
        async with self._list_applied:
            self._last_applied = number
            self._list_applied.notify_all()

    async def _list_into_sink(self, reason: str) -> None:
        metrics.WATCH_RELISTS.labels(self.name, reason).inc()
        try:
            items, skipped = await self._paged_list()
        except ContinueExpired as exc:
            # client-go's pager (FullListIfExpired): the pages so far are dropped and the
            # list is made again in one request, instead of from page one again, which
            # would expire again in the same way.
            metrics.LIST_FALLBACKS.labels(self.name).inc()
            log.warning(
                "continue token expired mid-list; listing again in one request",
                resource=self.name,
                detail=str(exc),
            )
            items, skipped = await self._unpaged_list()
        if skipped:
            log.warning("skipped malformed objects", resource=self.name, count=skipped)
        # A list without a resourceVersion is a consistent read: its snapshot is taken after
        # the first page's request arrived (continue tokens keep that snapshot).
        self.listed_from = self._first_page_served
        self.sink.replace(items)
        self.connected = True
        self.synced.set()
        log.info(
            "listed", resource=self.name, count=len(items), resource_version=self.resource_version
        )

    async def _paged_list(self) -> tuple[dict[K, V], int]:
        """Follow continue tokens, within the page and item bounds."""
        items: dict[K, V] = {}
        token = ""
        skipped = count = 0
        for _ in range(self.max_list_pages):
            query = [*self.query, ("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            try:
                raw, served = await self.client.get_dated(
                    self.path, query=query, timeout=self.list_timeout
                )
            except ApiError as exc:
                if exc.status == 410 and token:
                    raise ContinueExpired(exc.message) from exc
                raise
            if not token:
                self._first_page_served = served
            page = decode_list_page(raw, self.projection, self._rejections)
            del raw
            count += page.count
            if count > self.max_list_items:
                raise over_limit("list_items", self.name, f"over {count} objects listed")
            items.update(page.items)
            skipped += page.skipped
            self._progress()
            if not page.continue_token:
                self.resource_version = page.resource_version
                return items, skipped
            token = page.continue_token
        pages = self.max_list_pages
        raise over_limit("list_pages", self.name, f"still a continue token after {pages} pages")

    async def _unpaged_list(self) -> tuple[dict[K, V], int]:
        raw, self._first_page_served = await self.client.get_dated(
            self.path,
            query=self.query,
            timeout=self.list_timeout,
            max_bytes=limits.MAX_UNPAGED_LIST_BYTES,
        )
        page = decode_list_page(raw, self.projection, self._rejections)
        del raw
        if page.count > self.max_list_items:
            raise over_limit("list_items", self.name, f"{page.count} objects listed")
        self.resource_version = page.resource_version
        self._progress()
        return page.items, page.skipped

    async def _watch(self) -> int:
        """Follow one watch stream until the server ends it; return the events received.

        The server ends it at timeoutSeconds; until then it may send nothing at all: the
        API server's watch cache sends bookmarks only for a resource it has seen an event
        of since it started (Cacher.dispatchEvents skips them while
        lastProcessedResourceVersion is 0), so an idle watch of, say, HPAs in a cluster
        with none is silent up to its deadline. Silence is a stall only past that.
        """
        # client-go's reflector: minWatchTimeout * (1 + rand), so that watches spread out;
        # at least 1, as timeoutSeconds=0 would mean the server's default instead.
        seconds = max(1, int(self.watch_timeout * (1.0 + random.random())))
        query = [
            *self.query,
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", self.resource_version),
            ("timeoutSeconds", str(seconds)),
        ]
        silence = seconds + self.inactivity_timeout
        try:
            async with self.client.stream(
                self.path, query=query, connect_timeout=self.connect_timeout, read_timeout=silence
            ) as response:
                self.connected = True
                self._progress()
                return await self._follow(response.content)
        except ApiError as exc:
            if exc.status == 410:
                raise ExpiredError(exc.message) from exc
            raise
        except TimeoutError as exc:
            raise TimeoutError(f"no data for {silence:.0f}s on the {self.name} watch") from exc
        except aiohttp.ClientError as exc:
            # ClientPayloadError (truncated chunked body) and friends: reconnect from the
            # last version seen; the events before the cut were applied.
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    async def _follow(self, content: aiohttp.StreamReader) -> int:
        buffer = LineBuffer(self.max_event_bytes)
        events = 0
        async for chunk in content.iter_any():
            self._progress()
            try:
                lines = buffer.feed(chunk)
            except LineTooLong as exc:
                raise over_limit("watch_event_bytes", self.name, str(exc)) from exc
            for line in lines:
                projection = self.projection
                self._handle(
                    parse_watch_line(line, projection.max_object_bytes, projection.event_decoder)
                )
                if not events:
                    # A working stream ends a run of failures: the next one starts again
                    # from the shortest delay.
                    self._backoff.reset()
                    self._expired_in_a_row = 0
                events += 1
        if buffer.pending:
            # Like a ClientPayloadError: the events before the cut were applied, so resume
            # from the last version seen instead of relisting.
            raise OSError("stream ended inside an event (truncated payload)")
        return events

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
        projected = project(
            self.projection, event.object, with_view=event.type != "DELETED", size=event.size
        )
        if isinstance(projected, ProjectionError):
            # Not an object of this resource at all: the previous view (if any) stands.
            self._rejections.reject(projected.reason, projected.detail)
        elif projected[1] is None:
            self.sink.delete(projected[0])
        else:
            self.sink.upsert(projected[0], projected[1])
        self.resource_version = rv or self.resource_version
