"""Pod caches for pod-deletion-cost steering: started on demand, bounded, leader only.

A scale-down needs the target's pods (which pod runs on which node). The first scale-down
of a target that needs them starts the target's cache: a Reflector over that target's pods
only (its namespace, its `spec.selector` as labelSelector, nothing kept but PodView). Its
first LIST is the very request a cache-less scale-down makes (control/podlist.py); from
then on its watch keeps it current and the target's next scale-downs read it without any
request. A target that never scales down never costs a pod read.

A watch holds a connection for as long as it runs, so the caches are bounded:
- at most `capacity` at once (--pod-watches): starting one more stops the least recently
  read;
- one that no scale-down has read for POD_WATCH_IDLE is stopped;
- one whose target went, turned invalid or changed its selector is stopped (`retain`);
- they use a KubeClient of their own whose pool holds `capacity` connections, so however
  many targets there are, they never take a connection that the node, target and HPA
  watches or the writes need (one watch per target on the shared pool of 100 once left
  the node watch without a connection at 500 targets: commit 200c5eb).

Caches exist only while `run()` runs, which the controller runs among the leader's tasks:
a follower holds no pod watch, and leaving `run()` stops every cache and closes the
client. When no synced and connected cache can answer in time (not running, a first list
slower than POD_WATCH_SYNC_TIMEOUT, a watch reconnecting), `pods()` answers None and the
scale-down lists the pods once on the main client instead: steering is best effort, and
the scale write waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from nodecount_scaler import limits, metrics
from nodecount_scaler.control.podlist import PodSink
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.pods import PodView
from nodecount_scaler.model.targets import TargetKey, TargetView

log = structlog.get_logger(__name__)


@dataclass(slots=True, eq=False)
class _Cache:
    selector: str
    sink: PodSink[str, PodView]
    reflector: Reflector[str, PodView]
    used_at: float
    # None while its first list is made (in the scale-down that started it).
    task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Listed, watching, and not between a failure and its retry."""
        task = self.task
        return task is not None and not task.done() and self.reflector.connected


def steerable_selector(view: TargetView) -> str | None:
    """The label selector of the target's pods, for a target whose scale-down is steered."""
    if not view.valid or view.pod_selector is None:
        return None
    return str(view.pod_selector)


