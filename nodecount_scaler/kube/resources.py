"""The API paths this service reads and writes, and how each listed object is projected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from nodecount_scaler import limits
from nodecount_scaler.kube import wire
from nodecount_scaler.kube.watch import Projection
from nodecount_scaler.model.annotations import is_enabled
from nodecount_scaler.model.kinds import DEPLOYMENT, WorkloadKind
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.objects import ProjectionError, object_name
from nodecount_scaler.model.pods import NodePod, PodView, project_node_pod, project_pod
from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.targets import TargetKey, TargetProjector, TargetView, project_target

NODES_PATH: Final = "/api/v1/nodes"
# The field manager of every write (managedFields show who owns spec.replicas).
FIELD_MANAGER: Final = "nodecount-scaler"


def hpas_path(namespace: str | None) -> str:
    if namespace is None:
        return "/apis/autoscaling/v2/horizontalpodautoscalers"
    return f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def _node_key(obj: object) -> str | ProjectionError:
    named = object_name(obj, "Node")
    return named if isinstance(named, ProjectionError) else named[1]


def target_projection(workload: WorkloadKind) -> Projection[TargetKey, TargetView]:
    """How objects of one workload kind become targets (for one watch: with a memo of the
    last view of each target, model.targets.TargetProjector, so a status-only update or
    the echo of a replica write costs a decode and a comparison)."""
    project = TargetProjector(workload)

    def key(obj: object) -> TargetKey | ProjectionError:
        named = object_name(obj, workload.kind)
        return named if isinstance(named, ProjectionError) else TargetKey(*named, workload.kind)

    def tracked(obj: object) -> bool:
        # Workloads cannot be filtered by annotation on the server; the ones that have not
        # opted in project to nothing and are never stored.
        if not isinstance(obj, Mapping):
            return True  # project_target says what is wrong with it
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        if not isinstance(annotations, Mapping) or not is_enabled(annotations):
            return False
        # A Deployment's ReplicaSets carry copies of its annotations; the owner is the
        # target, and scaling what another controller owns would fight it.
        return not has_controller(metadata)

    def view(obj: object) -> TargetView | ProjectionError | None:
        return project(obj) if tracked(obj) else None

    def oversized(skeleton: object, size: int) -> TargetView | ProjectionError | None:
        """A target past limits.MAX_TARGET_OBJECT_BYTES: shown and refused, never read."""
        if not tracked(skeleton):
            return None
        found = project_target(skeleton, workload)
        if not isinstance(found, TargetView):
            return found
        problem = (
            f"{workload.template_where}: the {workload.kind} is {size:,} bytes of JSON, over "
            f"the {limits.MAX_TARGET_OBJECT_BYTES:,} this service reads of one target"
        )
        return replace(found, placement=None, template_error=problem, findings=())

    return Projection(key, view, limits.MAX_TARGET_OBJECT_BYTES, oversized)


def has_controller(metadata: object) -> bool:
    """Whether an ownerReference marks another object as this one's controller."""
    owners = metadata.get("ownerReferences") if isinstance(metadata, Mapping) else None
    return isinstance(owners, list) and any(
        isinstance(o, Mapping) and o.get("controller") is True for o in owners
    )


def _pod_key(obj: object) -> str | ProjectionError:
    named = object_name(obj, "Pod")
    return named if isinstance(named, ProjectionError) else named[1]


def _namespaced_pod_key(obj: object) -> tuple[str, str] | ProjectionError:
    return object_name(obj, "Pod")


def _hpa_key(obj: object) -> HpaKey | ProjectionError:
    named = object_name(obj, "HorizontalPodAutoscaler")
    return named if isinstance(named, ProjectionError) else HpaKey(*named)


def hpa_projection(workloads: Sequence[WorkloadKind]) -> Projection[HpaKey, TargetKey]:
    """An HPA as the target it scales (same namespace); None for a kind not watched here."""

    def scales(obj: object) -> TargetKey | ProjectionError | None:
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
        group = api_version.partition("/")[0] if "/" in api_version else ""
        workload = next((w for w in workloads if w.named_by(group, str(kind))), None)
        return None if workload is None else TargetKey(named[0], name, workload.kind)

    return Projection(_hpa_key, scales)


NODE_PROJECTION: Final[Projection[str, NodeView]] = Projection(
    _node_key, project_node, item_decoder=wire.node_fields, event_decoder=wire.node_event
)
TARGET_PROJECTION: Final = target_projection(DEPLOYMENT)
# Pods of one target, keyed by name (one namespace): only what steering reads is kept.
POD_PROJECTION: Final[Projection[str, PodView]] = Projection(_pod_key, project_pod)
# Pods on one node, any namespace, keyed by (namespace, name): control/nodepods.py.
NODE_POD_PROJECTION: Final[Projection[tuple[str, str], NodePod]] = Projection(
    _namespaced_pod_key, project_node_pod
)


def all_pods_path() -> str:
    return "/api/v1/pods"
