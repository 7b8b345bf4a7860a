"""Idle watches on the real API server are quiet: a watch may get nothing at all until the
deadline it asked for (no event to send; and the watch cache sends bookmarks only for a
resource it saw an event of since it started), and that silence is no warning."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from devcluster import Cluster
from devcluster.scaler import ScalerFactory
from nodecount_scaler import metrics
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.kinds import BUILTIN
from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.targets import TargetKey

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


WARNING_LEVELS = ("warning", "error", "critical")


class HpaRecord:
    """The sink: what the HPA watch delivered."""

    def __init__(self) -> None:
        self.items: dict[HpaKey, TargetKey] = {}

    def replace(self, items: dict[HpaKey, TargetKey]) -> None:
        self.items = dict(items)

    def upsert(self, key: HpaKey, view: TargetKey) -> None:
        self.items[key] = view

    def delete(self, key: HpaKey) -> None:
        self.items.pop(key, None)


def restarts(resource: str, reason: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "nodecount_scaler_watch_restarts_total", {"resource": resource, "reason": reason}
    )
    return sample or 0.0


async def test_idle_watch_ends_at_its_deadline_without_a_warning(
    cluster: Cluster, namespace: str
) -> None:
    """An HPA watch of an empty namespace, asking for 8-16 s streams with a 4 s inactivity
    timeout, is closed by the server at each deadline for 45 s: no warning, no stall."""
    name = f"horizontalpodautoscalers/{namespace}"
    async with await KubeClient.connect(str(cluster.kubeconfig)) as client:
        sink = HpaRecord()
        reflector = Reflector(
            client,
            name,
            resources.hpas_path(namespace),
            resources.hpa_projection(BUILTIN),
            sink,
            watch_timeout=8.0,
            inactivity_timeout=4.0,
        )
        with capture_logs() as logs:
            task = asyncio.create_task(reflector.run())
            try:
                await asyncio.sleep(45)
                assert reflector.synced.is_set()
                assert reflector.connected
            finally:
                task.cancel()
    loud = [e for e in logs if e["log_level"] in WARNING_LEVELS]
    assert loud == []
    assert sink.items == {}
    assert restarts(name, "closed") >= 2
    assert restarts(name, "connection") == 0


def test_idle_service_logs_no_warning(scalers: ScalerFactory, namespace: str) -> None:
    """The real process with a 5 s inactivity timeout, idle for 40 s: its watches (nodes,
    deployments, HPAs) stay open without a single warning. Before, each watch's 5 s read
    timeout fired on the silence and logged "watch connection lost"."""
    scaler = scalers.start("--namespace", namespace, "--watch-inactivity-timeout", "5")
    time.sleep(40)
    scaler.assert_alive()
    loud = [e for e in scaler.logs() if e.get("level") in WARNING_LEVELS]
    assert loud == []
    assert scaler.metric_sum("nodecount_scaler_watch_restarts_total") == 0
