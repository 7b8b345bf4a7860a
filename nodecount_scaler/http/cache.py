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
class Rendered:
    """A response body rendered at most once per `ttl` seconds: a flood of requests costs
    one rendering per second, however many clients ask."""

    render: Callable[[], bytes]
    ttl: float
    clock: Callable[[], float] = time.monotonic
    renders: int = 0
    _body: bytes = b""
    _at: float = field(default=-float("inf"))

    def get(self) -> bytes:
        now = self.clock()
        if now - self._at >= self.ttl:
            # Synchronous: no other request can run between the check and the store.
            self._body = self.render()
            self._at = now
            self.renders += 1
        return self._body
