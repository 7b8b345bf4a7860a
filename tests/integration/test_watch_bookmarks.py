"""Bookmarks from a real API server with its watch cache on (as every production API
server runs): a watch that asked for them gets one two seconds before its deadline
(cacheWatcher.nextBookmarkTime), provided the cache's version of the resource moved past the
watch's own (a bookmark never repeats the version the watch started from, so a collection
nobody writes to gets none: Reflector._watch); the reflector then resumes from the
bookmark's version. The session cluster runs without the watch cache (so that a compaction
answers 410 at once); this test starts a second one, of the same release, with it on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from devcluster import Cluster
from nodecount_scaler import metrics
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.kinds import BUILTIN
from tests.integration.test_watch_quiet import WARNING_LEVELS, HpaRecord, restarts

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def cached(cluster: Cluster) -> Iterator[Cluster]:
    with Cluster(watch_cache=True, version=cluster.versions.kubernetes) as plane:
        yield plane


def hpa(namespace: str) -> dict[str, object]:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "absent"}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": namespace},
        "spec": {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": 2},
    }


def events(resource: str, kind: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "nodecount_scaler_watch_events_total", {"resource": resource, "type": kind}
    )
    return sample or 0.0


async def busy(cluster: Cluster, namespace: str, stop: asyncio.Event) -> int:
    """Relabel an HPA in another namespace every second: the cache's version of HPAs moves,
    the watched namespace sees no event of it."""
    path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/h"
    writes = 0
    while not stop.is_set():
        body = {"metadata": {"labels": {"write": str(writes)}}}
        await asyncio.to_thread(cluster.api.merge_patch, path, body)
        writes += 1
        await asyncio.sleep(1.0)
    return writes


async def test_bookmarks_carry_the_watch_across_its_deadlines(cached: Cluster) -> None:
    """HPA watches of 4-8 s of a namespace for 30 s while HPAs elsewhere change: each ends
    with a bookmark, the next resumes from its version (restarts are "closed", never
    "expired"), and no warning is logged."""
    namespace, elsewhere = cached.create_namespace("bookmarks"), cached.create_namespace("busy")
    created = cached.api.post(
        f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers", hpa(namespace)
    )
    cached.api.post(
        f"/apis/autoscaling/v2/namespaces/{elsewhere}/horizontalpodautoscalers", hpa(elsewhere)
    )
    stop = asyncio.Event()
    writer = asyncio.create_task(busy(cached, elsewhere, stop))
    name = f"horizontalpodautoscalers/{namespace}"
    async with await KubeClient.connect(str(cached.kubeconfig)) as client:
        sink = HpaRecord()
        reflector = Reflector(client, name, resources.hpas_path(namespace),
                              resources.hpa_projection(BUILTIN), sink,
                              watch_timeout=4.0, inactivity_timeout=4.0)  # fmt: skip
        with capture_logs() as logs:
            task = asyncio.create_task(reflector.run())
            try:
                await asyncio.sleep(30)
                assert reflector.connected
            finally:
                task.cancel()
                stop.set()
    assert await writer >= 20
    assert [e for e in logs if e["log_level"] in WARNING_LEVELS] == []
    assert len(sink.items) == 1
    assert events(name, "BOOKMARK") >= 2
    assert restarts(name, "closed") >= 2
    assert restarts(name, "expired") == 0
    assert int(reflector.resource_version) > int(created["metadata"]["resourceVersion"])
