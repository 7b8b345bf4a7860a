"""The blast-radius guard on the real control plane: losing a quarter of the nodes scales
down at once; every node gone at once holds both targets' scale-downs (Warning
ScaleDownHeld, gauge, replicas unchanged) for the guard's delay, then the fresh list
confirms it and they converge to their minimum. The same loss delivered one deletion at a
time on the watch is held too, once it passes half of the replicas of the last minute."""

from __future__ import annotations

import signal
import time

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, log_time

P = "nodecount-scaler.io/"
DELAY = 10.0
NODES = 8
# Target -> its floor (min-replicas).
FLOORS = {"every": 0, "floor": 2}


def counts(cluster: Cluster, namespace: str) -> dict[str, int]:
    return {name: replicas(cluster, namespace, name) for name in FLOORS}


def held_warnings(cluster: Cluster, namespace: str) -> set[str]:
    return {e["involvedObject"]["name"] for e in events(cluster, namespace, "ScaleDownHeld")}


def held_gauge(scaler: ScalerProcess) -> float | None:
    return scaler.metric("nodecount_scaler_scale_downs_held")


def start(cluster: Cluster, namespace: str, scalers: ScalerFactory) -> ScalerProcess:
    for name, floor in FLOORS.items():
        notes = {P + "node-selector": f"suite={namespace}", P + "min-replicas": str(floor)}
        apply(cluster, nginx_everywhere(namespace, name, **notes))
    return scalers.start("--namespace", namespace, "--scale-down-guard-delay", str(DELAY))


def wait_counts(cluster: Cluster, namespace: str, want: dict[str, int], timeout: float) -> float:
    """Seconds until every target has its wanted replicas."""
    started = time.monotonic()
    wait_until(lambda: counts(cluster, namespace) == want, timeout, describe=f"replicas {want}")
    return time.monotonic() - started


def test_partial_loss_goes_through_and_total_loss_is_held_then_confirmed(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """8 nodes; 2 deleted -> 6 at once; the other 6 deleted while the service is paused (it
    sees them go in one step, as a relist would show them) -> held 10 s -> 0 and 2."""
    names = nodes.add_many(NODES, labels={"suite": namespace})
    scaler = start(cluster, namespace, scalers)
    wait_counts(cluster, namespace, dict.fromkeys(FLOORS, NODES), timeout=60)

    for name in names[:2]:
        nodes.delete(name)
    partial = wait_counts(cluster, namespace, dict.fromkeys(FLOORS, NODES - 2), timeout=DELAY / 2)
    assert held_warnings(cluster, namespace) == set()
    assert held_gauge(scaler) == 0

    scaler.signal(signal.SIGSTOP)
    try:
        for name in names[2:]:
            nodes.delete(name)
        wait_until(
            lambda: all(cluster.get_node(n) is None for n in names), 30, describe="nodes gone"
        )
    finally:
        scaler.signal(signal.SIGCONT)
    resumed = time.monotonic()
    wait_until(
        lambda: held_warnings(cluster, namespace) == set(FLOORS), 10, describe="ScaleDownHeld"
    )
    assert held_gauge(scaler) == len(FLOORS)
    seen: list[dict[str, int]] = []
    while (now := counts(cluster, namespace)) == dict.fromkeys(FLOORS, NODES - 2):
        seen.append(now)
        assert time.monotonic() - resumed < DELAY + 15, "the held scale-downs never went ahead"
        time.sleep(0.2)
    released = time.monotonic() - resumed
    wait_counts(cluster, namespace, FLOORS, timeout=10)
    print(
        f"\nguard: 2 of 8 nodes deleted -> written in {partial:.2f} s; all gone -> held, "
        f"written {released:.1f} s later (delay {DELAY:g} s)"
    )
    assert released >= DELAY - 0.5, f"written after {released:.1f} s, before the guard's delay"
    assert len(seen) > 10
    assert held_gauge(scaler) == 0
    downs = [(line["from"], line["to"]) for line in scaler.log_events("rescaled")]
    assert downs[-2:] in ([(6, 0), (6, 2)], [(6, 2), (6, 0)]), downs
    assert scaler.log_events("scale-down held")


def test_deletions_one_by_one_on_the_watch_are_held_past_half(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """8 nodes deleted one at a time, 0.3 s apart, each delivered on the open watch (no
    relist): the steps go through down to 4 (half of 8), the rest is held (Warning, no
    write below 4) until the fresh list after the guard's delay confirms it; then 0 and 2."""
    names = nodes.add_many(NODES, labels={"suite": namespace})
    scaler = start(cluster, namespace, scalers)
    wait_counts(cluster, namespace, dict.fromkeys(FLOORS, NODES), timeout=60)
    lists_before = len([ln for ln in scaler.log_events("listed") if ln["resource"] == "nodes"])
    lowest: dict[str, int] = dict.fromkeys(FLOORS, NODES)
    for name in names:
        nodes.delete(name)
        time.sleep(0.3)
    gone = time.monotonic()
    wait_until(
        lambda: held_warnings(cluster, namespace) == set(FLOORS), 10, describe="ScaleDownHeld"
    )
    relists_while_held = [ln for ln in scaler.log_events("listed") if ln["resource"] == "nodes"][
        lists_before:
    ]
    # The hold began at the fifth deletion, about 1.2 s before the last one.
    while time.monotonic() - gone < DELAY - 3:
        now = counts(cluster, namespace)
        lowest = {k: min(lowest[k], now[k]) for k in FLOORS}
        time.sleep(0.2)
    wait_counts(cluster, namespace, FLOORS, timeout=DELAY + 10)
    rescaled = scaler.log_events("rescaled")
    downs = [(line["from"], line["to"]) for line in rescaled]
    held_at = log_time(scaler.log_events("scale-down held")[0])
    released = log_time(rescaled[-1]) - held_at
    print(
        f"\nguard, 8 deletions 0.3 s apart on the watch: lowest for {DELAY - 3:g} s after "
        f"the last {lowest}; held, written {released:.1f} s after the hold; writes {downs}"
    )
    assert relists_while_held == [], "the hold came from a relist, not from the watch"
    assert lowest == {"every": NODES // 2, "floor": NODES // 2}, lowest
    assert all(to >= NODES // 2 for _, to in downs[: -len(FLOORS)]), downs
    assert sorted(downs[-len(FLOORS) :]) == [(4, 0), (4, 2)], downs
    assert released >= DELAY - 0.5, f"written {released:.1f} s after the hold"
