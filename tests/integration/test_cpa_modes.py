"""cluster-proportional-autoscaler's scaling modes on the real control plane: cores (kwok nodes
with different allocatable CPU), a ladder and prevent-single-point-failure follow node
changes; and `migrate-cpa` on the ConfigMaps of CPA's README examples yields annotations
whose `plan` equals CPA's own arithmetic for the same nodes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, plan

P = "nodecount-scaler.io/"
SCALER = str(Path(sys.executable).with_name("nodecount-scaler"))

# CPA's README examples (kubernetes-sigs/cluster-proportional-autoscaler, "Control patterns
# and ConfigMap formats").
LINEAR = {
    "coresPerReplica": 2,
    "nodesPerReplica": 1,
    "min": 1,
    "max": 100,
    "preventSinglePointFailure": True,
    "includeUnschedulableNodes": True,
}
LADDER = {
    "coresToReplicas": [[1, 1], [64, 3], [512, 5], [1024, 7], [2048, 10], [4096, 15]],
    "nodesToReplicas": [[1, 1], [2, 2]],
}


def target(namespace: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A Deployment confined to this test's nodes, with no one-per-node constraint (cores
    modes can ask for more replicas than nodes)."""
    obj = nginx_everywhere(
        namespace, name, **{P + "node-selector": f"suite={namespace}", **annotations}
    )
    spec = obj["spec"]["template"]["spec"]
    spec["nodeSelector"] = {"suite": namespace}
    spec.pop("affinity", None)
    obj["spec"]["replicas"] = 1
    return obj


def cpa_linear(nodes: int, cores: int, p: dict[str, Any]) -> int:
    """CPA's linear controller, from its README: max of both ratios, min/max, then SPOF."""
    wanted: int = max(
        math.ceil(cores / p["coresPerReplica"]), math.ceil(nodes / p["nodesPerReplica"])
    )
    wanted = min(max(wanted, int(p.get("min") or 1)), int(p.get("max") or wanted))
    if p.get("preventSinglePointFailure") and nodes > 1:
        wanted = max(wanted, 2)
    return wanted


def cpa_ladder(nodes: int, cores: int, p: dict[str, Any]) -> int:
    """CPA's ladder controller: the step with the largest threshold <= count, larger wins."""

    def step(table: list[list[int]], count: int) -> int:
        chosen = table[0][1]
        for threshold, value in table:
            if count >= threshold:
                chosen = value
        return chosen

    return max(step(p["coresToReplicas"], cores), step(p["nodesToReplicas"], nodes))


def test_cores_ladder_and_spof_follow_node_changes(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    suite = {"suite": namespace}
    small = nodes.add(labels=suite, allocatable={"cpu": "2", "memory": "8Gi", "pods": "110"})
    nodes.add(labels=suite, allocatable={"cpu": "3920m", "memory": "8Gi", "pods": "110"})
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                target(namespace, "cores", {P + "cores-per-replica": "1.5"}),
                target(namespace, "ladder", {P + "nodes-to-replicas": "[[0,1],[2,3],[3,5]]"}),
                target(
                    namespace,
                    "spof",
                    {P + "nodes-per-replica": "10", P + "prevent-single-point-failure": "true"},
                ),
            ],
        },
    )
    scaler = scalers.start("--namespace", namespace)

    def counts(expected: dict[str, int]) -> bool:
        return {n: replicas(cluster, namespace, n) for n in expected} == expected

    # 5.92 cores / 1.5 -> 4; 2 nodes on the ladder -> 3; 2 nodes, spof -> 2.
    wait_until(lambda: counts({"cores": 4, "ladder": 3, "spof": 2}), timeout=60, describe="2 nodes")
    big = nodes.add(labels=suite, allocatable={"cpu": "8", "memory": "8Gi", "pods": "110"})
    # 13.92 / 1.5 -> 10; 3 nodes -> 5.
    wait_until(
        lambda: counts({"cores": 10, "ladder": 5, "spof": 2}), timeout=60, describe="3 nodes"
    )
    nodes.delete(big)
    nodes.delete(small)
    # 3.92 / 1.5 -> 3; 1 node -> 1; a single node: no second replica to prevent a SPOF with.
    wait_until(lambda: counts({"cores": 3, "ladder": 1, "spof": 1}), timeout=60, describe="1 node")
    modes = {
        n: (scaler.target(namespace, n) or {}).get("mode") for n in ("cores", "ladder", "spof")
    }
    assert modes == {"cores": "linear cores", "ladder": "ladder nodes", "spof": "linear nodes"}


def migrate(
    namespace: str, name: str, mode: str, params: dict[str, Any], tmp: Path
) -> dict[str, Any]:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "dns-autoscaler", "namespace": "kube-system"},
        "data": {mode: json.dumps(params)},
    }
    path = tmp / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(configmap))
    result = subprocess.run(
        [
            SCALER,
            "migrate-cpa",
            "-f",
            str(path),
            "--target",
            f"deployment/{name}",
            "--namespace",
            namespace,
            "-o",
            "patch",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("#"))
    patch: dict[str, Any] = json.loads(body)
    return patch


def test_migrated_cpa_examples_plan_what_cpa_computes(
    cluster: Cluster, namespace: str, nodes: NodeFactory, tmp_path: Path
) -> None:
    suite = {"suite": namespace}
    cpus = ["4", "4", "8"]
    for cpu in cpus:
        nodes.add(labels=suite, allocatable={"cpu": cpu, "memory": "8Gi", "pods": "110"})
    node_count, cores = len(cpus), sum(int(c) for c in cpus)
    for name, mode, params, expected in (
        ("linear", "linear", LINEAR, cpa_linear(node_count, cores, LINEAR)),
        ("ladder", "ladder", LADDER, cpa_ladder(node_count, cores, LADDER)),
    ):
        obj = target(namespace, name, {})
        del obj["metadata"]["annotations"][P + "enabled"]
        apply(cluster, obj)
        patch = migrate(namespace, name, mode, params, tmp_path)
        cluster.kubectl(
            "-n", namespace, "patch", "deployment", name, "--type=merge", "-p", json.dumps(patch)
        )
        # The migration annotates every node; confine the count to this test's nodes.
        cluster.kubectl(
            "-n",
            namespace,
            "annotate",
            "--overwrite",
            f"deployment/{name}",
            f"{P}node-selector=suite={namespace}",
        )
        by_name = {t["name"]: t for t in plan(cluster, "--namespace", namespace)}
        assert by_name[name]["desired"] == expected, (name, by_name[name], expected)
