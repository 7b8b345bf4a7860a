"""A cordoned node stops counting, and the pod removed by the scale-down is the one on the
cordoned node (pod-deletion-cost -1000 set first, from the target's pod cache); uncordon
brings the replica back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import pods, replicas, running_per_node
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

APP = "nginx-everywhere"
TOLERANT = "tolerates-cordon"


def _running_pods(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Running, not-deleting pods of the target: pod name -> node name."""
    return {
        p["metadata"]["name"]: p["spec"].get("nodeName", "")
        for p in pods(cluster, namespace, APP)
        if p.get("status", {}).get("phase") == "Running"
    }


def _pods_are(cluster: Cluster, namespace: str, expected: dict[str, str]) -> Callable[[], bool]:
    return lambda: _running_pods(cluster, namespace) == expected


def _index(lines: list[dict[str, Any]], start: int, **match: Any) -> int:
    """Index of the first log line at or after `start` whose fields include `match`."""
    for i in range(start, len(lines)):
        if all(lines[i].get(k) == v for k, v in match.items()):
            return i
    raise AssertionError(f"no log line {match} after line {start}")


def test_cordon_removes_the_pod_on_the_cordoned_node_every_time(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    label = {"suite": namespace}
    names = nodes.add_many(3, labels=label)
    obj = nginx_everywhere(namespace, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = label
    # A second target tolerates the cordon taint: cordoned nodes keep counting for it.
    tolerant = nginx_everywhere(
        namespace, TOLERANT, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"}
    )
    tolerant["spec"]["template"]["spec"]["nodeSelector"] = label
    tolerant["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    ]
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": [obj, tolerant]})
    scaler = scalers.start("--namespace", namespace)
    wait_until(
        lambda: replicas(cluster, namespace, TOLERANT) == 3, timeout=30, describe="tolerant: 3"
    )

    everywhere = dict.fromkeys(names, 1)
    wait_until(
        lambda: running_per_node(cluster, namespace, APP) == everywhere,
        timeout=60,
        describe="one Running pod on each of the 3 nodes",
    )

    for cordoned in names:  # three cycles, a different node each time
        before = _running_pods(cluster, namespace)
        (victim,) = [pod for pod, node in before.items() if node == cordoned]
        survivors = {pod: node for pod, node in before.items() if pod != victim}
        mark = len(scaler.logs())

        cluster.kubectl("cordon", cordoned)
        wait_until(
            lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="2 replicas"
        )
        # Exactly the pods on the uncordoned nodes survive (none was replaced).
        wait_until(
            _pods_are(cluster, namespace, survivors),
            timeout=60,
            describe=f"only the pod on cordoned {cordoned} ({victim}) removed",
        )
        lines = scaler.logs()
        cost = _index(lines, mark, event="set pod-deletion-cost", pod=victim)
        scale = _index(lines, mark, event="rescaled", target=APP)
        assert lines[cost]["cost"] == "-1000"
        assert cost < scale, "pod-deletion-cost must be set before the scale-down write"
        assert (lines[scale]["from"], lines[scale]["to"], lines[scale]["eligible"]) == (3, 2, 2)
        other_costs = [
            line["pod"]
            for line in lines[mark:]
            if line.get("event") == "set pod-deletion-cost" and line["pod"] != victim
        ]
        assert other_costs == [], "only the pod on the cordoned node is marked"

        mark = len(scaler.logs())
        cluster.kubectl("uncordon", cordoned)
        wait_until(
            lambda: replicas(cluster, namespace, APP) == 3, timeout=30, describe="3 replicas"
        )
        wait_until(
            lambda: running_per_node(cluster, namespace, APP) == everywhere,
            timeout=60,
            describe=f"a pod Running again on uncordoned {cordoned}",
        )
        # The uncordon costs exactly one write (2 -> 3) and marks no pod, and every survivor
        # is still running: a cordon taint that the node lifecycle controller removes (or
        # re-adds from a stale cache) after the uncordon must not take the node out again.
        since = scaler.logs()[mark:]
        ups = [
            (line["from"], line["to"], line["eligible"])
            for line in since
            if line.get("event") == "rescaled" and line.get("target") == APP
        ]
        assert ups == [(2, 3, 3)]
        assert [line for line in since if line.get("event") == "set pod-deletion-cost"] == []
        assert _running_pods(cluster, namespace).items() >= survivors.items()

    # Only the adoption write (1 -> 3) for the target that tolerates the cordon.
    tolerant_writes = [
        (line["from"], line["to"])
        for line in scaler.log_events("rescaled")
        if line["target"] == TOLERANT
    ]
    assert tolerant_writes == [(1, 3)]
    assert replicas(cluster, namespace, TOLERANT) == 3
    # The three scale-downs were steered from one pod cache: one list and one watch at the
    # first, no pod read from the API at the other two (--pod-watches).
    assert len(scaler.log_events("watching pods")) == 1
    assert scaler.metric("nodecount_scaler_pod_watches") == 1


def test_a_cordon_taint_left_on_an_uncordoned_node_takes_nothing_away(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """The node lifecycle controller derives `node.kubernetes.io/unschedulable:NoSchedule`
    from `spec.unschedulable` and can put it on (or leave it on) a node that is no longer
    cordoned, for a moment. Here it is put on by hand, as a stale controller would: the node
    still counts, so no scale-down deletes its pod; a node added afterwards is the marker
    that the scaler has read past the taint."""
    label = {"suite": namespace}
    first = nodes.add_many(2, labels=label)
    obj = nginx_everywhere(namespace, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = label
    apply(cluster, obj)
    scaler = scalers.start("--namespace", namespace)
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="2 replicas")

    cluster.kubectl("taint", "node", first[0], "node.kubernetes.io/unschedulable:NoSchedule")
    nodes.add(labels=label)
    wait_until(lambda: replicas(cluster, namespace, APP) == 3, timeout=30, describe="3 replicas")

    writes = [(line["from"], line["to"]) for line in scaler.log_events("rescaled")]
    assert writes == [(1, 2), (2, 3)], "the stale cordon taint must not take the node out"
