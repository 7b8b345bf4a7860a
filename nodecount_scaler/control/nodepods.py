"""The pods on a few nodes, for steering the scale-downs of many targets at once.

One node change moves many targets (a cordon in a pool of 500 nodes moves every target of
the pool); each of them that scales down needs its pods on the nodes that left it, and
those are the pods on that one node. So instead of one list per target (or a pod watch
per target, which a cluster of 2,000 targets cannot hold: --pod-watches is 64), the pods
of a node are listed once, by field selector (`spec.nodeName`, an index of the API
server's watch cache: what a kubelet lists), and every target that scales down for that
change in the next POD_LIST_TTL seconds reads its pods from that one list. Concurrent
scale-downs of the same node share one request.

Listed cluster-wide when the service watches every namespace, else in the target's
namespace (its permissions are namespaced then).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

from nodecount_scaler import limits
from nodecount_scaler.control.podlist import PodSink
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.pods import NodePod, PodView
from nodecount_scaler.model.selector import LabelSelector

# How long one node's list answers the scale-downs its change causes (they follow it
# within milliseconds; a later change of the node lists it again).
POD_LIST_TTL: Final = 5.0

Scope = tuple[str, str]  # (namespace, or "" for every namespace; node name)


class NodePods:
    def __init__(
        self,
        client: KubeClient,
        *,
        all_namespaces: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.all_namespaces = all_namespaces
        self._clock = clock
        self._lists: OrderedDict[Scope, tuple[float, list[NodePod]]] = OrderedDict()
        self._pending: dict[Scope, asyncio.Future[list[NodePod]]] = {}

    async def pods(
        self, namespace: str, selector: LabelSelector, nodes: Iterable[str]
    ) -> list[PodView]:
        """The pods in `namespace` matching `selector` on `nodes`; raises ApiError or
        kube.watch.StreamError."""
        found: list[PodView] = []
        for node in sorted(nodes):
            for pod in await self._on_node(namespace, node):
                if pod.namespace == namespace and selector.matches(pod.labels):
                    found.append(pod.view)
        return found

    async def _on_node(self, namespace: str, node: str) -> list[NodePod]:
        scope = ("" if self.all_namespaces else namespace, node)
        kept = self._lists.get(scope)
        if kept is not None and self._clock() - kept[0] < POD_LIST_TTL:
            return kept[1]
        pending = self._pending.get(scope)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[NodePod]] = asyncio.get_running_loop().create_future()
        self._pending[scope] = future
        try:
            listed = await self._list(scope)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter may not exist
            raise
        finally:
            del self._pending[scope]
        future.set_result(listed)
        self._lists[scope] = (self._clock(), listed)
        self._lists.move_to_end(scope)
        while len(self._lists) > limits.NODE_POD_LISTS_KEPT:
            self._lists.popitem(last=False)
        return listed

    async def _list(self, scope: Scope) -> list[NodePod]:
        namespace, node = scope
        sink: PodSink[tuple[str, str], NodePod] = PodSink()
        lister = Reflector(
            self.client,
            "pods",
            resources.pods_path(namespace) if namespace else resources.all_pods_path(),
            resources.NODE_POD_PROJECTION,
            sink,
            query=[("fieldSelector", f"spec.nodeName={node}")],
        )
        await lister.list_once()
        return list(sink.pods.values())
