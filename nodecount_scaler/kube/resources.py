"""The collections the service lists and watches, and how each object is projected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from nodecount_scaler.kube.watch import Projection
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.targets import (
    TargetKey,
    TargetView,
    deployment_key,
    is_target,
    project_target,
)

NODES_PATH: Final = "/api/v1/nodes"


def deployments_path(namespace: str | None) -> str:
    if namespace is None:
        return "/apis/apps/v1/deployments"
    return f"/apis/apps/v1/namespaces/{namespace}/deployments"


def hpas_path(namespace: str | None) -> str:
    if namespace is None:
        return "/apis/autoscaling/v2/horizontalpodautoscalers"
    return f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"


def _node_name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _target_view(obj: Mapping[str, Any]) -> TargetView | None:
    # Deployments cannot be filtered by annotation on the server; the ones that have not
    # opted in project to nothing and are never stored.
    return project_target(obj) if is_target(obj) else None


def _hpa_key(obj: Mapping[str, Any]) -> HpaKey:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _hpa_target(obj: Mapping[str, Any]) -> TargetKey | None:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    group = str(ref.get("apiVersion", "")).partition("/")[0]
    if ref.get("kind") != "Deployment" or group not in ("apps", "extensions"):
        return None
    namespace = str((obj.get("metadata") or {}).get("namespace", ""))
    return TargetKey(namespace, str(ref.get("name", "")))


NODES: Final[Projection[str, NodeView]] = Projection(_node_name, project_node)
DEPLOYMENTS: Final[Projection[TargetKey, TargetView]] = Projection(deployment_key, _target_view)
HPAS: Final[Projection[HpaKey, TargetKey]] = Projection(_hpa_key, _hpa_target)
