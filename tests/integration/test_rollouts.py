"""Rollouts on a full cluster (replicas == eligible nodes, required hostname anti-affinity):
`maxSurge: 0, maxUnavailable: 1` rolls out completely; the default strategy (maxSurge 25%)
gets a RolloutWouldStall Warning, and indeed stalls."""

from __future__ import annotations

import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import deployment, events, pending, pods, replicas, running_per_node
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

APP = "nginx-everywhere"


def _target(namespace: str) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"suite": namespace}
    return obj


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0].get("env") or []}


def _rolled_out(cluster: Cluster, namespace: str, names: list[str]) -> bool:
    d = deployment(cluster, namespace, APP)
    status = d.get("status", {})
    want = d["spec"]["replicas"]
    done = (
        status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas") == want
        and status.get("replicas") == want
        and status.get("readyReplicas") == want
        and status.get("availableReplicas") == want
    )
    current = pods(cluster, namespace, APP)
    return (
        done
        and running_per_node(cluster, namespace, APP) == dict.fromkeys(names, 1)
        and all(_env(p).get("ROLLOUT") == "2" for p in current)
    )


def test_zero_surge_rollout_completes_on_a_full_cluster(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    names = nodes.add_many(3, labels={"suite": namespace})
    apply(cluster, _target(namespace))
    scaler = scalers.start("--namespace", namespace)
    wait_until(
        lambda: running_per_node(cluster, namespace, APP) == dict.fromkeys(names, 1),
        timeout=60,
        describe="one Running pod on each of the 3 nodes",
    )
    status = scaler.target(namespace, APP)
    assert status is not None
    assert status["findings"] == []
    old = {p["metadata"]["name"] for p in pods(cluster, namespace, APP)}
    writes = len(scaler.log_events("rescaled"))

    started = time.monotonic()
    cluster.kubectl("-n", namespace, "set", "env", f"deployment/{APP}", "ROLLOUT=2")
    wait_until(
        lambda: _rolled_out(cluster, namespace, names),
        timeout=90,
        describe="every pod replaced by the new revision, Running, one per node",
    )
    took = time.monotonic() - started

    assert not old & {p["metadata"]["name"] for p in pods(cluster, namespace, APP)}
    assert pending(cluster, namespace, APP) == []
    # The rollout is not the scaler's business: no write, no warning.
    assert len(scaler.log_events("rescaled")) == writes
    assert replicas(cluster, namespace, APP) == 3
    assert events(cluster, namespace, "RolloutWouldStall") == []
    print(f"\nmaxSurge 0 rollout of 3 pods on 3 nodes: {took:.1f} s")


def test_default_strategy_warns_rollout_would_stall(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    names = nodes.add_many(2, labels={"suite": namespace})
    obj = _target(namespace)
    del obj["spec"]["strategy"]  # the API default: RollingUpdate, maxSurge 25%
    apply(cluster, obj)
    scaler = scalers.start("--namespace", namespace)

    (warning,) = wait_until(
        lambda: events(cluster, namespace, "RolloutWouldStall"),
        timeout=30,
        describe="a RolloutWouldStall Event",
    )
    assert (warning["type"], warning["involvedObject"]["name"]) == ("Warning", APP)
    assert "maxSurge" in warning["message"]
    wait_until(
        lambda: running_per_node(cluster, namespace, APP) == dict.fromkeys(names, 1),
        timeout=60,
        describe="one Running pod on each of the 2 nodes",
    )
    kinds = [f["kind"] for f in (scaler.target(namespace, APP) or {}).get("findings", [])]
    assert kinds == ["RolloutWouldStall"]

    # The warning is right: the surge pod fits nowhere and no old pod is removed.
    cluster.kubectl("-n", namespace, "set", "env", f"deployment/{APP}", "ROLLOUT=2")
    (stuck,) = wait_until(
        lambda: pending(cluster, namespace, APP), timeout=30, describe="a Pending surge pod"
    )
    time.sleep(2)
    assert pending(cluster, namespace, APP) == [stuck]
    assert running_per_node(cluster, namespace, APP) == dict.fromkeys(names, 1)
    assert all(
        "ROLLOUT" not in _env(p)
        for p in pods(cluster, namespace, APP)
        if p["metadata"]["name"] != stuck
    )
    # Reported once, not on every reconcile.
    assert len(events(cluster, namespace, "RolloutWouldStall")) == 1
