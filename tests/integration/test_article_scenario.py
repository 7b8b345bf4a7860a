"""The article's scenario end to end: one nginx pod on every node as nodes come and go."""

from __future__ import annotations

import time

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import pending, replicas, running_per_node
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, log_time


@pytest.mark.compat
def test_one_pod_per_node_follows_nodes(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """3 nodes -> 3 replicas, one Running pod each; add a node -> 4; delete one -> 3."""
    first = nodes.add_many(3)
    apply(cluster, nginx_everywhere(namespace))
    scaler = scalers.start("--namespace", namespace)

    wait_until(
        lambda: running_per_node(cluster, namespace, "nginx-everywhere") == dict.fromkeys(first, 1),
        timeout=60,
        describe="one Running pod on each of the 3 nodes",
    )
    assert replicas(cluster, namespace, "nginx-everywhere") == 3

    # The 1 -> 3 line: it can trail the write the test has just seen.
    before = len(scaler.wait_log("rescaled", 1))
    added_at = time.time()
    new = nodes.add()
    wait_until(
        lambda: replicas(cluster, namespace, "nginx-everywhere") == 4, timeout=30, describe="4"
    )
    wait_until(
        lambda: (
            running_per_node(cluster, namespace, "nginx-everywhere")
            == dict.fromkeys([*first, new], 1)
        ),
        timeout=60,
        describe="the 4th pod Running on the new node",
    )
    scale_up = scaler.wait_log("rescaled", before + 1)[before]
    assert (scale_up["from"], scale_up["to"]) == (3, 4)

    removed_at = time.time()
    nodes.delete(first[0])
    wait_until(
        lambda: replicas(cluster, namespace, "nginx-everywhere") == 3, timeout=30, describe="3"
    )
    scale_down = scaler.wait_log("rescaled", before + 2)[before + 1]
    assert (scale_down["from"], scale_down["to"]) == (4, 3)
    assert pending(cluster, namespace, "nginx-everywhere") == []

    # Timed from just before the Node POST (kwok nodes are created Ready).
    print(
        f"\nnode added -> scale write: {log_time(scale_up) - added_at:.3f} s; "
        f"node deleted -> scale write: "
        f"{log_time(scale_down) - removed_at:.3f} s"
    )
