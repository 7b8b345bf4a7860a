"""The scale benchmark's `families` targets and the churn of every profile.

Nodes (bench.scale_mix.Profile) carry a pool (10), a zone (3), a tier (a/b) and a rack
(50) label; pools p8 and p9 are tainted `bench/dedicated=<pool>:NoSchedule`. Targets come
in five families of
selectors, affinities and tolerations, each also excluding one rack, so every target's
(selector, placement) is distinct for up to 50 targets and one node change moves a
realistic subset of them: from about 2 % to 98 % of the nodes per target, about a third
on average, and for one family (nodes-per-replica 2) half the changes move no count.

Churn: one API write per change, in a seeded order: add a Node (created Ready, as a
kubelet registers one), delete one, cordon or uncordon one, add or remove a NoSchedule
taint, move one to another pool or rack. The node count stays around its start value.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bench.scale_mix import Profile
from testkit.builders import deployment

POOLS = 10
ZONES = 3
RACKS = 50
DEDICATED_POOLS = (8, 9)
DEDICATED = "bench/dedicated"
MAINTENANCE = "bench/maintenance"
ANNOTATION = "nodecount-scaler.io/"


def _selector_and_placement(t: int) -> tuple[str, dict[str, Any]]:
    """Family t % 5: the annotation selector and pod-spec placement fields."""
    rack = f"bench/rack!=r{t % RACKS}"
    family = t % 5
    if family == 0:
        return rack, {}
    if family == 1:
        return f"bench/tier=a,{rack}", {"nodeSelector": {"bench/zone": f"z{t % ZONES}"}}
    if family == 2:
        pools = ",".join(f"p{(t + k) % 8}" for k in range(3))
        return f"bench/pool in ({pools}),{rack}", {}
    if family == 3:
        pool = f"p{DEDICATED_POOLS[t % 2]}"
        toleration = {"key": DEDICATED, "operator": "Equal", "value": pool, "effect": "NoSchedule"}
        return f"bench/pool={pool},{rack}", {"tolerations": [toleration]}
    expr = {"key": "bench/zone", "operator": "NotIn", "values": [f"z{t % ZONES}"]}
    terms = {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}
    return f"bench/tier=b,{rack}", {"affinity": affinity}


def target_body(t: int, namespace: str) -> dict[str, Any]:
    """Target t: one pod per eligible node (required hostname anti-affinity, maxSurge 0),
    starting at 0 replicas so the scaler's first write is its start-up answer."""
    app = f"bench-t{t:02d}"
    selector, placement = _selector_and_placement(t)
    annotations = {f"{ANNOTATION}enabled": "true", f"{ANNOTATION}node-selector": selector}
    if t % 5 == 2:
        annotations[f"{ANNOTATION}nodes-per-replica"] = "2"
    if t % 5 == 3:
        annotations[f"{ANNOTATION}min-replicas"] = "1"
    pod_spec = {
        **placement,
        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}],
        "terminationGracePeriodSeconds": 0,
    }
    body = deployment(app, namespace, replicas=0, annotations=annotations, pod_spec=pod_spec)
    # Set by the API server on create (a resourceVersion given there is refused).
    for field_name in ("uid", "resourceVersion"):
        del body["metadata"][field_name]
    return {"apiVersion": "apps/v1", "kind": "Deployment", **body}


@dataclass
class NodeModel:
    labels: dict[str, str]
    cordoned: bool = False
    maintenance: bool = False


@dataclass(frozen=True)
class Op:
    """One churn write: the kind, and the request (method, path, body)."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    content_type: str = "application/merge-patch+json"


@dataclass
class Churn:
    """The seeded sequence of node changes; keeps its own model of the nodes it wrote."""

    nodes: dict[str, NodeModel]
    target_count: int
    kubelet_version: str
    seed: int = 1
    profile: Profile = field(default_factory=lambda: Profile("families"))
    _rng: random.Random = field(init=False)
    _added: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def next_op(self) -> Op:
        kind = self._rng.choice(self.profile.ops)
        if kind == "add-or-delete":
            return self._add() if len(self.nodes) <= self.target_count else self._delete()
        name = self._rng.choice(sorted(self.nodes))
        node = self.nodes[name]
        path = f"/api/v1/nodes/{name}"
        if kind == "cordon":
            node.cordoned = not node.cordoned
            return Op("cordon", "PATCH", path, {"spec": {"unschedulable": node.cordoned}})
        if kind == "taint":
            node.maintenance = not node.maintenance
            taints = self.profile.pool_taints(node.labels)
            if node.maintenance:
                taints.append({"key": MAINTENANCE, "value": "true", "effect": "NoSchedule"})
            if node.cordoned:
                # The node lifecycle controller's taint for a cordoned node: keep it.
                unschedulable = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
                taints.append(unschedulable)
            return Op("taint", "PATCH", path, {"spec": {"taints": taints}})
        key = self._rng.choice(("bench/pool", "bench/rack"))
        if key == "bench/pool":
            # Stay within the untainted pools: a pool label and its taint move together
            # only on creation.
            pools = self.profile.open_pools()
            tainted = self.profile.pool_taints(node.labels)
            value = None if tainted else f"p{self._rng.choice(pools)}"
        else:
            value = f"r{self._rng.randrange(RACKS)}"
        if value is None:
            key, value = "bench/rack", f"r{self._rng.randrange(RACKS)}"
        node.labels[key] = value
        return Op("relabel", "PATCH", path, {"metadata": {"labels": {key: value}}})

    def _add(self) -> Op:
        self._added += 1
        name = f"bn-c{self._added:05d}"
        labels = self.profile.node_labels(self._rng.randrange(10_000))
        self.nodes[name] = NodeModel(labels)
        body = self.profile.node_body(name, labels, self.kubelet_version)
        return Op("add", "POST", "/api/v1/nodes", body, "application/json")

    def _delete(self) -> Op:
        name = self._rng.choice(sorted(self.nodes))
        del self.nodes[name]
        return Op("delete", "DELETE", f"/api/v1/nodes/{name}")
