"""A tenant's edits of its own workload cost the cluster no node list.

The owner of an opted-in Deployment toggles what it may toggle — nodes-per-replica, its
node selector, the opt-in itself (scaling it up by hand while it is out) — so that every
other edit is a large scale-down. Such a scale-down is the owner's act, not the nodes':
it is written at once, and the blast-radius guard, whose hold asks for a fresh list of
every node, never sees it. Counted by the service's own relist metric and its `listed`
log lines; at the end a real node-caused hold shows the counter does move (one relist)."""

from __future__ import annotations

import signal
import time

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

P = "nodecount-scaler.io/"
NODES = 8
ROUNDS = 6
GUARD_DELAY = 2.0


def toggles(namespace: str) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """name -> (annotations of its "down" state (1 replica), of its "up" state (8))."""
    own, one = f"suite={namespace}", f"one={namespace}"
    return {
        "ratio": ({P + "nodes-per-replica": "8"}, {P + "nodes-per-replica": "1"}),
        "selector": ({P + "node-selector": one}, {P + "node-selector": own}),
    }


def node_lists(scaler: ScalerProcess) -> tuple[float, int]:
    """(node relists by the metric, `listed` log lines of nodes)."""
    metric = scaler.metric_sum("nodecount_scaler_watch_relists_total", resource="nodes")
    lines = [e for e in scaler.log_events("listed") if e.get("resource") == "nodes"]
    return metric, len(lines)


def annotate(cluster: Cluster, namespace: str, name: str, notes: dict[str, str]) -> None:
    pairs = [f"{k}={v}" for k, v in notes.items()]
    cluster.kubectl("annotate", "--overwrite", "-n", namespace, f"deployment/{name}", *pairs)


def wait_replicas(cluster: Cluster, namespace: str, name: str, want: int) -> None:
    wait_until(
        lambda: replicas(cluster, namespace, name) == want,
        10,
        describe=f"{name} at {want} replicas",
    )


def toggle_opt_in(cluster: Cluster, namespace: str) -> None:
    """Out, scaled to 8 by hand, back in: the takeover writes 1 (the one=yes node)."""
    annotate(cluster, namespace, "optin", {P + "enabled": "false"})
    cluster.kubectl("scale", "-n", namespace, "deployment/optin", f"--replicas={NODES}")
    annotate(cluster, namespace, "optin", {P + "enabled": "true"})
    wait_replicas(cluster, namespace, "optin", 1)


def test_tenant_toggles_cause_no_node_relist(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    many = nodes.add_many(NODES - 1, labels={"suite": namespace})
    nodes.add_many(1, labels={"suite": namespace, "one": namespace})
    toggled = toggles(namespace)
    base = {P + "node-selector": f"suite={namespace}"}
    for name, (_, up) in toggled.items():
        apply(cluster, nginx_everywhere(namespace, name, **{**base, **up}))
    optin = {P + "node-selector": f"one={namespace}"}
    apply(cluster, nginx_everywhere(namespace, "optin", **optin))
    scaler = scalers.start("--namespace", namespace, "--scale-down-guard-delay", str(GUARD_DELAY))
    for name in toggled:
        wait_replicas(cluster, namespace, name, NODES)
    wait_replicas(cluster, namespace, "optin", 1)
    assert node_lists(scaler) == (1, 1), "the initial list only"

    started = time.monotonic()
    for _ in range(ROUNDS):
        for name, (down, up) in toggled.items():
            annotate(cluster, namespace, name, down)
            wait_replicas(cluster, namespace, name, 1)
            annotate(cluster, namespace, name, up)
            wait_replicas(cluster, namespace, name, NODES)
        toggle_opt_in(cluster, namespace)
    # Past the guard's delay: a hold would have asked for its list by now.
    time.sleep(GUARD_DELAY + 1.0)
    elapsed = time.monotonic() - started
    metric, lines = node_lists(scaler)
    restarts = scaler.metric_sum("nodecount_scaler_watch_restarts_total", resource="nodes")
    print(
        f"\ntenant toggles: {ROUNDS * (len(toggled) + 1)} scale-downs of its own in "
        f"{elapsed:.1f} s; node lists {metric:g} (log lines {lines}), node watch restarts "
        f"{restarts:g}"
    )
    assert (metric, lines) == (1, 1), "a tenant's edit made the service list every node"
    assert restarts == 0
    assert not events(cluster, namespace, "ScaleDownHeld")

    # The counter moves when the nodes really cause a hold: 7 of 8 nodes gone at once.
    scaler.signal(signal.SIGSTOP)
    try:
        for name in many:
            nodes.delete(name)
        wait_until(
            lambda: all(cluster.get_node(n) is None for n in many),
            30,
            describe="nodes gone",
        )
    finally:
        scaler.signal(signal.SIGCONT)
    for name in toggled:
        wait_replicas(cluster, namespace, name, 1)
    assert events(cluster, namespace, "ScaleDownHeld")
    assert node_lists(scaler) == (2, 2), "the guard's confirmation is one list"
