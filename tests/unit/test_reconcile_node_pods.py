"""Scale-downs past the pod caches' room read the pods of the nodes the target moved on,
listed once per node for every target the change scales down (control/nodepods.py)."""

from __future__ import annotations

from typing import Any

from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.limits import MOVED_NODES_KEPT
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, node_view
from tests.scripted_api import (
    KEY,
    ScriptedApi,
    deployment_path,
    make_reconciler,
    pod_path,
    seeded_state,
)
from tests.unit.test_reconcile_scale_down import pod

OTHER = TargetKey("ns", "e")


def _foreign(name: str, node_name: str, namespace: str, app: str) -> Any:
    found = pod(name, node_name)
    found["metadata"]["namespace"] = namespace
    found["metadata"]["labels"] = {"app": app}
    return found


def _state() -> ClusterState:
    nodes = [node(f"n{i}") for i in range(1, 5)]
    return seeded_state(nodes, [deployment(replicas=4), deployment("e", replicas=4)])


async def test_after_a_first_steer_a_scale_down_lists_only_the_node_that_left(
    api: ScriptedApi,
) -> None:
    state = _state()
    reconciler = make_reconciler(api, state, node_pods=NodePods(api.client, all_namespaces=True))
    # A new target knows no moves yet: its first scale-down lists its own pods.
    state.upsert_node(node_view(node("n4", unschedulable=True)), 1.0)
    api.pods = [pod("p4", "n4")]
    await reconciler.reconcile(KEY)
    assert api.lines[0] == ("GET", "/api/v1/namespaces/ns/pods")
    assert state.targets[KEY].moved == set()
    api.calls.clear()
    # Then n3 is cordoned: one list of n3's pods, in every namespace; only the target's
    # own pod there is marked.
    state.upsert_node(node_view(node("n3", unschedulable=True)), 2.0)
    assert state.targets[KEY].moved == {"n3"}
    api.pods = [
        pod("p3", "n3"),
        _foreign("q3", "n3", "other", "d"),
        _foreign("r3", "n3", "ns", "x"),
    ]
    await reconciler.reconcile(KEY)
    assert api.lines[:3] == [
        ("GET", "/api/v1/pods"),
        ("PATCH", pod_path("p3")),
        ("PATCH", deployment_path()),
    ]
    assert ("fieldSelector", "spec.nodeName=n3") in api.calls[0].query


async def test_one_node_list_serves_every_target_the_change_scales_down(api: ScriptedApi) -> None:
    state = _state()
    reconciler = make_reconciler(api, state, node_pods=NodePods(api.client, all_namespaces=False))
    for key in (KEY, OTHER):
        state.targets[key].moved = set()
    state.upsert_node(node_view(node("n2", unschedulable=True)), 1.0)
    api.pods = [pod("p2", "n2"), _foreign("e2", "n2", "ns", "e")]
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(OTHER)
    lists = [line for line in api.lines if line[0] == "GET"]
    assert lists == [("GET", "/api/v1/namespaces/ns/pods")]
    marked = [line[1] for line in api.lines if line[1].endswith(("/p2", "/e2"))]
    assert marked == [pod_path("p2"), pod_path("e2")]


async def test_full_pod_caches_are_not_churned(api: ScriptedApi) -> None:
    """With every pod cache taken, a target without one does not evict another: it reads
    node lists (here: a list of its own pods, its moves being unknown)."""
    state = _state()
    caches = PodCaches(api.client, capacity=1)
    reconciler = make_reconciler(
        api, state, caches=caches, node_pods=NodePods(api.client, all_namespaces=True)
    )
    assert caches.can_hold(KEY)
    caches._caches[OTHER] = object()  # type: ignore[assignment]  # the one cache, taken
    assert not caches.can_hold(KEY)
    state.upsert_node(node_view(node("n4", unschedulable=True)), 1.0)
    await reconciler.reconcile(KEY)
    assert list(caches._caches) == [OTHER]
    assert api.lines[0] == ("GET", "/api/v1/namespaces/ns/pods")


def test_moves_past_the_bound_are_forgotten() -> None:
    state = _state()
    target = state.targets[KEY]
    target.moved = set()
    for i in range(MOVED_NODES_KEPT):
        state.upsert_node(node_view(node(f"m{i}")), 1.0)
    assert target.moved is not None
    assert len(target.moved) == MOVED_NODES_KEPT
    state.upsert_node(node_view(node("one-more")), 1.0)
    assert target.moved is None
