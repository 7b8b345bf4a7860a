"""Unique taints under churn: a taint with a unique value per node (Cluster Autoscaler's
ToBeDeletedByClusterAutoscaler=<timestamp>) on 500 nodes, a fresh one each round, leaves
the memory the state holds flat: neither the taint pools nor a target's eligibility memo
keep the old taints (issue 13 saw ~500 B more per node event)."""

from __future__ import annotations

import gc
import tracemalloc

from nodecount_scaler.limits import TAINT_POOL_LIMIT
from nodecount_scaler.model.state import ClusterState
from testkit.builders import deployment, node, node_view, taint, target_view

NODES = 500
ROUNDS = 40  # 20,000 distinct taints: five times the pools' bound
KiB = 1024


def churn(state: ClusterState, round_: int) -> None:
    """Every node marked for deletion again, with this round's timestamp as the value."""
    for i in range(NODES):
        stamp = str(1_700_000_000 + round_ * NODES + i)
        marked = taint("ToBeDeletedByClusterAutoscaler", "NoSchedule", stamp)
        state.upsert_node(node_view(node(f"n{i}", taints=[marked])), 0.0)


def test_unique_taints_leave_memory_flat() -> None:
    """Past the first filling of the pools, memory held stays within their bound."""
    state = ClusterState(0.0)
    state.upsert_target(target_view(deployment("all")), 0.0)
    tracemalloc.start()
    try:
        held: list[int] = []
        for round_ in range(ROUNDS):
            churn(state, round_)
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    filled = 2 * TAINT_POOL_LIMIT // NODES + 1  # rounds until both pools have started over once
    settled = max(held[:filled])
    growth = max(held[filled:]) - settled
    print(
        f"{ROUNDS * NODES} unique taints: held {held[0] // KiB} KiB after one round, "
        f"{settled // KiB} KiB after {filled}, at most {max(held) // KiB} KiB"
    )
    assert not state.targets[next(iter(state.targets))].eligible  # every node is tainted
    assert growth < 256 * KiB, f"memory held grew by {growth // KiB} KiB past the pools' bound"
