"""The soak's cluster: kwok nodes in pools, well-behaved targets in one namespace, hostile
ones in another, two `nodecount-scaler run` replicas with leader election watching both,
and what each good target's replicas should be, computed from the API's own objects with the
package's model (the soak checks that the running processes keep up, not the rules)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from devcluster import Cluster
from devcluster.credentials import metrics_reader_token
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess, fast_election
from devcluster.testing import NodeFactory
from nodecount_scaler.model.eligibility import is_eligible
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.policy import desired_replicas
from nodecount_scaler.model.targets import TargetView, project_target
from testkit.workloads import nginx_everywhere

P: Final = "nodecount-scaler.io/"
LEASE: Final = "nodecount-scaler"
REPLICA_CAP: Final = 1000  # --replica-cap default
# Open descriptors allowed each replica, as in a container (the slow-loris load aims at it).
FD_LIMIT: Final = 1024
# Nodes labelled into each pool at the start; the rest of the nodes are in no pool.
POOLS: Final = {"a": 12, "b": 12, "gpu": 6}
# Good target -> its annotations ({suite} is the suite label's value). Replica counts stay
# in the tens: the soak is about the service, not about thousands of kwok pods.
GOOD: Final[Mapping[str, Mapping[str, str]]] = {
    "every-20": {P + "node-selector": "suite={suite}", P + "nodes-per-replica": "20"},
    "pool-a": {P + "node-selector": "suite={suite},pool=a"},
    "pool-b": {P + "node-selector": "suite={suite},pool=b", P + "min-replicas": "2"},
    "gpu": {P + "node-selector": "suite={suite},pool=gpu"},
    "not-a-10": {
        P + "node-selector": "suite={suite},pool notin (a)",
        P + "nodes-per-replica": "10",
    },
    "ab-max-15": {P + "node-selector": "suite={suite},pool in (a,b)", P + "max-replicas": "15"},
}


@dataclass
class Soak:
    """The cluster, its namespaces, the node names by pool ("" for none), the scalers."""

    cluster: Cluster
    good: str
    hostile: str
    nodes: NodeFactory
    pools: dict[str, list[str]] = field(default_factory=dict)
    scalers: list[ScalerProcess] = field(default_factory=list)
    # Targets that select no node, so /metrics and /status are as large as a big cluster's.
    filler: str = ""
    # A reader of the metrics (the replicas serve them as shipped: HTTPS, delegated auth).
    token_file: Path | None = None

    @property
    def suite(self) -> dict[str, str]:
        return {"suite": self.good}

    def add_nodes(self, count: int, pool: str, *, ready_wait: bool = True) -> list[str]:
        labels = {**self.suite, **({"pool": pool} if pool else {})}
        names = self.nodes.add_many(count, labels=labels, ready_wait=ready_wait)
        self.pools.setdefault(pool, []).extend(names)
        return names

    def delete_node(self, name: str) -> None:
        self.nodes.delete(name)
        for members in self.pools.values():
            if name in members:
                members.remove(name)

    def all_nodes(self) -> list[str]:
        return [n for members in self.pools.values() for n in members]

    def pick(self, count: int, rng: random.Random, *, keep: int = 6) -> list[str]:
        """`count` random nodes, never leaving a pool with fewer than `keep`."""
        chosen: list[str] = []
        for pool in rng.sample(sorted(self.pools), len(self.pools)):
            spare = [n for n in self.pools[pool] if n not in chosen]
            while spare and len(chosen) < count and len(self.pools[pool]) - len(chosen) > keep:
                chosen.append(spare.pop(rng.randrange(len(spare))))
        return chosen[:count]

    def lease(self) -> dict[str, Any]:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.good}/leases/{LEASE}"
        spec: dict[str, Any] = (self.cluster.api.get_or_none(path) or {}).get("spec", {})
        return spec


def create_target(cluster: Cluster, namespace: str, name: str, notes: Mapping[str, str]) -> None:
    obj = nginx_everywhere(namespace, name, **notes)
    obj["spec"]["replicas"] = 1
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", obj)


def create_filler(cluster: Cluster, namespace: str, count: int) -> None:
    """`count` targets at 0 replicas whose selector matches no node."""

    def create(i: int) -> None:
        obj = nginx_everywhere(namespace, f"f{i:04d}", **{P + "node-selector": "soak-none=yes"})
        obj["spec"]["replicas"] = 0
        cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", obj)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(count)))


def set_up(cluster: Cluster, nodes: int, workdir: Path, filler: int = 0) -> Soak:
    """Namespaces, `nodes` nodes (the pools first, Ready; the rest while kwok catches up),
    the good targets, `filler` targets that select nothing, and two scalers with leader
    election over the three namespaces, serving /metrics and /status as shipped (HTTPS,
    delegated authentication) to a reader whose token is in `token_file`."""
    soak = Soak(
        cluster,
        cluster.create_namespace("soak-good"),
        cluster.create_namespace("soak-hostile"),
        NodeFactory(cluster, "soak"),
        filler=cluster.create_namespace("soak-filler"),
        token_file=workdir / "reader-token",
    )
    assert soak.token_file is not None
    metrics_reader_token(cluster.api, soak.good, soak.token_file, "reader")
    create_filler(cluster, soak.filler, filler)
    for pool, count in POOLS.items():
        soak.add_nodes(count, pool)
    soak.add_nodes(nodes - sum(POOLS.values()), "", ready_wait=False)
    for name, notes in GOOD.items():
        filled = {k: v.format(suite=soak.good) for k, v in notes.items()}
        create_target(cluster, soak.good, name, filled)
    factory = ScalerFactory(cluster.kubeconfig, workdir)
    scope = ("--namespace", soak.good, "--namespace", soak.hostile, "--namespace", soak.filler)
    election = fast_election(soak.good)
    soak.scalers = [
        factory.start(*scope, *election, fd_limit=FD_LIMIT, secure=True, wait_ready=False)
        for _ in range(2)
    ]
    for scaler in soak.scalers:
        scaler.token = soak.token_file.read_text().strip()
        scaler.wait_ready(timeout=120)
    wait_until(
        lambda: ready_nodes(cluster, soak.good) >= nodes, 300, interval=2, describe="nodes Ready"
    )
    return soak


def ready_nodes(cluster: Cluster, suite: str) -> int:
    return sum(1 for v in node_views(cluster, suite) if v.ready)


def node_views(cluster: Cluster, suite: str) -> list[NodeView]:
    items = cluster.api.get(f"/api/v1/nodes?labelSelector=suite%3D{suite}")["items"]
    return [v for v in map(project_node, items) if isinstance(v, NodeView)]


def _desired(view: TargetView, nodes: list[NodeView]) -> int | None:
    config, placement = view.config, view.placement
    if config is None or placement is None:
        return None
    eligible = sum(1 for n in nodes if is_eligible(n, config, placement, n.ready))
    return desired_replicas(eligible, config, REPLICA_CAP)


def replicas_and_expected(soak: Soak) -> dict[str, tuple[int, int | None]]:
    """Each good target's spec.replicas and the count the model gives for the nodes the
    API holds now (one LIST of each)."""
    nodes = node_views(soak.cluster, soak.good)
    path = f"/apis/apps/v1/namespaces/{soak.good}/deployments"
    found: dict[str, tuple[int, int | None]] = {}
    for obj in soak.cluster.api.get(path)["items"]:
        name = obj["metadata"]["name"]
        view = project_target(obj)
        if name in GOOD and isinstance(view, TargetView):
            found[name] = (int(obj["spec"].get("replicas", 1)), _desired(view, nodes))
    return found
