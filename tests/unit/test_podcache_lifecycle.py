"""Pod caches: one selector-scoped list+watch per valid target, only while running."""

from __future__ import annotations

import asyncio
from typing import Any

from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.model.pods import PodView
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from tests.builders import deployment, node, target_view
from tests.scripted_api import ScriptedApi, running, seeded_state, until

PODS = "/api/v1/namespaces/ns/pods"
D, E = TargetKey("ns", "d"), TargetKey("ns", "e")


def pod(name: str, node_name: str, rv: int = 1, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv),
                     "annotations": annotations},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "env": [{"value": "s"}]}]},
    }  # fmt: skip


def pod_requests(api: ScriptedApi) -> list[tuple[str, str]]:
    """(labelSelector, list|watch) of every pod request, in order."""
    out = []
    for call in api.calls:
        query = dict(call.query)
        if call.method == "GET" and call.path == PODS:
            out.append((query["labelSelector"], "watch" if "watch" in query else "list"))
    return out


def two_targets() -> ClusterState:
    """d is valid; e is opted in with a malformed annotation (invalid: never steered)."""
    return seeded_state(
        [node("n1")],
        [deployment("d"), deployment("e", annotations={"nodecount-scaler.io/min-replicas": "x"})],
    )


async def test_nothing_is_watched_until_run(api: ScriptedApi) -> None:
    """A follower records the targets and opens no pod watch."""
    caches = PodCaches(api.client)
    caches.sync(two_targets().targets)
    await asyncio.sleep(0.1)
    assert api.calls == []
    assert caches.watched == {}
    assert caches.pods(D) is None


async def test_one_selector_scoped_watch_per_valid_target(api: ScriptedApi) -> None:
    """run(): list then watch the valid target's pods, in its namespace, by its selector."""
    caches = PodCaches(api.client)
    caches.sync(two_targets().targets)
    async with running(caches):
        await until(lambda: len(pod_requests(api)) == 2)
        await asyncio.sleep(0.05)
        assert caches.watched == {D: "app=d"}
        assert pod_requests(api) == [("app=d", "list"), ("app=d", "watch")]


async def test_cache_keeps_only_the_pod_view_and_follows_the_watch(api: ScriptedApi) -> None:
    """The listed pods, then a watched change; nothing but PodView is stored."""
    api.pods = [pod("p1", "n1"), pod("p2", "n2")]
    caches = PodCaches(api.client)
    caches.sync(two_targets().targets)
    async with running(caches):
        await until(lambda: caches.pods(D) is not None)
        assert sorted(p.name for p in caches.pods(D) or []) == ["p1", "p2"]
        changed = pod("p2", "n2", rv=2, **{"controller.kubernetes.io/pod-deletion-cost": "-1000"})
        await api.pod_events.put({"type": "MODIFIED", "object": changed})
        await until(lambda: any(p.deletion_cost for p in caches.pods(D) or []))
        assert sorted(caches.pods(D) or [], key=lambda p: p.name) == [
            PodView("p1", "n1", None, False),
            PodView("p2", "n2", "-1000", False),
        ]


async def test_targets_coming_and_going_start_and_stop_watches(api: ScriptedApi) -> None:
    """A new valid target gets a watch; a removed one loses it; the count stays = targets."""
    state = two_targets()
    caches = PodCaches(api.client)
    caches.sync(state.targets)
    async with running(caches):
        await until(lambda: caches.pods(D) is not None)
        state.upsert_target(target_view(deployment("e")), 0.0)  # e turns valid
        caches.sync(state.targets)
        await until(lambda: caches.pods(E) is not None)
        assert caches.watched == {D: "app=d", E: "app=e"}
        state.delete_target(D)
        caches.sync(state.targets)
        assert caches.watched == {E: "app=e"}
        assert caches.pods(D) is None


async def test_a_changed_selector_restarts_the_watch(api: ScriptedApi) -> None:
    """Recreated under the same name with another selector: relisted with the new one."""
    state = two_targets()
    caches = PodCaches(api.client)
    caches.sync(state.targets)
    async with running(caches):
        await until(lambda: caches.pods(D) is not None)
        recreated = deployment("d")
        recreated["spec"]["selector"] = {"matchLabels": {"app": "d", "track": "canary"}}
        state.upsert_target(target_view(recreated), 0.0)
        caches.sync(state.targets)
        await until(lambda: ("app=d,track=canary", "list") in pod_requests(api))
        assert caches.watched == {D: "app=d,track=canary"}


async def test_leaving_run_stops_every_watch(api: ScriptedApi) -> None:
    """Leadership lost or shutdown: no cache, no task left behind."""
    caches = PodCaches(api.client)
    caches.sync(two_targets().targets)
    before = set(asyncio.all_tasks())
    async with running(caches):
        await until(lambda: caches.pods(D) is not None)
    await asyncio.sleep(0.05)
    assert caches.watched == {}
    assert caches.pods(D) is None
    assert {t for t in asyncio.all_tasks() if not t.done()} <= before
