"""The workloads of the scale benchmark at Kubernetes' own size: which labels and taints each
Node carries, which opted-in Deployments exist (in how many namespaces), and which node
changes the churn may make.

Three workloads (`--workload`):

- `families` (the default, bench.scale_workload): 10 equal pools, five families of
  selectors, every target in one namespace; up to 50 distinct targets.
- `mix`: a platform team's cluster. 16 pools of very different sizes (the largest holds 28 %
  of the nodes, the smallest 2.25 %), two of them dedicated and two GPU pools, both
  tainted; 3 zones, 50 racks. Targets live 10 to a namespace (2,000 targets: 200
  namespaces). One in a hundred runs on every node (tolerates everything: a log shipper);
  the rest select one pool (or two) by annotation, nodeSelector or required node
  affinity, tolerate the taint of a tainted pool, narrow to a zone or a tier, and each
  excludes one rack. A node change moves the count of the everywhere-targets and of the
  targets of its pool: about 1 in 10 of the targets, not all.
- `all`: the worst case. No pool taints; every target counts every schedulable node, and
  the churn only makes changes that move every count (add, delete, cordon, taint).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devcluster.nodes import kwok_node

PREFIX = "nodecount-scaler.io/"
DEDICATED = "bench/dedicated"
GPU = "nvidia.com/gpu"
BENCH_LABEL = "nodecount-bench/target"
PER_NAMESPACE = 10
# Pool -> share of the nodes in ten-thousandths. p8, p9 dedicated; p10, p11 GPU.
MIX_POOLS: tuple[int, ...] = (2800, 1400, 1000, 500, 500, 500, 500, 500, 400, 400, 300, 300)
MIX_POOLS += (225, 225, 225, 225)
MIX_DEDICATED = (8, 9)
MIX_GPU = (10, 11)
MIX_OPEN = tuple(p for p in range(len(MIX_POOLS)) if p not in MIX_DEDICATED + MIX_GPU)
RACKS = 50
ZONES = 3


def _cumulative() -> list[int]:
    return list(itertools.accumulate(MIX_POOLS))


_BOUNDS = _cumulative()


def mix_pool(index: int) -> int:
    """The pool of node `index`: spread over the shares, neighbours in different pools."""
    slot = (index * 7919) % 10_000
    return next(p for p, bound in enumerate(_BOUNDS) if slot < bound)


@dataclass(frozen=True)
class Profile:
    """One benchmark workload: node labels and taints, targets, the churn's choices."""

    name: str

    # -- nodes --------------------------------------------------------------------------

    def node_labels(self, index: int) -> dict[str, str]:
        pool = mix_pool(index) if self.name == "mix" else index % 10
        return {
            "bench/pool": f"p{pool}",
            "bench/zone": f"z{index % ZONES}",
            "bench/tier": "a" if index % 4 else "b",
            "bench/rack": f"r{index % RACKS}",
        }

    def pool_taints(self, labels: Mapping[str, str]) -> list[dict[str, str]]:
        pool = int(labels["bench/pool"][1:])
        if self.name == "all":
            return []
        if self.name == "families":
            dedicated = pool in (8, 9)
        else:
            dedicated = pool in MIX_DEDICATED
            if pool in MIX_GPU:
                return [{"key": GPU, "value": "present", "effect": "NoSchedule"}]
        if dedicated:
            return [{"key": DEDICATED, "value": f"p{pool}", "effect": "NoSchedule"}]
        return []

    def open_pools(self) -> tuple[int, ...]:
        """Pools a node may be moved between by a relabel (no taint goes with them)."""
        return tuple(range(8)) if self.name == "families" else MIX_OPEN

    @property
    def ops(self) -> tuple[str, ...]:
        if self.name == "all":
            # A relabel moves no count of a target that selects nothing.
            return ("add-or-delete", "add-or-delete", "cordon", "taint")
        return ("add-or-delete", "add-or-delete", "cordon", "taint", "relabel")

    def node_body(self, name: str, labels: Mapping[str, str], version: str) -> dict[str, Any]:
        """A kwok Node that is Ready from its creation (nodes may set status on create)."""
        body = kwok_node(name, version, labels, self.pool_taints(labels))
        body["status"]["conditions"] = [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "bench"}
        ]
        body["status"]["phase"] = "Running"
        return body

    # -- targets ------------------------------------------------------------------------

    def namespace(self, t: int, default: str) -> str:
        if self.name == "families":
            return default
        return f"{default}-{t // PER_NAMESPACE:03d}"

    def target(self, t: int, default_namespace: str) -> dict[str, Any]:
        """Target t as the API takes it: at 0 replicas, so its first write is the answer."""
        namespace = self.namespace(t, default_namespace)
        annotations: dict[str, str] = {}
        placement: dict[str, Any] = {}
        if self.name != "all":
            annotations, placement = _mix_family(t)
        return deployment_body(f"bench-t{t:04d}", namespace, annotations, placement)


