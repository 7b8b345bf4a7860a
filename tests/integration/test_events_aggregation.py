"""Sustained rescaling of one target is one Rescaled Event whose count grows, not N Events."""

from __future__ import annotations

from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

NAME = "nginx-everywhere"


def rescaled_events(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return [
        e for e in events(cluster, namespace, "Rescaled") if e["involvedObject"]["name"] == NAME
    ]


def wait_replicas(cluster: Cluster, namespace: str, count: int) -> None:
    wait_until(lambda: replicas(cluster, namespace, NAME) == count, 30, describe=f"{count}")


def test_rescales_raise_one_events_count(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """Six rescales: one Event object throughout; the occurrences held back by the write
    budget are written when the service stops, so its count is then 6, with the latest
    message."""
    added = [nodes.add()]
    apply(cluster, nginx_everywhere(namespace))  # 1 replica: already right
    scaler = scalers.start("--namespace", namespace)
    for count in (2, 3, 4, 5, 4, 3):
        if count > len(added):
            added.append(nodes.add())
        else:
            nodes.delete(added.pop())
        wait_replicas(cluster, namespace, count)
    scaler.wait_log("rescaled", 6)

    during = rescaled_events(cluster, namespace)
    assert [e["count"] for e in during] == [1], during

    assert scaler.stop() == 0
    after = rescaled_events(cluster, namespace)
    assert len(after) == 1, after
    event = after[0]
    assert event["metadata"]["name"] == during[0]["metadata"]["name"]
    assert event["count"] == 6
    assert event["message"] == (
        "Scaled from 4 to 3 replicas: 3 eligible nodes (eligible nodes changed)"
    )
    assert event["firstTimestamp"] <= event["lastTimestamp"]
