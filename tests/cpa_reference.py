"""cluster-proportional-autoscaler's replica count, written independently of nodecount_scaler
from CPA v1.10's source (pkg/autoscaler/controller/linearcontroller, laddercontroller,
k8sclient), for side-by-side tests. Not the real CPA: the Go module proxy serves no version
of github.com/kubernetes-sigs/cluster-proportional-autoscaler here, so the binary cannot be
built; this is its arithmetic, in float64 where CPA uses float64.

- Nodes: those matching --nodelabels (a server-side label selector). Total counts every one;
  schedulable counts those neither cordoned (spec.unschedulable) nor NotReady (the Ready
  condition not True). Cores: the allocatable CPU of the same nodes, summed as Kubernetes
  quantities and rounded up to a whole number (Quantity.Value()).
- includeUnschedulableNodes: the total counts instead of the schedulable ones.
- linear: per term ceil(float64(count) / perReplica) clamped to [min (at least 1), max (0:
  none)], 1 for an unused term (perReplica 0); preventSinglePointFailure raises the nodes
  term to 2 when more than one node counts; the larger term wins.
- ladder: per table, the replicas of the last step whose threshold <= count (the first
  step's below them all; an empty table gives 0); the larger wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from nodecount_scaler.model.quantity import parse_quantity


@dataclass(frozen=True)
class Counts:
    nodes: int
    cores: Fraction  # exact, before CPA's rounding up


def _ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _cpu(node: Mapping[str, Any]) -> Fraction:
    raw = ((node.get("status") or {}).get("allocatable") or {}).get("cpu", "0")
    value = parse_quantity(raw)
    assert isinstance(value, Fraction), raw
    return value


def cluster_counts(nodes: Iterable[Mapping[str, Any]], include_unschedulable: bool) -> Counts:
    """What CPA's GetClusterStatus hands its controller, cores not yet rounded."""
    chosen = [
        n
        for n in nodes
        if include_unschedulable or (not (n.get("spec") or {}).get("unschedulable") and _ready(n))
    ]
    return Counts(len(chosen), sum((_cpu(n) for n in chosen), Fraction(0)))


def _linear_term(count: int, per_replica: float, low: int, high: int) -> int:
    if per_replica == 0:
        return 1
    wanted = math.ceil(float(count) / per_replica)
    if high:
        wanted = min(high, wanted)
    return max(low, wanted)


def linear(counts: Counts, params: Mapping[str, Any], *, exact: bool = False) -> int:
    """CPA's linear controller; `exact`: with exact cores and exact division instead (what
    nodecount-scaler computes), to name a float64 or rounding difference."""
    cores: Fraction | int = counts.cores if exact else math.ceil(counts.cores)
    low, high = max(int(params.get("min") or 0), 1), int(params.get("max") or 0)

    def term(count: Fraction | int, per: object) -> int:
        if not per:
            return 1
        if exact:
            wanted = math.ceil(Fraction(count) / Fraction(str(per)))
            return max(low, min(high, wanted) if high else wanted)
        return _linear_term(int(count), float(str(per)), low, high)

    from_cores = term(cores, params.get("coresPerReplica"))
    from_nodes = term(counts.nodes, params.get("nodesPerReplica"))
    if params.get("preventSinglePointFailure") and counts.nodes > 1 and from_nodes < 2:
        from_nodes = 2
    return max(from_cores, from_nodes)


def _step(table: list[list[int]], count: Fraction | int) -> int:
    if not table:
        return 0
    ordered = sorted(table, key=lambda s: s[0])
    chosen = ordered[0][1]
    for threshold, replicas in ordered:
        if count >= threshold:
            chosen = replicas
    return chosen


def ladder(counts: Counts, params: Mapping[str, Any], *, exact: bool = False) -> int:
    cores: Fraction | int = counts.cores if exact else math.ceil(counts.cores)
    from_cores = _step(params.get("coresToReplicas") or [], cores)
    from_nodes = _step(params.get("nodesToReplicas") or [], counts.nodes)
    return max(from_cores, from_nodes)


def replicas(
    mode: str, params: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]], *, exact: bool = False
) -> int:
    counts = cluster_counts(nodes, bool(params.get("includeUnschedulableNodes")))
    return (linear if mode == "linear" else ladder)(counts, params, exact=exact)
