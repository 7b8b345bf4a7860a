"""What a scale-down needs to know of a target's pods, and which of them to mark.

A ReplicaSet picks the pods it removes by rank (`ActivePodsWithRanks` in the Kubernetes
controller utilities): after phase and readiness it compares the
`controller.kubernetes.io/pod-deletion-cost` annotation, lowest first. A pod on a cordoned
node is still Ready, so without a lower cost the ReplicaSet may remove a pod on a healthy
node instead; see docs/eligibility.md. Counting topology domains, a node relabelled into
another domain takes its pod along: that domain then holds two, and one of them is the pod
to remove, not the only pod of a domain that still counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final, NamedTuple

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


# A node's topology domain for a target (the value of its counted key), None without one.
DomainOf = Callable[[str], str | None]


def deletion_cost_patches(
    pods: Iterable[PodView],
    keeps: AbstractSet[str] | Callable[[str], bool],
    domain_of: DomainOf | None = None,
) -> dict[str, str | None]:
    """Annotation changes that make the surplus pods (`surplus_pods`) go first.

    `keeps` says whether a node still counts for the target: its eligible set, or (per
    topology domain) whether the node's domain still has an eligible node; `domain_of`,
    counting domains, names a node's domain. Returns pod name -> new pod-deletion-cost, or
    None to remove a cost this service set earlier on a pod that is no longer surplus (its
    node came back). Pods already being deleted are left alone.
    """
    pods = list(pods)
    counts = keeps.__contains__ if isinstance(keeps, AbstractSet) else keeps
    surplus = surplus_pods(pods, counts, domain_of)
    changes: dict[str, str | None] = {}
    for pod in pods:
        if pod.deleting:
            continue
        if pod.name in surplus and pod.deletion_cost != LEAVING_NODE_DELETION_COST:
            changes[pod.name] = LEAVING_NODE_DELETION_COST
        elif pod.name not in surplus and pod.deletion_cost == LEAVING_NODE_DELETION_COST:
            changes[pod.name] = None
    return changes


def surplus_pods(
    pods: Iterable[PodView], counts: Callable[[str], bool], domain_of: DomainOf | None = None
) -> set[str]:
    """The pods a scale-down should remove first: those on nodes that no longer count, and,
    with `domain_of`, every pod but one of a domain that holds several (a node relabelled
    into a domain that had a pod already). The one kept is one not marked yet, so a repeated
    scale-down moves no mark; among equals the first by name."""
    surplus: set[str] = set()
    by_domain: dict[str, list[PodView]] = defaultdict(list)
    for pod in pods:
        if pod.deleting or not pod.node_name:
            continue
        if not counts(pod.node_name):
            surplus.add(pod.name)
        elif domain_of is not None and (domain := domain_of(pod.node_name)) is not None:
            by_domain[domain].append(pod)
    for group in by_domain.values():
        keep = min(group, key=lambda p: (p.deletion_cost == LEAVING_NODE_DELETION_COST, p.name))
        surplus.update(p.name for p in group if p is not keep)
    return surplus


class DomainCheck(NamedTuple):
    """Whether the pods had settled, and what is wrong with where they are (None: nothing)."""

    settled: bool
    problem: str | None = None


def domain_check(
    pods: Collection[PodView],
    replicas: int,
    counts: Callable[[str], bool],
    label: str,
    counted: Collection[str],
    domain_of: DomainOf,
) -> DomainCheck:
    """Whether every counted domain (value of `label`) holds a pod of the target. Not
    settled while a pod is pending or being deleted, or the controller has not yet made
    `replicas` of them: the scheduler may still fill a domain. Settled with a domain
    empty while another holds several is for good: the scheduler never moves a running pod,
    and anti-affinity kept the pod that made up the count out of the empty domain."""
    if len(pods) != replicas or any(p.deleting or not p.node_name for p in pods):
        return DomainCheck(settled=False)
    held: dict[str, list[PodView]] = defaultdict(list)
    for pod in pods:
        domain = domain_of(pod.node_name)
        if domain is not None and counts(pod.node_name):
            held[domain].append(pod)
    empty = sorted(d for d in counted if d not in held)
    if not empty:
        return DomainCheck(settled=True)
    crowded = {d: sorted(ps, key=lambda p: p.name) for d, ps in sorted(held.items()) if len(ps) > 1}
    doubled = "; ".join(
        f"{label}={d} holds {len(ps)} ({', '.join(f'{p.name} on {p.node_name}' for p in ps)})"
        for d, ps in crowded.items()
    )
    return DomainCheck(
        settled=True,
        problem=(
            f"{', '.join(f'{label}={d}' for d in empty)} counts but holds no pod"
            + (f", while {doubled}" if doubled else "")
            + ": the scheduler never moves a running pod; delete one of a domain that holds "
            "several and its controller recreates it where it fits"
        ),
    )


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