class PodCaches:
    def __init__(
        self,
        client: KubeClient,
        *,
        capacity: int,
        inactivity_timeout: float = 120.0,
        idle_timeout: float = limits.POD_WATCH_IDLE,
        sync_timeout: float = limits.POD_WATCH_SYNC_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.client = client
        self.capacity = capacity
        self.idle_timeout = idle_timeout
        self.sync_timeout = sync_timeout
        self._inactivity_timeout = inactivity_timeout
        self._clock = clock
        # Least recently read first.
        self._caches: OrderedDict[TargetKey, _Cache] = OrderedDict()
        # Watches cancelled and not yet ended.
        self._stopping: set[asyncio.Task[None]] = set()
        self._running = False

    @classmethod
    def beside(cls, main: KubeClient, capacity: int, **kwargs: Any) -> PodCaches:
        """Caches on a client of their own: `main`'s configuration, a pool of `capacity`."""
        client = KubeClient(
            main.configuration, request_timeout=main.request_timeout, connection_limit=capacity
        )
        return cls(client, capacity=capacity, **kwargs)

    @property
    def watched(self) -> dict[TargetKey, str]:
        """Target -> label selector of every cache, least recently read first."""
        return {key: cache.selector for key, cache in self._caches.items()}

    async def pods(self, key: TargetKey, selector: str) -> list[PodView] | None:
        """The target's pods from its cache, started now if it has none (its first list is
        made here, within the sync timeout). None: no cache can answer in time; the caller
        lists once. Raises what the first list raises (ApiError, kube.watch.StreamError)."""
        if not self._running:
            return None
        cache = self._caches.get(key)
        if cache is not None and cache.selector != selector:
            self._stop(key, "selector changed")
            cache = None
        if cache is None:
            return await self._start(key, selector)
        self._caches.move_to_end(key)
        cache.used_at = self._clock()
        return list(cache.sink.pods.values()) if cache.ready else None

    def can_hold(self, key: TargetKey) -> bool:
        """Whether the target has a cache or one more fits without stopping another: past
        that, evicting the least recently used one for every scale-down of a cluster of
        thousands of targets cost a list, a watch and a TLS connection each time."""
        return key in self._caches or len(self._caches) < self.capacity

    def retain(self, key: TargetKey, view: TargetView | None) -> None:
        """The target as stored now (None: gone); its cache stops unless the target is still
        steerable with the cache's selector."""
        cache = self._caches.get(key)
        if cache is None:
            return
        if view is None:
            self._stop(key, "target gone")
        elif steerable_selector(view) != cache.selector:
            self._stop(key, "target invalid or selector changed")

    async def run(self) -> None:
        """Hold caches until cancelled (the leader's work), stopping idle ones; then stop
        them all and close the client."""
        self._running = True
        try:
            while True:
                # No wake-up needed for a new cache: it expires after every one there is.
                next_expiry = self.expire_idle()
                await asyncio.sleep(next_expiry)
        finally:
            self._running = False
            for key in list(self._caches):
                self._stop(key, "not leading")
            await asyncio.gather(*self._stopping, return_exceptions=True)
            await self.client.close()

    def expire_idle(self) -> float:
        """Stop the caches unread for the idle timeout; seconds until the next may expire."""
        now = self._clock()
        for key, cache in list(self._caches.items()):
            if now - cache.used_at >= self.idle_timeout:
                self._stop(key, "idle")
        oldest = min((c.used_at for c in self._caches.values()), default=now)
        return max(0.0, oldest + self.idle_timeout - now)

    async def _start(self, key: TargetKey, selector: str) -> list[PodView] | None:
        while len(self._caches) >= self.capacity:
            self._stop(next(iter(self._caches)), "least recently used")
        sink: PodSink[str, PodView] = PodSink()
        reflector = Reflector(
            self.client,
            "pods",
            resources.pods_path(key.namespace),
            resources.POD_PROJECTION,
            sink,
            query=[("labelSelector", selector)],
            inactivity_timeout=self._inactivity_timeout,
        )
        cache = _Cache(selector, sink, reflector, self._clock())
        self._caches[key] = cache
        metrics.POD_WATCHES.set(len(self._caches))
        try:
            async with asyncio.timeout(self.sync_timeout):
                await reflector.list_once()
        except TimeoutError:
            self._drop(key, cache)
            log.warning("pod cache not synced in time; listing once", seconds=self.sync_timeout)
            return None
        except BaseException:
            self._drop(key, cache)
            raise
        if self._caches.get(key) is cache and self._running:
            cache.task = asyncio.create_task(reflector.run(listed=True), name=f"pods {key}")
            cache.task.add_done_callback(_report_crash)
            log.info("watching pods", selector=selector, watches=len(self._caches))
        # Else it was stopped during its list; the list still answers this scale-down.
        return list(sink.pods.values())

    def _drop(self, key: TargetKey, cache: _Cache) -> None:
        if self._caches.get(key) is cache:
            del self._caches[key]
            metrics.POD_WATCHES.set(len(self._caches))

    def _stop(self, key: TargetKey, why: str) -> None:
        cache = self._caches.pop(key)
        metrics.POD_WATCHES.set(len(self._caches))
        if cache.task is not None:
            cache.task.cancel()
            self._stopping.add(cache.task)
            cache.task.add_done_callback(self._stopping.discard)
        log.info("stopped watching pods", target=str(key), reason=why)


def _report_crash(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.error("pod watch crashed", task=task.get_name(), error=repr(error))
