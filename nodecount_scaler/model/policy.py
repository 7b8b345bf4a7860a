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
) -> ScalePlan:
    """Decide one target's write.

    `last_applied` is the replica count this service last wrote or confirmed for the
    target; if the desired count has not moved since but spec.replicas has, the difference
    is a hand edit (drift), which is set back.
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
    else:
        cause = Cause.NODES_CHANGED
    return ScalePlan(Action.SCALE, eligible, current, desired, cause)
