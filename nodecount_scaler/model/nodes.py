"""The small immutable view of a Node that the service keeps, and its projection from JSON.

Only what eligibility needs is kept (labels, scheduling taints, cordon, readiness,
deletion), like cluster-proportional-autoscaler's trimmed node cache but without dropping
labels and taints. Strings are interned: thousands of nodes share label keys and most values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, TypeVar

from nodecount_scaler.limits import TAINT_POOL_LIMIT
from nodecount_scaler.model.objects import (
    ProjectionError,
    ShapeError,
    boolean,
    items,
    mapping,
    object_name,
    string,
    string_map,
)
from nodecount_scaler.model.quantity import QuantityError, parse_quantity

# Taints the node lifecycle controller and TaintNodesByCondition admission derive from the
# Ready condition (docs/eligibility.md, "Where taints come from"). They are folded into
# `NodeView.ready` so the readiness grace period covers them too: a Ready flap sets the
# condition and these taints together, and both must be forgiven for the same short while.
READINESS_TAINT_KEYS: Final = frozenset(
    {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
)
# The node lifecycle controller derives this taint from `spec.unschedulable`, and it lags
# the field both ways: after an uncordon it can stay, or even be put back by a controller
# working from a stale cache, for a moment. Counted as a taint it would take an
# uncordoned node out and back, and the scale-down in between deletes a running pod. So
# it is not kept with the taints: the cordon rule reads the field, as the scheduler's
# NodeUnschedulable filter does.
UNSCHEDULABLE_TAINT_KEY: Final = "node.kubernetes.io/unschedulable"
# PreferNoSchedule only lowers a node's score; it never rejects a pod (TaintToleration plugin).
SCHEDULING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})

_intern = sys.intern
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    labels: Mapping[str, str]
    # NoSchedule / NoExecute taints other than the readiness ones.
    taints: tuple[Taint, ...]
    unschedulable: bool
    # Ready condition is True and no not-ready / unreachable taint is present.
    ready: bool
    deleting: bool
    # status.allocatable.cpu in cores, exact; 0 when absent or not a quantity (such a node
    # adds nothing to a cores-based count rather than a guess).
    cpu: Fraction = Fraction(0)


_taint_pool: dict[tuple[str, str, str], Taint] = {}
_taints_pool: dict[tuple[Taint, ...], tuple[Taint, ...]] = {}


def _shared(pool: dict[_K, _V], key: _K, make: Callable[[], _V]) -> _V:
    found = pool.get(key)
    if found is None:
        # Sharing is only an optimisation: past the bound the pool starts over.
        if len(pool) >= TAINT_POOL_LIMIT:
            pool.clear()
        found = pool[key] = make()
    return found


def _taint(key: str, value: str, effect: str) -> Taint:
    # Thousands of nodes carry the same few taints; share one object per distinct taint.
    return _shared(
        _taint_pool,
        (key, value, effect),
        lambda: Taint(_intern(key), _intern(value), _intern(effect)),
    )


def project_node(obj: object) -> NodeView | ProjectionError:
    """Reduce a decoded Node to its NodeView, or say why it is not a Node."""
    named = object_name(obj, "Node")
    if isinstance(named, ProjectionError):
        return named
    assert isinstance(obj, Mapping)
    try:
        return _view(obj, named[1])
    except ShapeError as exc:
        return ProjectionError("bad-field", str(exc))


def _view(obj: Mapping[str, Any], name: str) -> NodeView:
    metadata = mapping(obj, "metadata", "metadata")
    raw_labels = string_map(metadata, "labels", "metadata.labels")
    labels = {_intern(k): _intern(v) for k, v in raw_labels.items()}
    spec = mapping(obj, "spec", "spec")
    readiness_taint = False
    taints: list[Taint] = []
    for i, t in enumerate(items(spec, "taints", "spec.taints")):
        effect = string(t, "effect", f"spec.taints[{i}].effect")
        if effect not in SCHEDULING_EFFECTS:
            continue
        key = string(t, "key", f"spec.taints[{i}].key")
        if key in READINESS_TAINT_KEYS:
            readiness_taint = True
            continue
        if key == UNSCHEDULABLE_TAINT_KEY:
            continue
        taints.append(_taint(key, string(t, "value", f"spec.taints[{i}].value"), effect))
    taint_tuple = tuple(taints)
    shared_taints = _shared(_taints_pool, taint_tuple, lambda: taint_tuple)

    ready_condition = False
    status = mapping(obj, "status", "status")
    for i, condition in enumerate(items(status, "conditions", "status.conditions")):
        if string(condition, "type", f"status.conditions[{i}].type") == "Ready":
            ready_condition = (
                string(condition, "status", f"status.conditions[{i}].status") == "True"
            )
            break

    allocatable = mapping(status, "allocatable", "status.allocatable")
    return NodeView(
        name=_intern(name),
        labels=labels,
        taints=shared_taints,
        unschedulable=boolean(spec, "unschedulable", "spec.unschedulable"),
        ready=ready_condition and not readiness_taint,
        deleting=metadata.get("deletionTimestamp") is not None,
        cpu=_cores(allocatable.get("cpu")),
    )


def _cores(raw: object) -> Fraction:
    if not isinstance(raw, str):
        return _NO_CPU
    value = parse_quantity(raw)
    return _NO_CPU if isinstance(value, QuantityError) or value < 0 else value


_NO_CPU: Final = Fraction(0)
