"""What a scale-down needs to know of a target's pods, and which of them to mark.

A ReplicaSet picks the pods it removes by rank (`ActivePodsWithRanks` in the Kubernetes
controller utilities): after phase and readiness it compares the
`controller.kubernetes.io/pod-deletion-cost` annotation, lowest first. A pod on a cordoned
node is still Ready, so without a lower cost the ReplicaSet may remove a pod on a healthy
node instead; see docs/eligibility.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from nodecount_scaler.model.objects import (
    ProjectionError,
    ShapeError,
    mapping,
    object_name,
    string,
    string_map,
)

DELETION_COST_ANNOTATION: Final = "controller.kubernetes.io/pod-deletion-cost"
# Lower than the default cost of 0, so the ReplicaSet removes these pods first.
LEAVING_NODE_DELETION_COST: Final = "-1000"


@dataclass(frozen=True, slots=True)
class PodView:
    """One of a target's pods, reduced to what steering a scale-down reads."""

    name: str
    node_name: str
    deletion_cost: str | None
    deleting: bool


def project_pod(obj: object) -> PodView | ProjectionError:
    named = object_name(obj, "Pod")
    if isinstance(named, ProjectionError):
        return named
    assert isinstance(obj, Mapping)
    try:
        metadata = mapping(obj, "metadata", "metadata")
        annotations = string_map(metadata, "annotations", "metadata.annotations")
        node_name = string(mapping(obj, "spec", "spec"), "nodeName", "spec.nodeName")
    except ShapeError as exc:
        return ProjectionError("bad-field", str(exc))
    return PodView(
        name=named[1],
        node_name=node_name,
        deletion_cost=annotations.get(DELETION_COST_ANNOTATION),
        deleting=metadata.get("deletionTimestamp") is not None,
    )


@dataclass(frozen=True, slots=True)
class NodePod:
    """A pod listed by the node it runs on: whose it is (namespace, labels) and its view."""

    namespace: str
    labels: Mapping[str, str]
    view: PodView


def project_node_pod(obj: object) -> NodePod | ProjectionError:
    view = project_pod(obj)
    if isinstance(view, ProjectionError):
        return view
    assert isinstance(obj, Mapping)
    metadata = obj["metadata"]
    try:
        labels = string_map(metadata, "labels", "metadata.labels")
    except ShapeError as exc:
        return ProjectionError("bad-field", str(exc))
    return NodePod(str(metadata.get("namespace", "")), dict(labels), view)


def deletion_cost_patches(
    pods: Iterable[PodView], keeps: AbstractSet[str] | Callable[[str], bool]
) -> dict[str, str | None]:
    """Annotation changes that make the pods on nodes that no longer count go first.

    `keeps` says whether a node still counts for the target: its eligible set, or (per
    topology domain) whether the node's domain still has an eligible node. Returns pod
    name -> new pod-deletion-cost, or None to remove a cost this service set earlier on a
    pod whose node has come back. Pods already being deleted are left alone.
    """
    counts = keeps.__contains__ if isinstance(keeps, AbstractSet) else keeps
    changes: dict[str, str | None] = {}
    for pod in pods:
        if pod.deleting:
            continue
        leaving = bool(pod.node_name) and not counts(pod.node_name)
        if leaving and pod.deletion_cost != LEAVING_NODE_DELETION_COST:
            changes[pod.name] = LEAVING_NODE_DELETION_COST
        elif not leaving and pod.deletion_cost == LEAVING_NODE_DELETION_COST:
            changes[pod.name] = None
    return changes


def ordinal(statefulset: str, pod_name: str) -> int | None:
    """The ordinal of a StatefulSet's pod ("web-2" of "web" is 2), or None for another pod."""
    prefix, _, number = pod_name.rpartition("-")
    if prefix != statefulset or not number.isascii() or not number.isdigit() or len(number) > 9:
        return None
    return int(number)


def ordinal_scale_down_problem(
    statefulset: str, pods: Iterable[PodView], keeps: Callable[[str], bool], desired: int
) -> str | None:
    """A StatefulSet scaled down removes its highest ordinals, whatever node they are on, and
    pod-deletion-cost means nothing to it. When that takes a pod from a node that still
    counts while a pod on a node that no longer does stays, say so (a finding, not a fix)."""
    removed, stranded = [], []
    for pod in pods:
        number = ordinal(statefulset, pod.name)
        if number is None or pod.deleting or not pod.node_name:
            continue
        if number >= desired and keeps(pod.node_name):
            removed.append(pod)
        elif number < desired and not keeps(pod.node_name):
            stranded.append(pod)
    if not removed or not stranded:
        return None
    gone = ", ".join(f"{p.name} on {p.node_name}" for p in sorted(removed, key=lambda p: p.name))
    stay = ", ".join(f"{p.name} on {p.node_name}" for p in sorted(stranded, key=lambda p: p.name))
    return (
        f"a StatefulSet removes its highest ordinals: scaling to {desired} removes {gone}, "
        f"on node(s) that still count, while {stay} stay on node(s) that no longer count; "
        "delete those pods (the StatefulSet recreates them where they fit) or scale the "
        "StatefulSet by hand"
    )
