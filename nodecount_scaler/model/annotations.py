"""The user-facing contract: annotations on a workload's metadata, parsed and validated.

A workload opts in with `nodecount-scaler.io/enabled: "true"`. Every other key is
optional; a malformed value makes the whole target invalid (it is left untouched) rather
than falling back to a default the user did not ask for. Parsing is total: any string
gives a config or errors, in time linear in its length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from nodecount_scaler.model.keys import (
    CORES_PER_REPLICA,
    CORES_TO_REPLICAS,
    ENABLED,
    INCLUDE_UNSCHEDULABLE_NODES,
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
    NODES_TO_REPLICAS,
    PREVENT_SINGLE_POINT_FAILURE,
    TOPOLOGY_KEY,
    AnnotationError,
)
from nodecount_scaler.model.scaling import Ladder, Linear, ScalingRule
from nodecount_scaler.model.selector import EVERYTHING, LabelSelector


@dataclass(frozen=True, slots=True)
class TargetConfig:
    node_selector: LabelSelector
    min_replicas: int
    max_replicas: int | None
    # Exact, so that 21 nodes at 0.7 nodes per replica is 30 replicas and not 31.
    nodes_per_replica: Fraction
    # The whole scaling rule (linear or ladder, nodes and/or cores, min, max, prevent
    # single point of failure); None: clamp(ceil(count / nodes_per_replica), min, max).
    scaling: ScalingRule | None = None
    # A node label key whose distinct values are counted instead of nodes (one pod per
    # zone); None: the pod template's anti-affinity decides.
    topology_key: str | None = None
    # Count cordoned and NotReady nodes too (rules 5 and 7 waived), as CPA's
    # includeUnschedulableNodes does: for targets whose replicas are a scale signal, not one
    # pod per node (targets.py refuses it there).
    include_unschedulable: bool = False

    @property
    def rule(self) -> ScalingRule:
        if self.scaling is not None:
            return self.scaling
        return ScalingRule(Linear(self.nodes_per_replica), self.min_replicas, self.max_replicas)


DEFAULT_CONFIG: Final = TargetConfig(EVERYTHING, 0, None, Fraction(1))


def is_enabled(annotations: Mapping[str, str]) -> bool:
    return annotations.get(ENABLED.key) == "true"


def parse_config(
    annotations: Mapping[str, str],
) -> tuple[TargetConfig | None, tuple[AnnotationError, ...]]:
    """Return the target's config, or None and every problem found (all keys are checked),
    each value read by its record (keys.py), then what the values mean together."""
    errors: list[AnnotationError] = []
    given_selector = NODE_SELECTOR.read(annotations, errors)
    minimum = MIN_REPLICAS.read(annotations, errors)
    maximum = MAX_REPLICAS.read(annotations, errors)
    if minimum is not None and maximum is not None and minimum > maximum:
        errors.append(
            AnnotationError.of(
                MIN_REPLICAS.key,
                annotations[MIN_REPLICAS.key],
                f"min-replicas {minimum} is greater than max-replicas {maximum}",
            )
        )
    ratio = NODES_PER_REPLICA.read(annotations, errors) or Fraction(1)
    rule, rule_errors = parse_scaling(
        annotations, nodes_per_replica=ratio, min_replicas=minimum or 0, max_replicas=maximum
    )
    errors.extend(rule_errors)
    topology_key = TOPOLOGY_KEY.read(annotations, errors)
    include_unschedulable = INCLUDE_UNSCHEDULABLE_NODES.read(annotations, errors)
    if errors or rule is None:
        return None, tuple(errors)
    selector = given_selector or EVERYTHING
    return TargetConfig(
        selector, minimum or 0, maximum, ratio, rule, topology_key, bool(include_unschedulable)
    ), ()


def parse_scaling(
    annotations: Mapping[str, str],
    *,
    nodes_per_replica: Fraction | None,
    min_replicas: int,
    max_replicas: int | None,
) -> tuple[ScalingRule | None, tuple[AnnotationError, ...]]:
    """The target's rule from the scaling keys, or None and every problem found.

    `nodes_per_replica`, `min_replicas` and `max_replicas` are the values parse_config already
    read. Whether nodes-per-replica was written is read from `annotations`: a value filled in
    by default does not count, so cores-per-replica alone scales on cores alone, as in CPA.
    """
    errors: list[AnnotationError] = []
    cores_per_replica = CORES_PER_REPLICA.read(annotations, errors)
    nodes_steps = NODES_TO_REPLICAS.read(annotations, errors)
    cores_steps = CORES_TO_REPLICAS.read(annotations, errors)
    spof = PREVENT_SINGLE_POINT_FAILURE.read(annotations, errors)
    linear_keys = [a.key for a in (NODES_PER_REPLICA, CORES_PER_REPLICA) if a.key in annotations]
    ladder_keys = [a.key for a in (NODES_TO_REPLICAS, CORES_TO_REPLICAS) if a.key in annotations]
    if linear_keys:
        for key in ladder_keys:
            errors.append(
                AnnotationError.of(
                    key,
                    annotations[key],
                    f"a ladder key cannot be combined with {' and '.join(linear_keys)}: "
                    "use either the linear keys or the ladder keys",
                )
            )
    if errors:
        return None, tuple(errors)
    scheme: Linear | Ladder
    if ladder_keys:
        scheme = Ladder(nodes_steps, cores_steps)
    elif NODES_PER_REPLICA.key in annotations or cores_per_replica is None:
        scheme = Linear(nodes_per_replica or Fraction(1), cores_per_replica)
    else:
        scheme = Linear(None, cores_per_replica)
    return ScalingRule(scheme, min_replicas, max_replicas, bool(spof)), ()
