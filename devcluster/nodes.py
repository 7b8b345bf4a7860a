"""kwok Nodes: create them, wait for their readiness, and stop or revive their kubelets.

kwok manages only Nodes labelled ``kwok.x-k8s.io/node=fake``
(``--manage-nodes-with-label-selector``). ``stop_kubelet`` removes the label: the apiserver
then tells kwok's label-selected watch that the Node is gone, kwok stops renewing its Lease,
and after ``node_monitor_grace_period`` the node lifecycle controller marks it Ready=Unknown
and taints it ``node.kubernetes.io/unreachable`` (NoSchedule, and NoExecute unless every
node is down, see ``stop_kubelet``). ``start_kubelet`` puts the label back. An
*annotation* selector cannot do this with kwok v0.8.0: kwok filters annotations client-side
and keeps renewing the Lease of a node that stops matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from devcluster.api import ApiClient
from devcluster.polling import wait_until

KWOK_LABEL = "kwok.x-k8s.io/node"
KWOK_LABEL_VALUE = "fake"
NODE_ALLOCATABLE: Mapping[str, str] = {"cpu": "32", "memory": "256Gi", "pods": "110"}
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"


def _condition(node: Mapping[str, Any], kind: str) -> str | None:
    for c in node.get("status", {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status", ""))
    return None


def _taint_keys(node: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t.get("effect", "")) for t in node.get("spec", {}).get("taints") or []}


def kwok_node(
    name: str,
    kubelet_version: str,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] | None = None,
    allocatable: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Node object kwok will manage (see Nodes.add for the defaults)."""
    resources = dict(allocatable or NODE_ALLOCATABLE)
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        KWOK_LABEL: KWOK_LABEL_VALUE,
        **(labels or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels,
            "annotations": {KWOK_LABEL: KWOK_LABEL_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [dict(t) for t in taints or []]},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": kubelet_version,
            },
        },
    }


class Nodes:
    """The Nodes of one cluster, through its admin API client."""

    def __init__(self, api: ApiClient, kubelet_version: str) -> None:
        self.api = api
        self.kubelet_version = kubelet_version

    def get(self, name: str) -> dict[str, Any] | None:
        node: dict[str, Any] | None = self.api.get_or_none(f"/api/v1/nodes/{name}")
        return node

    def add(
        self,
        names: Iterable[str],
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Create kwok-managed Nodes (allocatable cpu 32, memory 256Gi, pods 110 unless
        overridden; labels ``kubernetes.io/hostname=<name>``, ``type=kwok``, os/arch and
        ``labels``; ``taints`` as ``{"key", "value", "effect"}`` dicts), all at once. With
        ``ready_wait``, return once each is Ready=True and the admission taint
        ``node.kubernetes.io/not-ready`` is gone. Returns the Node objects."""
        names = list(names)
        for name in names:
            body = kwok_node(name, self.kubelet_version, labels, taints, allocatable)
            self.api.post("/api/v1/nodes", body)
        if not ready_wait:
            return [self.get(n) or {} for n in names]
        return [self.wait_ready(n, timeout=timeout) for n in names]

    def wait_ready(self, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for Ready=True with neither not-ready nor unreachable taints."""

        def ready() -> dict[str, Any] | None:
            node = self.get(name)
            if node is None or _condition(node, "Ready") != "True":
                return None
            keys = {k for k, _ in _taint_keys(node)}
            if TAINT_NOT_READY in keys or TAINT_UNREACHABLE in keys:
                return None
            return node

        return wait_until(
            ready, timeout, interval=0.2, describe=f"node {name} to be Ready", retry_on=(Exception,)
        )

    def wait_not_ready(
        self, name: str, *, timeout: float = 90.0, effects: Sequence[str] = ("NoSchedule",)
    ) -> dict[str, Any]:
        """Wait for Ready!=True and the unreachable taint with each of ``effects``."""

        def down() -> dict[str, Any] | None:
            node = self.get(name)
            if node is None or _condition(node, "Ready") == "True":
                return None
            taints = _taint_keys(node)
            if all((TAINT_UNREACHABLE, e) in taints for e in effects):
                return node
            return None

        return wait_until(
            down,
            timeout,
            interval=0.5,
            describe=f"node {name} to be NotReady",
            retry_on=(Exception,),
        )

    def delete(self, name: str) -> None:
        self.api.delete(f"/api/v1/nodes/{name}")

    def stop_kubelet(self, name: str, *, wait: bool = False, timeout: float = 90.0) -> None:
        """Simulate a dead kubelet: kwok stops renewing the node's Lease and stops
        updating its pods. About ``node_monitor_grace_period`` (+ monitor period) later the
        node is Ready=Unknown with ``node.kubernetes.io/unreachable:NoSchedule``; the
        ``:NoExecute`` taint follows, except when no node of the zone is Ready (full
        disruption: the node lifecycle controller then withholds NoExecute taints).
        With ``wait``, return once Ready!=True and unreachable:NoSchedule is present."""
        self.api.merge_patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": {KWOK_LABEL: None}}})
        if wait:
            self.wait_not_ready(name, timeout=timeout)

    def start_kubelet(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Revive a node stopped with stop_kubelet; with ``wait``, return once it is
        Ready=True with no not-ready/unreachable taints."""
        self.api.merge_patch(
            f"/api/v1/nodes/{name}", {"metadata": {"labels": {KWOK_LABEL: KWOK_LABEL_VALUE}}}
        )
        if wait:
            self.wait_ready(name, timeout=timeout)
