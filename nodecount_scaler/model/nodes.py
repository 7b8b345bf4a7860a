"""The small immutable view of a Node that the service keeps, and its projection from JSON.

Only what eligibility needs is kept (labels, scheduling taints, cordon, readiness,
deletion), like cluster-proportional-autoscaler's trimmed node cache but without dropping
labels and taints. Strings are interned: thousands of nodes share label keys and most values.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# Taints the node lifecycle controller and TaintNodesByCondition admission derive from the
# Ready condition (eligibility.md section 3). They are folded into `NodeView.ready` so the
# readiness grace period covers them too: a Ready flap sets the condition and these taints
# together, and both must be forgiven for the same short while.
READINESS_TAINT_KEYS: Final = frozenset(
    {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
)
UNSCHEDULABLE_TAINT_KEY: Final = "node.kubernetes.io/unschedulable"
# PreferNoSchedule only lowers a node's score; it never rejects a pod (TaintToleration plugin).
SCHEDULING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})

_intern = sys.intern


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


class NodeFormatError(ValueError):
    """A Node object lacks what every Node has (metadata.name); it is skipped."""


_taint_pool: dict[tuple[str, str, str], Taint] = {}
_taints_pool: dict[tuple[Taint, ...], tuple[Taint, ...]] = {}


def _taint(key: str, value: str, effect: str) -> Taint:
    # Thousands of nodes carry the same few taints; share one object per distinct taint.
    ident = (key, value, effect)
    found = _taint_pool.get(ident)
    if found is None:
        found = _taint_pool[ident] = Taint(_intern(key), _intern(value), _intern(effect))
    return found


def project_node(obj: Mapping[str, Any]) -> NodeView:
    """Reduce a decoded Node to its NodeView."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise NodeFormatError("node without metadata.name")
    raw_labels = metadata.get("labels") or {}
    labels = {_intern(str(k)): _intern(str(v)) for k, v in raw_labels.items()}

    spec = obj.get("spec") or {}
    readiness_taint = False
    taints: list[Taint] = []
    for t in spec.get("taints") or ():
        effect = t.get("effect", "")
        if effect not in SCHEDULING_EFFECTS:
            continue
        key = t.get("key", "")
        if key in READINESS_TAINT_KEYS:
            readiness_taint = True
            continue
        taints.append(_taint(key, t.get("value") or "", effect))
    taint_tuple = tuple(taints)
    taint_tuple = _taints_pool.setdefault(taint_tuple, taint_tuple)

    ready_condition = False
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            ready_condition = condition.get("status") == "True"
            break

    return NodeView(
        name=_intern(name),
        labels=labels,
        taints=taint_tuple,
        unschedulable=bool(spec.get("unschedulable", False)),
        ready=ready_condition and not readiness_taint,
        deleting=metadata.get("deletionTimestamp") is not None,
    )
