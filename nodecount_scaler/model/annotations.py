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

from nodecount_scaler.limits import NODE_SELECTOR_MAX_LENGTH, NODE_SELECTOR_MAX_REQUIREMENTS
from nodecount_scaler.model.keys import (
    ENABLED,
    INCLUDE_UNSCHEDULABLE_NODES,
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
    PREFIX,
    TOPOLOGY_KEY,
    AnnotationError,
    shown,
)
from nodecount_scaler.model.numbers import NumberError, parse_int, parse_positive_decimal
from nodecount_scaler.model.scaling import Linear, ScalingRule, parse_scaling
from nodecount_scaler.model.selector import (
    EVERYTHING,
    LabelSelector,
    SelectorError,
    label_key_problem,
    parse_selector,
)

# Importers of this module find the contract's keys and error type here too.
__all__ = [
    "DEFAULT_CONFIG",
    "ENABLED",
    "INCLUDE_UNSCHEDULABLE_NODES",
    "MAX_REPLICAS",
    "MIN_REPLICAS",
    "NODES_PER_REPLICA",
    "NODE_SELECTOR",
    "PREFIX",
    "TOPOLOGY_KEY",
    "AnnotationError",
    "TargetConfig",
    "is_enabled",
    "parse_config",
    "shown",
]


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
    return annotations.get(ENABLED) == "true"


def parse_config(
    annotations: Mapping[str, str],
) -> tuple[TargetConfig | None, tuple[AnnotationError, ...]]:
    """Return the target's config, or None and every problem found (all keys are checked)."""
    errors: list[AnnotationError] = []
    selector = _node_selector(annotations, errors)
    minimum = _integer(annotations, MIN_REPLICAS, errors)
    maximum = _integer(annotations, MAX_REPLICAS, errors)
    if minimum is not None and maximum is not None and minimum > maximum:
        errors.append(
            AnnotationError.of(
                MIN_REPLICAS,
                annotations[MIN_REPLICAS],
                f"min-replicas {minimum} is greater than max-replicas {maximum}",
            )
        )
    ratio = Fraction(1)
    if NODES_PER_REPLICA in annotations:
        raw = annotations[NODES_PER_REPLICA]
        parsed = parse_positive_decimal(raw)
        if isinstance(parsed, NumberError):
            errors.append(AnnotationError.of(NODES_PER_REPLICA, raw, parsed.problem))
        else:
            ratio = parsed
    rule, rule_errors = parse_scaling(
        annotations, nodes_per_replica=ratio, min_replicas=minimum or 0, max_replicas=maximum
    )
    errors.extend(rule_errors)
    topology_key = _topology_key(annotations, errors)
    include_unschedulable = _include_unschedulable(annotations, errors)
    if errors or selector is None or rule is None:
        return None, tuple(errors)
    return TargetConfig(
        selector, minimum or 0, maximum, ratio, rule, topology_key, include_unschedulable
    ), ()


def _include_unschedulable(annotations: Mapping[str, str], errors: list[AnnotationError]) -> bool:
    raw = annotations.get(INCLUDE_UNSCHEDULABLE_NODES)
    if raw is None or raw.strip() in ("true", "false"):
        return raw is not None and raw.strip() == "true"
    errors.append(AnnotationError.of(INCLUDE_UNSCHEDULABLE_NODES, raw, 'must be "true" or "false"'))
    return False


def _topology_key(annotations: Mapping[str, str], errors: list[AnnotationError]) -> str | None:
    raw = annotations.get(TOPOLOGY_KEY)
    if raw is None:
        return None
    problem = label_key_problem(raw.strip())
    if problem is not None:
        errors.append(AnnotationError.of(TOPOLOGY_KEY, raw, f"not a label key: {problem}"))
        return None
    return raw.strip()


def _node_selector(
    annotations: Mapping[str, str], errors: list[AnnotationError]
) -> LabelSelector | None:
    raw = annotations.get(NODE_SELECTOR)
    if raw is None:
        return EVERYTHING
    if len(raw) > NODE_SELECTOR_MAX_LENGTH:
        problem = f"longer than {NODE_SELECTOR_MAX_LENGTH} characters ({len(raw)})"
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, problem))
        return None
    try:
        selector = parse_selector(raw)
    except SelectorError as exc:
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, str(exc)))
        return None
    if len(selector.requirements) > NODE_SELECTOR_MAX_REQUIREMENTS:
        problem = (
            f"{len(selector.requirements)} requirements; at most "
            f"{NODE_SELECTOR_MAX_REQUIREMENTS} are allowed"
        )
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, problem))
        return None
    return selector


def _integer(annotations: Mapping[str, str], key: str, errors: list[AnnotationError]) -> int | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    value = parse_int(raw)
    if isinstance(value, NumberError):
        errors.append(AnnotationError.of(key, raw, value.problem))
        return None
    return value
