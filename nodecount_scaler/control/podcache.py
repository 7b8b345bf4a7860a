"""Per-target pod caches for pod-deletion-cost steering.

One Reflector per valid target, listing and watching only that target's pods: its own
namespace, its own `spec.selector` as the labelSelector, nothing kept but PodView (name,
node, deletion cost, deleting). The number of pod watches is the number of valid targets.

Lifecycle: `sync` is told the stored targets after every target change, on every instance;
it only records which caches should exist. Caches run only inside `run()`, which the
controller runs as part of the leader's work (only the leader steers): there a cache is
started when a target appears (or turns valid), restarted when its selector changes, and
stopped when the target goes (or turns invalid). Leaving `run()` (leadership lost,
shutdown) stops every cache, so a follower holds no pod watch at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.pods import PodView
from nodecount_scaler.model.state import TargetState
from nodecount_scaler.model.targets import TargetKey

log = structlog.get_logger(__name__)


class PodSink:
    """The pods of one target, as its reflector last delivered them."""

    def __init__(self) -> None:
        self.pods: dict[str, PodView] = {}

    def replace(self, items: dict[str, PodView]) -> None:
        self.pods = dict(items)

    def upsert(self, key: str, view: PodView) -> None:
        self.pods[key] = view

    def delete(self, key: str) -> None:
        self.pods.pop(key, None)


@dataclass(slots=True)
class _Cache:
    selector: str
    sink: PodSink
    reflector: Reflector[str, PodView]
    task: asyncio.Task[None] | None = field(default=None)


def wanted_selectors(targets: Mapping[TargetKey, TargetState]) -> dict[TargetKey, str]:
    """The pod label selector of every target that can be steered: valid, with a selector
    this service can write as a labelSelector query."""
    wanted = {}
    for key, target in targets.items():
        view = target.view
        if view.valid and view.pod_selector is not None:
            wanted[key] = str(view.pod_selector)
    return wanted


class PodCaches:
    def __init__(self, client: KubeClient, *, inactivity_timeout: float = 120.0) -> None:
        self._client = client
        self._inactivity_timeout = inactivity_timeout
        self._wanted: dict[TargetKey, str] = {}
        self._caches: dict[TargetKey, _Cache] = {}
        self._running = False

    def sync(self, targets: Mapping[TargetKey, TargetState]) -> None:
        """The targets as stored now; starts and stops caches while running."""
        self._wanted = wanted_selectors(targets)
        if self._running:
            self._apply()

    def pods(self, key: TargetKey) -> list[PodView] | None:
        """The target's pods, or None while its cache is not running or not yet synced."""
        cache = self._caches.get(key)
        if cache is None or not cache.reflector.synced.is_set():
            return None
        return list(cache.sink.pods.values())

    @property
    def watched(self) -> dict[TargetKey, str]:
        """Target -> label selector of every running cache."""
        return {key: cache.selector for key, cache in self._caches.items()}

    async def run(self) -> None:
        """Keep one cache per steerable target until cancelled; then stop them all."""
        self._running = True
        try:
            self._apply()
            await asyncio.Event().wait()
        finally:
            self._running = False
            tasks = [c.task for c in self._caches.values() if c.task is not None]
            self._caches.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _apply(self) -> None:
        for key, cache in list(self._caches.items()):
            if self._wanted.get(key) != cache.selector:
                self._stop(key, cache)
        for key, selector in self._wanted.items():
            if key not in self._caches:
                self._start(key, selector)

    def _start(self, key: TargetKey, selector: str) -> None:
        sink = PodSink()
        reflector = Reflector(
            self._client,
            f"pods/{key.namespace}/{key.name}",
            resources.pods_path(key.namespace),
            resources.POD_PROJECTION,
            sink,
            query=[("labelSelector", selector)],
            inactivity_timeout=self._inactivity_timeout,
        )
        cache = _Cache(selector, sink, reflector)
        cache.task = asyncio.create_task(reflector.run(), name=f"reflector {reflector.name}")
        cache.task.add_done_callback(_report_crash)
        self._caches[key] = cache
        log.info("watching pods", target=str(key), selector=selector)

    def _stop(self, key: TargetKey, cache: _Cache) -> None:
        del self._caches[key]
        if cache.task is not None:
            cache.task.cancel()
        log.info("stopped watching pods", target=str(key))


def _report_crash(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.error("pod watch crashed", task=task.get_name(), error=repr(error))
