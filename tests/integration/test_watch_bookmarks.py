"""Bookmarks from a real API server with its watch cache on (as every production API
server runs): a watch that asked for them gets one shortly before its deadline, once the
cache has seen an event of the resource (cacheWatcher.nextBookmarkTime: two seconds before
the deadline, at most a minute apart), and the reflector resumes from the bookmark's version
instead of relisting. The session cluster runs without the watch cache (so that a
compaction answers 410 at once); this test starts a second one, of the same release, with
it on."""

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


async def test_bookmarks_carry_the_watch_across_its_deadlines(cached: Cluster) -> None:
    """HPA watches of 4-8 s for 30 s: each ends with a bookmark, the next one resumes from
    its version (restarts are "closed", never "expired"), and no warning is logged."""
    namespace = cached.create_namespace("bookmarks")
    created = cached.api.post(
        f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers", hpa(namespace)
    )
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
    assert [e for e in logs if e["log_level"] in WARNING_LEVELS] == []
    assert len(sink.items) == 1
    assert events(name, "BOOKMARK") >= 2
    assert restarts(name, "closed") >= 2
    assert restarts(name, "expired") == 0
    # No HPA changed after it was created: only bookmarks move the version past it (the
    # kwok Leases and Nodes keep the cluster's version rising).
    assert int(reflector.resource_version) > int(created["metadata"]["resourceVersion"])
