"""The pods of one target, read when a scale-down needs them.

One paged LIST with the target's own label selector in its namespace, right before the
scale-down it steers; no pod watch and no pod cache. Scale-downs happen only when a
target's desired count drops, so these lists number at most one per scale write. A watch per
target would instead hold one connection to the API server per opted-in workload for as
long as it exists: with 500 targets, 500 connections, past the client's pool, where they
starve the node watch of a connection. The list has the bounds of every list (pages, items,
bytes: limits.py) and the same 410 fallback.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.pods import PodView
from nodecount_scaler.model.targets import TargetKey

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PodSink(Generic[K, V]):
    """The pods one list delivered."""

    def __init__(self) -> None:
        self.pods: dict[K, V] = {}

    def replace(self, items: dict[K, V]) -> None:
        self.pods = dict(items)

    def upsert(self, key: K, view: V) -> None:
        self.pods[key] = view

    def delete(self, key: K) -> None:
        self.pods.pop(key, None)


async def list_target_pods(client: KubeClient, key: TargetKey, selector: str) -> list[PodView]:
    """The target's pods now; raises ApiError or kube.watch.StreamError (a bound crossed)."""
    sink: PodSink[str, PodView] = PodSink()
    lister = Reflector(
        client,
        "pods",
        resources.pods_path(key.namespace),
        resources.POD_PROJECTION,
        sink,
        query=[("labelSelector", selector)],
    )
    await lister.list_once()
    return list(sink.pods.values())
