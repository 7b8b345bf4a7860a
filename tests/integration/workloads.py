"""Deployments and observations shared by the integration tests."""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from typing import Any

import yaml

from devcluster import Cluster
from tests.manifests import EXAMPLES

EXAMPLE = EXAMPLES / "nginx-everywhere.yaml"


def nginx_everywhere(
    namespace: str, name: str = "nginx-everywhere", **annotations: str
) -> dict[str, Any]:
    """The article's Deployment from manifests/examples, in the test's namespace."""
    obj: dict[str, Any] = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    obj["metadata"]["namespace"] = namespace
    if name != "nginx-everywhere":
        obj["metadata"]["name"] = name
        obj["spec"]["selector"]["matchLabels"] = {"app": name}
        obj["spec"]["template"]["metadata"]["labels"] = {"app": name}
        term = obj["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ][0]
        term["labelSelector"]["matchLabels"] = {"app": name}
    obj["metadata"].setdefault("annotations", {}).update(annotations)
    return obj


def apply(cluster: Cluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def deployment(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.api.get(
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    )
    return found


def replicas(cluster: Cluster, namespace: str, name: str) -> int:
    return int(deployment(cluster, namespace, name)["spec"].get("replicas", 1))


def pods(cluster: Cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    listing = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{app}")
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def running_per_node(cluster: Cluster, namespace: str, app: str) -> Counter[str]:
    """Running pods per node (pods being deleted are not counted)."""
    return Counter(
        p["spec"].get("nodeName", "")
        for p in pods(cluster, namespace, app)
        if p.get("status", {}).get("phase") == "Running"
    )


def pending(cluster: Cluster, namespace: str, app: str) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in pods(cluster, namespace, app)
        if p.get("status", {}).get("phase") == "Pending"
    ]


def events(cluster: Cluster, namespace: str, reason: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if reason is None or e.get("reason") == reason]


def replica_writes(
    cluster: Cluster, namespace: str, name: str | None = None
) -> list[dict[str, Any]]:
    """The service's replica writes, from the audit log: patches of the Deployment itself
    (never /scale) sent with the user agent nodecount-scaler/..."""
    return [
        e
        for e in cluster.audit_events(namespace=namespace, name=name)
        if e.get("verb") == "patch"
        and (e.get("objectRef") or {}).get("resource") == "deployments"
        and not (e.get("objectRef") or {}).get("subresource")
        and str(e.get("userAgent", "")).startswith("nodecount-scaler")
    ]


def log_time(line: dict[str, Any]) -> float:
    """Wall-clock seconds of a scaler JSON log line."""
    stamp = str(line["timestamp"]).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(stamp).timestamp()
