"""The nodes reflector with the service's own projection and sink, against a server that mixes
streams up: Pods (in a list or a watch) and events of an unknown type are not stored, so a
target selecting every node keeps its count (issue 13 saw one scale 1 -> 5); each is counted
and logged once per reason."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from nodecount_scaler import metrics
from nodecount_scaler.control.sinks import Hooks, NodeSink
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.state import ClusterState
from testkit.builders import deployment, node, target_view
from tests.unit.fake_watch_api import FakeApi, event, eventually, list_page, running

FOREIGN = 3  # of each kind, to show they are logged once, counted every time


def as_node(name: str, rv: int) -> dict[str, Any]:
    obj = node(name)
    obj["metadata"]["resourceVersion"] = str(rv)
    return {"kind": "Node", "apiVersion": "v1", **obj}


def pod(name: str, rv: int) -> dict[str, Any]:
    """A Pod as a watch delivers it: it has a name and labels, so only its kind betrays it."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "resourceVersion": str(rv), "labels": {"app": "x"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def rejected(reason: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "nodecount_scaler_rejected_objects_total", {"resource": "nodes", "reason": reason}
    )
    return sample or 0.0


def node_reflector(client: KubeClient, state: ClusterState) -> Reflector[str, NodeView]:
    sink = NodeSink(state, lambda: 0.0, Hooks())
    return Reflector(client, "nodes", resources.NODES_PATH, resources.NODE_PROJECTION, sink)


async def test_pods_and_unknown_event_types_are_not_stored() -> None:
    """A list with Pods beside n1, then a watch of Pods, WEIRD events carrying real Nodes,
    and one genuine event: only n1 and n9 are stored, and the target counts them alone."""
    state = ClusterState(0.0)
    state.upsert_target(target_view(deployment("all", replicas=1)), 0.0)
    fake = FakeApi()
    foreign = [pod(f"lp{i}", 2) for i in range(FOREIGN)]
    fake.lists.append(list_page(as_node("n1", 1), *foreign, rv=10))
    fake.watches.append(
        fake.stream(
            *[event("ADDED", pod(f"wp{i}", 11 + i)) for i in range(FOREIGN)],
            *[event("WEIRD", as_node(f"n{2 + i}", 20 + i)) for i in range(FOREIGN)],
            event("ADDED", as_node("n9", 30)),
        )
    )
    before = {reason: rejected(reason) for reason in ("wrong-kind", "event-type")}
    await fake.start()
    try:
        async with KubeClient.for_url(fake.host) as kube:
            with capture_logs() as logs:
                async with running(node_reflector(kube, state)) as task:
                    await eventually(task, lambda: "n9" in state.nodes)
    finally:
        await fake.stop()
    assert set(state.nodes) == {"n1", "n9"}
    (target,) = state.targets.values()
    assert target.eligible == {"n1", "n9"}
    assert rejected("wrong-kind") - before["wrong-kind"] == 2 * FOREIGN
    assert rejected("event-type") - before["event-type"] == FOREIGN
    warned = [e["reason"] for e in logs if e["event"] == "skipped malformed object"]
    assert sorted(warned) == ["event-type", "wrong-kind"]
