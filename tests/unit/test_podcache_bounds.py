"""Pod caches are bounded: at most --pod-watches of them, on a connection pool of their own."""

from __future__ import annotations

import asyncio
import random

from nodecount_scaler import metrics
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.model.targets import TargetKey
from tests.scripted_api import ScriptedApi, deployment_path, running, until


def target(i: int) -> tuple[TargetKey, str]:
    return TargetKey("ns", f"t{i}"), f"app=t{i}"


async def test_never_more_caches_than_the_bound(api: ScriptedApi) -> None:
    """200 scale-downs over 12 targets in random order: never more than 3 caches, the
    least recently read one out first."""
    caches = PodCaches.beside(api.client, 3)
    rng = random.Random(7)
    order = [rng.randrange(12) for _ in range(200)]
    async with running(caches):
        for i in order:
            await caches.pods(*target(i))
            assert len(caches.watched) <= 3
            assert metrics.POD_WATCHES._value.get() == len(caches.watched)
        recent = list(dict.fromkeys(reversed(order)))[:3]
        assert list(caches.watched) == [target(i)[0] for i in reversed(recent)]
        await until(lambda: api.open_watches == 3)
        await caches.pods(*target(99))
        assert next(iter(caches.watched)) == target(recent[1])[0]
        await until(lambda: api.open_watches == 3)


async def test_pod_watches_never_take_a_connection_of_the_main_client(api: ScriptedApi) -> None:
    """The main client's pool is full but for one connection (the node watch holds the
    other); four targets' pod watches, one more than their bound, leave it free."""
    main = KubeClient(api.client.configuration, connection_limit=2)
    caches = PodCaches.beside(main, 3)
    assert caches.client is not main
    assert caches.client.connection_limit == 3
    node_watch = main.stream("/api/v1/nodes", query=[("watch", "1")], connect_timeout=1,
                             read_timeout=9)  # fmt: skip
    async with main, running(caches), node_watch:
        for i in range(4):
            await caches.pods(*target(i))
        await until(lambda: api.open_watches == 1 + 3)
        async with asyncio.timeout(2.0):
            await main.merge_patch(
                deployment_path(), {"spec": {"replicas": 1}}, field_manager="test"
            )
    assert ("PATCH", deployment_path()) in api.lines