def _mix_family(t: int) -> tuple[dict[str, str], dict[str, Any]]:
    """Annotations (without the opt-in) and pod-spec placement of mix target t."""
    rack = f"bench/rack!=r{t % RACKS}"
    if t % 100 == 0:
        return {f"{PREFIX}node-selector": rack}, {"tolerations": [{"operator": "Exists"}]}
    family = t % 10
    pool = f"p{MIX_OPEN[(t // 10) % len(MIX_OPEN)]}"
    other = f"p{MIX_OPEN[(t // 10 + 1) % len(MIX_OPEN)]}"
    selector = {f"{PREFIX}node-selector": f"bench/pool={pool},{rack}"}
    if family in (0, 1, 2):
        return selector, {}
    if family == 3:
        zone = {"nodeSelector": {"bench/pool": pool, "bench/zone": f"z{t % ZONES}"}}
        return {f"{PREFIX}node-selector": rack}, zone
    if family == 4:
        return {f"{PREFIX}node-selector": rack}, _affinity("bench/pool", "In", [pool, other])
    if family in (5, 6):
        tainted = MIX_DEDICATED if family == 5 else MIX_GPU
        chosen = f"p{tainted[(t // 10) % 2]}"
        key, value = (DEDICATED, chosen) if family == 5 else (GPU, "present")
        toleration = {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
        selector = {f"{PREFIX}node-selector": f"bench/pool={chosen},{rack}"}
        return selector, {"tolerations": [toleration]}
    if family == 7:
        selector = {f"{PREFIX}node-selector": f"bench/pool={pool},bench/tier=a,{rack}"}
        return {**selector, f"{PREFIX}nodes-per-replica": "2"}, {}
    if family == 8:
        placement = _affinity("bench/zone", "NotIn", [f"z{t % ZONES}"])
        return {**selector, f"{PREFIX}min-replicas": "1"}, placement
    return {**selector, f"{PREFIX}max-replicas": "40"}, {}


def _affinity(key: str, operator: str, values: list[str]) -> dict[str, Any]:
    expression = {"key": key, "operator": operator, "values": values}
    terms = {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}}


def deployment_body(
    name: str, namespace: str, annotations: Mapping[str, str], placement: Mapping[str, Any]
) -> dict[str, Any]:
    """An opted-in Deployment at 0 replicas whose pods spread one per node (required
    hostname anti-affinity, maxSurge 0)."""
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": name}}, "topologyKey": HOSTNAME}
            ]
        }
    }
    affinity = {**dict(placement.get("affinity") or {}), **anti}
    pod_spec = {
        **placement,
        "affinity": affinity,
        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}],
        "terminationGracePeriodSeconds": 0,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {BENCH_LABEL: "true"},
            "annotations": {f"{PREFIX}enabled": "true", **annotations},
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


HOSTNAME = "kubernetes.io/hostname"
