"""How many replicas a target should have, and whether and why to write them.

Answers "why 7 replicas?" without any I/O: the eligible count, the annotation bounds and
the global cap go in; the desired count, the action and a human reason come out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from nodecount_scaler.model import scaling
from nodecount_scaler.model.annotations import TargetConfig


def desired_replicas(
    eligible: int, config: TargetConfig, replica_cap: int, cores: Fraction = Fraction(0)
) -> int:
    """The target's scaling rule (by default clamp(ceil(eligible / nodes-per-replica), min,
    max)) over its eligible count (nodes, or topology domains) and their cores, never above
    the global cap."""
    return min(scaling.replicas(config.rule, eligible, cores), replica_cap)


class Action(enum.StrEnum):
    NONE = "none"
    SCALE = "scale"
    # Another autoscaler owns spec.replicas: report, never fight.
    BLOCKED_BY_HPA = "blocked-by-hpa"


class Cause(enum.StrEnum):
    NODES_CHANGED = "eligible nodes changed"
    DRIFT = "spec.replicas was changed by someone else"
    # First write for a target: it just opted in, or an HPA that owned it went away.
    ADOPTED = "taking over spec.replicas"
    # Its own annotations or pod template changed what it counts or how (an owner's edit).
    SETTINGS_CHANGED = "its annotations or pod template changed"


@dataclass(frozen=True, slots=True)
class ScalePlan:
    action: Action
    eligible: int
    current: int
    desired: int
    cause: Cause | None
    hpas: tuple[str, ...] = ()

    @property
    def scaling_down(self) -> bool:
        return self.action is Action.SCALE and self.desired < self.current


def plan_scale(
    *,
    eligible: int,
    current: int,
    config: TargetConfig,
    replica_cap: int,
    last_applied: int | None,
    hpas: Sequence[str],
    cores: Fraction = Fraction(0),
    settings_changed: bool = False,
) -> ScalePlan:
    """Decide one target's write.

    `last_applied` is the replica count this service last wrote or confirmed for the
    target; if the desired count has not moved since but spec.replicas has, the difference
    is a hand edit (drift), which is set back. `settings_changed`: the target's config or
    placement is not the one that count was decided with, so a new count is its owner's
    doing, not the nodes'.
    """
    desired = desired_replicas(eligible, config, replica_cap, cores)
    if hpas:
        # Reported even while the counts agree: the conflict stands whatever the numbers.
        return ScalePlan(Action.BLOCKED_BY_HPA, eligible, current, desired, None, tuple(hpas))
    if desired == current:
        return ScalePlan(Action.NONE, eligible, current, desired, None)
    if last_applied is None:
        cause = Cause.ADOPTED
    elif last_applied == desired:
        cause = Cause.DRIFT
    elif settings_changed:
        cause = Cause.SETTINGS_CHANGED
    else:
        cause = Cause.NODES_CHANGED
    return ScalePlan(Action.SCALE, eligible, current, desired, cause)


def caused_by_nodes(cause: Cause | None, *, live: bool, blocked: bool) -> bool:
    """Whether a write's cause is the nodes, the only cause the blast-radius guard judges
    (model/guard.py: a broken node list must not scale everything down). Not a hand edit
    set back; not the owner's own act: an edit of the target's annotations or template, a
    target created or opted in while this process watched (`live`), the takeover after an
    HPA that scaled it went away (`blocked`). A held scale-down costs a fresh list of every
    node, so an owner who could trip it at will could make the service relist the cluster's
    nodes as often as it edits its own workload."""
    if cause is Cause.NODES_CHANGED:
        return True
    # A first decision from a list (a restart, a new leader) is judged: the node list it
    # counts may be the broken one.
    return cause is Cause.ADOPTED and not live and not blocked
