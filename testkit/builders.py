"""Builders of Node and Deployment JSON for tests (the shapes the API server returns)."""

from __future__ import annotations

from typing import Any

from nodecount_scaler.model.kinds import WorkloadKind
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.targets import TargetView, project_target

JsonObject = dict[str, Any]


def node_view(obj: object) -> NodeView:
    """The projection of a Node that must project (the builders' objects always do)."""
    view = project_node(obj)
    assert isinstance(view, NodeView), view
    return view


def target_view(obj: object) -> TargetView:
    """The projection of a Deployment that must project (the builders' objects always do)."""
    view = project_target(obj)
    assert isinstance(view, TargetView), view
    return view


def node(
    name: str = "n1",
    *,
    labels: dict[str, str] | None = None,
    taints: list[JsonObject] | None = None,
    unschedulable: bool = False,
    ready: str | None = "True",
    deleting: bool = False,
    cpu: str | None = None,
) -> JsonObject:
    """A Node; `ready` is the Ready condition status, None for no Ready condition; `cpu` its
    allocatable CPU quantity."""
    metadata: JsonObject = {
        "name": name,
        "resourceVersion": "1",
        "labels": {"kubernetes.io/hostname": name, **(labels or {})},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T00:00:00Z"
    spec: JsonObject = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    status: JsonObject = {"conditions": conditions}
    if cpu is not None:
        status["allocatable"] = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    return {"metadata": metadata, "spec": spec, "status": status}


def taint(key: str, effect: str = "NoSchedule", value: str | None = None) -> JsonObject:
    out: JsonObject = {"key": key, "effect": effect}
    if value is not None:
        out["value"] = value
    return out


def toleration(
    key: str | None = None,
    operator: str | None = None,
    value: str | None = None,
    effect: str | None = None,
    seconds: int | None = None,
) -> JsonObject:
    out: JsonObject = {}
    for field, v in (("key", key), ("operator", operator), ("value", value), ("effect", effect)):
        if v is not None:
            out[field] = v
    if seconds is not None:
        out["tolerationSeconds"] = seconds
    return out


def required_affinity(*terms: JsonObject) -> JsonObject:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
        }
    }


def term(*expressions: JsonObject, fields: list[JsonObject] | None = None) -> JsonObject:
    out: JsonObject = {}
    if expressions:
        out["matchExpressions"] = list(expressions)
    if fields:
        out["matchFields"] = fields
    return out


def expr(key: str, operator: str, *values: str) -> JsonObject:
    out: JsonObject = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def anti_affinity(app: str, *keys: str) -> JsonObject:
    """Required anti-affinity among the app's own pods, one term per topology key."""
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
                for key in keys or ("kubernetes.io/hostname",)
            ]
        }
    }


def deployment(
    name: str = "d",
    namespace: str = "ns",
    *,
    replicas: int = 1,
    annotations: dict[str, str] | None = None,
    enabled: bool = True,
    pod_spec: JsonObject | None = None,
    spread: bool = True,
    strategy: JsonObject | None = None,
    topology_keys: tuple[str, ...] = (),
) -> JsonObject:
    """An opted-in Deployment whose pods spread one per node (or per domain of each of
    `topology_keys`) unless `spread` is False."""
    notes = dict(annotations or {})
    if enabled:
        notes.setdefault("nodecount-scaler.io/enabled", "true")
    spec_pod: JsonObject = {"containers": [{"name": "c", "image": "nginx"}], **(pod_spec or {})}
    if spread:
        affinity = dict(spec_pod.get("affinity") or {})
        affinity.update(anti_affinity(name, *topology_keys))
        spec_pod["affinity"] = affinity
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "resourceVersion": "1",
            "annotations": notes,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy
            or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec_pod},
        },
    }


def workload(kind: WorkloadKind, name: str = "d", **kwargs: Any) -> JsonObject:
    """An opted-in object of `kind`: `deployment(name, **kwargs)` in that kind's shape (its
    kind, and spec.selector a plain map where the kind's is one)."""
    obj = {**deployment(name, **kwargs), "kind": kind.kind}
    if kind.selector_is_map:
        obj["spec"]["selector"] = obj["spec"]["selector"]["matchLabels"]
    return obj


def absent_keys_selector(count: int) -> str:
    """`!k00000,!k00001,...`: a node selector of `count` requirements, each a key no node has
    (issue 13's hostile annotation: 32,000 of them fit in the API's 256 KiB)."""
    return ",".join(f"!k{i:05d}" for i in range(count))
