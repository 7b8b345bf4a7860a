"""How many replicas a target should have, and whether and why to write them.

Answers "why 7 replicas?" without any I/O: the eligible count, the annotation bounds and
the global cap go in; the desired count, the action and a human reason come out.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from nodecount_scaler.model.annotations import TargetConfig

DELETION_COST_ANNOTATION: Final = "controller.kubernetes.io/pod-deletion-cost"
# Lower than the default cost of 0, so the ReplicaSet removes these pods first
# (ActivePodsWithRanks compares pod-deletion-cost after phase and readiness).
LEAVING_NODE_DELETION_COST: Final = "-1000"


def desired_replicas(eligible: int, config: TargetConfig, global_max: int) -> int:
    """clamp(ceil(eligible / nodes-per-replica), min, max), never above the global cap."""
    wanted = math.ceil(eligible / config.nodes_per_replica)
    upper = global_max if config.max_replicas is None else min(config.max_replicas, global_max)
    return min(max(wanted, config.min_replicas), upper)


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
    global_max: int,
    last_applied: int | None,
    hpas: Sequence[str],
) -> ScalePlan:
    """Decide one target's write.

    `last_applied` is the replica count this service last wrote or confirmed for the
    target; if the desired count has not moved since but spec.replicas has, the difference
    is a hand edit (drift), which is set back.
    """
    desired = desired_replicas(eligible, config, global_max)
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


@dataclass(frozen=True, slots=True)
class PodPlacementRecord:
    """What a scale-down needs to know of one of the target's pods."""

    name: str
    node_name: str
    deletion_cost: str | None


def deletion_cost_patches(
    pods: Iterable[PodPlacementRecord], eligible_nodes: AbstractSet[str]
) -> dict[str, str | None]:
    """Annotation changes that make the pods on nodes that left the eligible set go first.

    Returns pod name -> new pod-deletion-cost, or None to remove a cost this service set
    earlier on a pod whose node has come back.
    """
    changes: dict[str, str | None] = {}
    for pod in pods:
        leaving = bool(pod.node_name) and pod.node_name not in eligible_nodes
        if leaving and pod.deletion_cost != LEAVING_NODE_DELETION_COST:
            changes[pod.name] = LEAVING_NODE_DELETION_COST
        elif not leaving and pod.deletion_cost == LEAVING_NODE_DELETION_COST:
            changes[pod.name] = None
    return changes
