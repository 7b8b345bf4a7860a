"""The node facts that watch events flip (cordon, readiness, maintenance), written into a
node's JSON as the real components write them (taints, unschedulable, Ready condition)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from testkit.builders import taint

Json = dict[str, Any]

T0: Final = datetime(2026, 5, 1, 8, 0, 0, tzinfo=UTC)
POOL_COUNT: Final = 20
SPOT_POOLS: Final = range(10, 15)  # PreferNoSchedule spot taint
DEDICATED_POOLS: Final = range(15, 18)  # custom NoSchedule taint dedicated=<pool>
GPU_POOLS: Final = range(18, 20)  # custom NoSchedule taint nvidia.com/gpu=present
MAINTENANCE_TAINT: Final = {"key": "example.com/maintenance", "value": "scheduled"}
CORDON_TAINT: Final = taint("node.kubernetes.io/unschedulable")
NOT_READY_TAINTS: Final = (
    taint("node.kubernetes.io/not-ready"),
    taint("node.kubernetes.io/not-ready", "NoExecute"),
)


def ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class NodeFacts:
    """The mutable facts events flip; the rest of a node is fixed at generation."""

    cordoned: bool
    ready: bool
    maintenance: bool


def apply_facts(node: Json, facts: NodeFacts) -> None:
    """Write cordon / readiness / maintenance into the node as the real components do."""
    spec = node["spec"]
    name = node["metadata"]["name"]
    pool = node["metadata"]["labels"]["pool"]
    taints: list[Json] = []
    pool_index = int(pool[1:])
    if pool_index in DEDICATED_POOLS:
        taints.append(taint("dedicated", "NoSchedule", pool))
    if pool_index in GPU_POOLS:
        taints.append(taint("nvidia.com/gpu", "NoSchedule", "present"))
    if pool_index in SPOT_POOLS:
        taints.append(taint("cloud.google.com/gke-spot", "PreferNoSchedule", "true"))
    if facts.maintenance:
        taints.append({**MAINTENANCE_TAINT, "effect": "NoExecute", "timeAdded": ts(T0)})
    if facts.cordoned:
        taints.append({**CORDON_TAINT, "timeAdded": ts(T0)})
        spec["unschedulable"] = True
    else:
        spec.pop("unschedulable", None)
    if not facts.ready:
        taints.extend({**t, "timeAdded": ts(T0)} for t in NOT_READY_TAINTS)
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    for condition in node["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "True" if facts.ready else "False"
            condition["reason"] = "KubeletReady" if facts.ready else "KubeletNotReady"
    node["metadata"]["annotations"]["example.com/facts"] = f"{name}:{int(facts.cordoned)}"


def facts_of(node: Json) -> NodeFacts:
    spec = node["spec"]
    taint_keys = {t["key"] for t in spec.get("taints") or ()}
    return NodeFacts(
        cordoned=bool(spec.get("unschedulable")),
        ready="node.kubernetes.io/not-ready" not in taint_keys,
        maintenance=MAINTENANCE_TAINT["key"] in taint_keys,
    )
