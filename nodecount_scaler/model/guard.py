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
the cluster looked like). A loss delivered node by node on the watch (each step small) is
one loss too: the drop is measured from the most replicas the target had in the last
`window` seconds, not from its replicas just before this step, so eight deletions in a row
are held once they pass the share however they arrive. Only change slower than that,
less than `share` of the replicas per `window`, goes through without a confirmation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from nodecount_scaler.model.targets import TargetKey

DEFAULT_SHARE: Final = 0.5
DEFAULT_MIN_DROP: Final = 2
DEFAULT_CONFIRM_DELAY: Final = 10.0
DEFAULT_WINDOW: Final = 60.0


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    # A scale-down that removes more than this share of the running replicas is held;
    # 1.0 holds nothing.
    share: float = DEFAULT_SHARE
    # ...and only when it removes at least this many, so small targets are not slowed.
    min_drop: int = DEFAULT_MIN_DROP
    confirm_delay: float = DEFAULT_CONFIRM_DELAY
    # The drop is measured from the most replicas seen within this many seconds.
    window: float = DEFAULT_WINDOW

    def holds(self, current: int, desired: int) -> bool:
        drop = current - desired
        return drop >= max(self.min_drop, 1) and drop > self.share * current


@dataclass(frozen=True, slots=True)
class Peak:
    """The most replicas a target was seen with (outside a hand edit), and when: the
    drops of the next `window` seconds are measured from it."""

    replicas: int
    at: float


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
    # One per target that has been decided (dropped with it): O(1) memory each.
    _peaks: dict[TargetKey, Peak] = field(default_factory=dict)

    @property
    def held(self) -> frozenset[TargetKey]:
        return frozenset(self._held)

    def judge(
        self,
        key: TargetKey,
        *,
        current: int,
        desired: int,
        node_caused: bool,
        now: float,
        hand_edit: bool = False,
    ) -> Verdict:
        """Whether this target's write must wait. Call once per decision, writes or not;
        `hand_edit`: `current` is someone else's value being set back, not a count this
        service stands by (it never becomes the peak)."""
        trusted = key in self._trusted
        self._trusted.discard(key)
        base = current if hand_edit else self.peak(key, current, now)
        if node_caused and not trusted and self.policy.holds(base, desired):
            newly = key not in self._held
            self._held.add(key)
            if self._holding_since is None:
                self._holding_since = now
            return Verdict(held=True, newly_held=newly)
        self._release(key)
        if trusted or (not node_caused and not hand_edit and desired < current):
            # A fresh list confirmed this drop, or the owner's own act made it (an edit of
            # its settings, model/policy.caused_by_nodes): the next window starts from its
            # outcome. Else the owner's scale-down would leave its old count the peak, and
            # the next node gone within the window would hold the target and cost a relist.
            self._peaks[key] = Peak(desired, now)
        elif not hand_edit:
            self._remember(key, current, now)
        return Verdict(held=False)

    def peak(self, key: TargetKey, current: int, now: float) -> int:
        """The replicas a drop is measured from: the most within the window, or now."""
        peak = self._peaks.get(key)
        if peak is None or now - peak.at >= self.policy.window:
            return current
        return max(peak.replicas, current)

    def _remember(self, key: TargetKey, current: int, now: float) -> None:
        peak = self._peaks.get(key)
        if peak is None or now - peak.at >= self.policy.window or current >= peak.replicas:
            self._peaks[key] = Peak(current, now)

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
        self._peaks.pop(key, None)
        self._release(key)

    def _release(self, key: TargetKey) -> None:
        self._held.discard(key)
        if not self._held:
            self._holding_since = None


def valid_share(share: float) -> bool:
    return math.isfinite(share) and 0.0 < share <= 1.0
