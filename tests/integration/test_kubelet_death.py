"""A node whose kubelet dies stops counting once `--unready-grace` has run out after it
turned NotReady; a NotReady blip shorter than the grace writes nothing at all.

`stop_kubelet`: kwok stops renewing the node's Lease, and after the cluster's
node-monitor grace period the node lifecycle controller marks it Ready=Unknown and taints
it unreachable (see devcluster/cluster.py)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import pods, replicas, running_per_node
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, log_time, replica_writes

APP = "nginx-everywhere"


def _deploy(cluster: Cluster, namespace: str) -> dict[str, str]:
    """The article's Deployment, counting and placing only this test's nodes."""
    label = {"suite": namespace}
    obj = nginx_everywhere(namespace, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = label
    apply(cluster, obj)
    return label


def _ready_transition(cluster: Cluster, node: str) -> tuple[str, float]:
    """The node's Ready condition status and lastTransitionTime (epoch seconds)."""
    found = cluster.get_node(node)
    assert found is not None
    for c in found["status"]["conditions"]:
        if c["type"] == "Ready":
            stamp = dt.datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
            return str(c["status"]), stamp.timestamp()
    raise AssertionError(f"node {node} has no Ready condition")


def _scaler_scale_writes(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """Audit-log replica writes made by nodecount-scaler in the namespace."""
    return replica_writes(cluster, namespace)


def _wait_everywhere(cluster: Cluster, namespace: str, names: list[str], describe: str) -> None:
    wait_until(
        lambda: running_per_node(cluster, namespace, APP) == dict.fromkeys(names, 1),
        timeout=60,
        describe=describe,
    )


def test_dead_kubelet_node_is_excluded_after_the_grace(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    grace = 5.0
    label = _deploy(cluster, namespace)
    names = nodes.add_many(3, labels=label)
    scaler = scalers.start("--namespace", namespace, "--unready-grace", str(grace))
    _wait_everywhere(cluster, namespace, names, "one Running pod on each of the 3 nodes")

    dead, live = names[0], names[1:]
    (victim,) = [
        p["metadata"]["name"]
        for p in pods(cluster, namespace, APP)
        if p["spec"]["nodeName"] == dead
    ]
    before = len(scaler.log_events("rescaled"))
    stopped_at = time.time()
    nodes.stop_kubelet(dead)

    wait_until(
        lambda: replicas(cluster, namespace, APP) == 2,
        timeout=cluster.node_monitor_grace_period + cluster.node_monitor_period + grace + 60,
        describe="2 replicas after the kubelet died",
    )
    write = scaler.wait_log("rescaled", before + 1)[before]
    assert (write["from"], write["to"], write["eligible"]) == (3, 2, 2)
    status, unready_at = _ready_transition(cluster, dead)
    assert status != "True"
    written_at = log_time(write)
    # lastTransitionTime has whole seconds: allow 1 s below the grace.
    assert grace - 1.0 <= written_at - unready_at <= grace + 5.0, (
        f"scale write {written_at - unready_at:.1f}s after the node turned NotReady"
    )
    marked = [
        line
        for line in scaler.log_events("set pod-deletion-cost")
        if line["pod"] == victim and line["cost"] == "-1000"
    ]
    assert marked
    assert log_time(marked[0]) <= written_at
    _wait_everywhere(cluster, namespace, live, "the pods on the 2 live nodes keep running")

    print(
        f"\nkubelet stopped -> node NotReady: {unready_at - stopped_at:.1f} s "
        f"(node-monitor-grace-period {cluster.node_monitor_grace_period} s); "
        f"NotReady -> scale write: {written_at - unready_at:.1f} s (--unready-grace {grace}); "
        f"kubelet stopped -> scale write: {written_at - stopped_at:.1f} s"
    )

    revived_at = time.time()
    nodes.start_kubelet(dead)
    wait_until(
        lambda: replicas(cluster, namespace, APP) == 3, timeout=30, describe="3 replicas again"
    )
    back = scaler.wait_log("rescaled", before + 2)[before + 1]
    assert (back["from"], back["to"], back["eligible"]) == (2, 3, 3)
    _wait_everywhere(cluster, namespace, names, "a pod Running again on the revived node")
    print(f"kubelet started -> scale write: {log_time(back) - revived_at:.1f} s")


def test_notready_blip_shorter_than_grace_writes_nothing(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    label = _deploy(cluster, namespace)
    names = nodes.add_many(2, labels=label)
    scaler: ScalerProcess = scalers.start("--namespace", namespace, "--unready-grace", "120")
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="2 replicas")
    wait_until(
        lambda: (scaler.target(namespace, APP) or {}).get("eligible") == 2,
        timeout=10,
        describe="/status eligible 2",
    )

    writes = len(scaler.log_events("rescaled"))
    audited = len(_scaler_scale_writes(cluster, namespace))
    assert audited == writes  # the audit log sees every write the log reports
    blip = names[0]
    stopped_at = time.time()
    nodes.stop_kubelet(blip, wait=True)  # Ready=Unknown and tainted unreachable
    status, down_at = _ready_transition(cluster, blip)
    assert status != "True"
    assert (scaler.target(namespace, APP) or {}).get("eligible") == 2
    nodes.start_kubelet(blip, wait=True)  # Ready=True, no unreachable taint
    up_at = time.time()
    time.sleep(3)  # let any reaction to the flap happen

    assert len(scaler.log_events("rescaled")) == writes
    assert len(_scaler_scale_writes(cluster, namespace)) == audited
    assert replicas(cluster, namespace, APP) == 2
    assert (scaler.target(namespace, APP) or {}).get("eligible") == 2
    print(
        f"\nkubelet stopped -> NotReady: {down_at - stopped_at:.1f} s; NotReady blip of "
        f"{up_at - down_at:.1f} s under a 120 s grace: no write"
    )
