"""Pod caches: started by a target's first scale-down, read by the next, stopped when stale."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodecount_scaler import metrics
from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, node_view, target_view
from tests.scripted_api import (
    KEY,
    FakeClock,
    Reply,
    ScriptedApi,
    deployment_path,
    make_reconciler,
    pod_path,
    running,
    seeded_state,
    until,
)

COST = "controller.kubernetes.io/pod-deletion-cost"
PODS = "/api/v1/namespaces/ns/pods"


def pod(name: str, node_name: str, rv: int = 1, cost: str | None = None) -> dict[str, Any]:
    annotations = {} if cost is None else {COST: cost}
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv),
                     "labels": {"app": "d"}, "annotations": annotations},
        "spec": {"nodeName": node_name},
    }  # fmt: skip


def pod_reads(api: ScriptedApi) -> list[tuple[str, str]]:
    """(labelSelector, list|watch) of every pod read, in order."""
    out = []
    for call in api.calls:
        query = dict(call.query)
        if call.method == "GET" and call.path == PODS:
            out.append((query["labelSelector"], "watch" if "watch" in query else "list"))
    return out


def four_nodes_then_cordon(name: str) -> ClusterState:
    """Four eligible nodes, four replicas; then `name` is cordoned (desired 3)."""
    state = seeded_state([node(f"n{i}") for i in range(1, 5)], [deployment(replicas=4)])
    state.upsert_node(node_view(node(name, unschedulable=True)), 0.0)
    return state


async def test_second_scale_down_reads_no_pod(api: ScriptedApi) -> None:
    """The first scale-down lists (and then watches); the second reads the cache only."""
    api.pods = [pod(f"p{i}", f"n{i}") for i in range(1, 5)]
    state = four_nodes_then_cordon("n4")
    caches = PodCaches(api.client, capacity=4)
    reconciler = make_reconciler(api, state, caches=caches)
    async with running(caches):
        await reconciler.reconcile(KEY)
        assert pod_reads(api)[0] == ("app=d", "list")
        await until(lambda: api.open_watches == 1)
        assert pod_reads(api) == [("app=d", "list"), ("app=d", "watch")]
        # The watch brings our own mark, and the scale write's echo arrives.
        await api.watch_events.put({"type": "MODIFIED", "object": pod("p4", "n4", 2, "-1000")})
        await until(lambda: any(p.deletion_cost for p in caches._caches[KEY].sink.pods.values()))
        state.upsert_target(target_view(deployment(replicas=3)), 0.0)
        state.upsert_node(node_view(node("n3", unschedulable=True)), 0.0)
        api.clear()
        await reconciler.reconcile(KEY)
    assert pod_reads(api) == []
    assert api.lines[:2] == [("PATCH", pod_path("p3")), ("PATCH", deployment_path())]
    assert api.calls[1].body == {"spec": {"replicas": 2}}


async def test_a_late_sync_falls_back_to_one_list(api: ScriptedApi) -> None:
    """The cache's first list is slower than the sync timeout: dropped, one list instead."""
    api.pods = [pod(f"p{i}", f"n{i}") for i in range(1, 5)]
    api.script("GET", PODS, Reply(delay=2.0), Reply())
    caches = PodCaches(api.client, capacity=4, sync_timeout=0.2)
    reconciler = make_reconciler(api, four_nodes_then_cordon("n4"), caches=caches)
    loop = asyncio.get_running_loop()
    async with running(caches):
        started = loop.time()
        await reconciler.reconcile(KEY)
        took = loop.time() - started
        assert caches.watched == {}
    assert took < 1.0
    assert pod_reads(api) == [("app=d", "list"), ("app=d", "list")]
    assert api.lines[2:4] == [("PATCH", pod_path("p4")), ("PATCH", deployment_path())]


async def test_a_failed_first_list_is_not_repeated(api: ScriptedApi) -> None:
    """A 403 on the cache's list is the list a cache-less scale-down would make: logged,
    no second list, no cache, and the scale-down still happens."""
    api.script("GET", PODS, Reply(403))
    caches = PodCaches(api.client, capacity=4)
    reconciler = make_reconciler(api, four_nodes_then_cordon("n4"), caches=caches)
    async with running(caches):
        await reconciler.reconcile(KEY)
        assert caches.watched == {}
    assert pod_reads(api) == [("app=d", "list")]
    assert ("PATCH", deployment_path()) in api.lines


async def test_a_follower_holds_no_pod_watch(api: ScriptedApi) -> None:
    """Outside the leader's work the caches answer nothing and read nothing."""
    caches = PodCaches(api.client, capacity=4)
    assert await caches.pods(KEY, "app=d") is None
    await asyncio.sleep(0.05)
    assert api.calls == []
    assert caches.watched == {}


async def test_leadership_lost_stops_every_watch(api: ScriptedApi) -> None:
    """The caches run among the leader's tasks: leaving them closes the pod client too."""
    state = four_nodes_then_cordon("n4")
    caches = PodCaches(api.client, capacity=4)
    controller = Controller(state, make_reconciler(api, state, caches=caches), workers=1)
    leading = asyncio.create_task(controller.run_workers())
    await until(lambda: api.open_watches == 1)
    assert caches.watched == {KEY: "app=d"}
    leading.cancel()
    await asyncio.gather(leading, return_exceptions=True)
    assert caches.watched == {}
    assert metrics.POD_WATCHES._value.get() == 0
    await until(lambda: api.open_watches == 0)


async def test_an_idle_cache_is_stopped(api: ScriptedApi) -> None:
    """Unread for the idle timeout: stopped; a cache read meanwhile stays."""
    clock = FakeClock()
    caches = PodCaches(api.client, capacity=4, idle_timeout=600.0, clock=clock)
    a, b = TargetKey("ns", "a"), TargetKey("ns", "b")
    async with running(caches):
        await caches.pods(a, "app=a")
        await caches.pods(b, "app=b")
        await until(lambda: api.open_watches == 2)
        clock.advance(300.0)
        assert await caches.pods(b, "app=b") == []
        clock.advance(300.0)
        assert caches.expire_idle() == 300.0
        assert caches.watched == {b: "app=b"}
        await until(lambda: api.open_watches == 1)
        clock.advance(300.0)
        caches.expire_idle()
        assert caches.watched == {}
        await until(lambda: api.open_watches == 0)


GONE = None
INVALID = target_view(deployment(annotations={"nodecount-scaler.io/min-replicas": "x"}))
RESELECTED = deployment()
RESELECTED["spec"]["selector"] = {"matchLabels": {"app": "d", "track": "canary"}}


@pytest.mark.parametrize(
    ("view", "kept"),
    [
        pytest.param(target_view(deployment()), True, id="unchanged"),
        pytest.param(GONE, False, id="gone"),
        pytest.param(INVALID, False, id="invalid"),
        pytest.param(target_view(RESELECTED), False, id="selector-changed"),
    ],
)
async def test_a_cache_follows_its_target(api: ScriptedApi, view: Any, kept: bool) -> None:
    """A target that goes, turns invalid or changes selector loses its cache."""
    caches = PodCaches(api.client, capacity=4)
    async with running(caches):
        await caches.pods(KEY, "app=d")
        caches.retain(KEY, view)
        assert caches.watched == ({KEY: "app=d"} if kept else {})
