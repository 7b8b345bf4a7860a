"""The blast-radius guard: a sudden, large scale-down waits for a fresh list of nodes.

An empty node list from a broken proxy, an RBAC mistake or a bad relist looks exactly like
"every node is gone", and would scale every agent in the cluster to its minimum at once.
A real drain looks the same at its end, but nobody is hurt if it waits a few seconds for
a fresh, consistent LIST of nodes to say the same. So a scale-down caused by nodes (not a
hand edit being set back) that would remove more than `share` of a target's running
replicas, and at least `min_drop` of them, is *held*: nothing is written and a Warning
says why. Holding asks for a confirmation, a fresh LIST of nodes after `confirm_delay`
seconds; once it has been applied, the held targets are decided again from it and that
decision is trusted — they scale down, or find nothing to do if the nodes came back.

The rule compares replicas, not node counts, so it holds on the first decision after a
restart too (there is no earlier count to compare with, but the running replicas say what
the cluster looked like). Gradual change never trips it: each step is small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from nodecount_scaler.model.targets import TargetKey

DEFAULT_SHARE: Final = 0.5
DEFAULT_MIN_DROP: Final = 2
DEFAULT_CONFIRM_DELAY: Final = 10.0


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    # A scale-down that removes more than this share of the running replicas is held;
    # 1.0 holds nothing.
    share: float = DEFAULT_SHARE
    # ...and only when it removes at least this many, so small targets are not slowed.
    min_drop: int = DEFAULT_MIN_DROP
    confirm_delay: float = DEFAULT_CONFIRM_DELAY

    def holds(self, current: int, desired: int) -> bool:
        drop = current - desired
        return drop >= max(self.min_drop, 1) and drop > self.share * current


@dataclass(frozen=True, slots=True)
class Verdict:
    held: bool
    # True the first time a target is held in a holding period: warn once, not per retry.
    newly_held: bool = False


@dataclass(slots=True)
class ScaleDownGuard:
    policy: GuardPolicy = field(default_factory=GuardPolicy)
    _held: set[TargetKey] = field(default_factory=set)
    # Released by a confirmation: their next decision was made from a fresh list.
    _trusted: set[TargetKey] = field(default_factory=set)
    # Monotonic time the current holding period began; None while nothing is held.
    _holding_since: float | None = None

    @property
    def held(self) -> frozenset[TargetKey]:
        return frozenset(self._held)

    def judge(
        self, key: TargetKey, *, current: int, desired: int, node_caused: bool, now: float
    ) -> Verdict:
        """Whether this target's write must wait. Call once per write decision."""
        trusted = key in self._trusted
        self._trusted.discard(key)
        if node_caused and not trusted and self.policy.holds(current, desired):
            newly = key not in self._held
            self._held.add(key)
            if self._holding_since is None:
                self._holding_since = now
            return Verdict(held=True, newly_held=newly)
        self._release(key)
        return Verdict(held=False)

    def confirmation_due(self) -> float | None:
        """When the confirming list should start (None: nothing is held)."""
        if self._holding_since is None:
            return None
        return self._holding_since + self.policy.confirm_delay

    def confirmed(self) -> frozenset[TargetKey]:
        """A fresh list of nodes has been applied. Returns the held targets, to be decided
        again from it; that next decision is trusted."""
        released = frozenset(self._held)
        self._trusted |= released
        self._held.clear()
        self._holding_since = None
        return released

    def forget(self, key: TargetKey) -> None:
        """The target is gone."""
        self._trusted.discard(key)
        self._release(key)

    def _release(self, key: TargetKey) -> None:
        self._held.discard(key)
        if not self._held:
            self._holding_since = None


def valid_share(share: float) -> bool:
    return math.isfinite(share) and 0.0 < share <= 1.0
