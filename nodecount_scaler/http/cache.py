"""Small bounded caches for the HTTP layer: a TTL'd least-recently-used map (review results)
and a rendered body shared by every request within its time to live."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlLru(Generic[K, V]):
    """At most `capacity` entries, each with its own expiry; the least recently used goes
    first when full, so any number of distinct keys costs a fixed amount of memory."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) while an unexpired entry exists, else (False, None)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: K, value: V, ttl: float) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self, amount: float = 1.0) -> bool:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


@dataclass(slots=True)
class Rendered:
    """A response body rendered afresh for a request while two budgets allow, else the last
    one: a bucket of renderings (`burst`, then `rate` a second) and a share of one core
    (`share`: after a rendering that took c seconds of CPU, the next waits c / share
    seconds). A client that asks now and then always reads the present; a flood costs at
    most `share` of a core, however long one rendering takes at the cluster's size (at
    2,000 targets a /status is 1.7 MB), and each body is at most max(1/rate, c/share)
    seconds old."""

    render: Callable[[], bytes]
    rate: float
    burst: float
    share: float = 1.0
    # Told each rendering's CPU seconds (a gauge).
    report: Callable[[float], None] = lambda seconds: None
    clock: Callable[[], float] = time.monotonic
    cpu_clock: Callable[[], float] = time.thread_time
    renders: int = 0
    # CPU seconds of the last rendering.
    cost: float = 0.0
    _bucket: TokenBucket = field(init=False)
    _body: bytes | None = None
    _next_at: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], not {self.share}")
        self._bucket = TokenBucket(self.rate, self.burst, self.clock)

    def get(self) -> bytes:
        # Synchronous: no other request can run between the check and the store.
        allowed = self.clock() >= self._next_at and self._bucket.take()
        if allowed or self._body is None:
            started = self.cpu_clock()
            self._body = self.render()
            self.cost = self.cpu_clock() - started
            self.report(self.cost)
            self._next_at = self.clock() + self.cost / self.share
            self.renders += 1
        return self._body
