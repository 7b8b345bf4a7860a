"""The API paths this service reads and writes, and how each listed object is projected."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Final

from nodecount_scaler.kube.watch import Projection
from nodecount_scaler.model.annotations import is_enabled
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.objects import ProjectionError, object_name
from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.targets import TargetKey, TargetProjector, TargetView, project_target

NODES_PATH: Final = "/api/v1/nodes"


def deployments_path(namespace: str | None) -> str:
    if namespace is None:
        return "/apis/apps/v1/deployments"
    return f"/apis/apps/v1/namespaces/{namespace}/deployments"


def hpas_path(namespace: str | None) -> str:
    if namespace is None:
        return "/apis/autoscaling/v2/horizontalpodautoscalers"
    return f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"


def scale_path(key: TargetKey) -> str:
    """The scale subresource: the only way this service changes a target."""
    return f"/apis/apps/v1/namespaces/{key.namespace}/deployments/{key.name}/scale"


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def _node_key(obj: object) -> str | ProjectionError:
    named = object_name(obj, "Node")
    return named if isinstance(named, ProjectionError) else named[1]


def _target_key(obj: object) -> TargetKey | ProjectionError:
    named = object_name(obj, "Deployment")
    return named if isinstance(named, ProjectionError) else TargetKey(*named)


def _target_view(
    obj: object, project: Callable[[object], TargetView | ProjectionError] = project_target
) -> TargetView | ProjectionError | None:
    # Deployments cannot be filtered by annotation on the server; the ones that have not
    # opted in project to nothing and are never stored.
    if not isinstance(obj, Mapping):
        return project(obj)
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping) or not is_enabled(annotations):
        return None
    return project(obj)


def target_projection() -> Projection[TargetKey, TargetView]:
    """The projection for one Deployment watch: TARGET_PROJECTION with a memo of the last
    view of each target (model.targets.TargetProjector), so a status-only update or the
    echo of a replica write costs a decode and a comparison."""
    return Projection(_target_key, functools.partial(_target_view, project=TargetProjector()))


def _hpa_key(obj: object) -> HpaKey | ProjectionError:
    named = object_name(obj, "HorizontalPodAutoscaler")
    return named if isinstance(named, ProjectionError) else HpaKey(*named)


def _hpa_target(obj: object) -> TargetKey | ProjectionError | None:
    """The Deployment an HPA scales (same namespace), or None for any other target kind."""
    named = object_name(obj, "HorizontalPodAutoscaler")
    if isinstance(named, ProjectionError):
        return named
    assert isinstance(obj, Mapping)
    spec = obj.get("spec")
    ref = spec.get("scaleTargetRef") if isinstance(spec, Mapping) else None
    if not isinstance(ref, Mapping):
        return None
    api_version, kind, name = ref.get("apiVersion"), ref.get("kind"), ref.get("name")
    if not isinstance(api_version, str) or not isinstance(name, str) or not name:
        return None
    if kind != "Deployment" or api_version.partition("/")[0] not in ("apps", "extensions"):
        return None
    return TargetKey(named[0], name)


NODE_PROJECTION: Final[Projection[str, NodeView]] = Projection(_node_key, project_node)
TARGET_PROJECTION: Final[Projection[TargetKey, TargetView]] = Projection(_target_key, _target_view)
HPA_PROJECTION: Final[Projection[HpaKey, TargetKey]] = Projection(_hpa_key, _hpa_target)
