"""A work queue of target keys, in the manner of client-go's workqueue.

A key is queued at most once however often it is added (events coalesce), and is never
handed to two workers at once; a key added while being processed is queued again when its
worker finishes. Failed keys come back after a per-key exponential delay, so one failing
target never delays another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from nodecount_scaler import metrics

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, name: str, *, base_delay: float = 0.05, max_delay: float = 60.0) -> None:
        self.name = name
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: dict[K, float] = {}  # key -> monotonic time it was queued
        self._processing: set[K] = set()
        self._dirty: set[K] = set()  # added while processing
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        # The series of this queue, looked up once (labels() is not free).
        self._adds = metrics.WORKQUEUE_ADDS.labels(name)
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name)
        self._waited = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued[key] = time.monotonic()
        self._queue.put_nowait(key)
        self._adds.inc()
        self._depth.set(len(self._queued))

    def add_after(self, key: K, delay: float) -> None:
        if key in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: K, at_least: float = 0.0) -> float:
        """Re-add after a failure with per-key exponential backoff, or after `at_least`
        seconds when that is longer (the server's Retry-After); returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay: float = max(at_least, min(self.max_delay, self.base_delay * 2.0**failures))
        self._retries.inc()
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure starts from the base delay again."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        key = await self._queue.get()
        queued_at = self._queued.pop(key)
        self._processing.add(key)
        self._depth.set(len(self._queued))
        self._waited.observe(time.monotonic() - queued_at)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
