"""What a cluster's workloads look like now: Deployments, their pods and Events.

Shared by the demo and the integration tests, so both read a Deployment the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from devcluster.controlplane import ControlPlane


def deployment(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.api.get(
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    )
    return found


def replicas(cluster: ControlPlane, namespace: str, name: str) -> int:
    """spec.replicas; apps/v1 defaults a missing one to 1 (the API server stores it so)."""
    return int(deployment(cluster, namespace, name)["spec"].get("replicas", 1))


def pods(cluster: ControlPlane, namespace: str, app: str) -> list[dict[str, Any]]:
    """Pods labelled ``app=<app>`` that are not being deleted."""
    listing = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{app}")
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def running(cluster: ControlPlane, namespace: str, app: str) -> list[dict[str, Any]]:
    return [
        p for p in pods(cluster, namespace, app) if p.get("status", {}).get("phase") == "Running"
    ]


def running_per_node(cluster: ControlPlane, namespace: str, app: str) -> Counter[str]:
    """Running pods per node (pods being deleted are not counted)."""
    return Counter(p["spec"].get("nodeName", "") for p in running(cluster, namespace, app))


def pending(cluster: ControlPlane, namespace: str, app: str) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in pods(cluster, namespace, app)
        if p.get("status", {}).get("phase") == "Pending"
    ]


def events(
    cluster: ControlPlane, namespace: str, reason: str | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if reason is None or e.get("reason") == reason]
