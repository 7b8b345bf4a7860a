"""Workload kinds: StatefulSets, ReplicaSets and custom resources are targets like Deployments,
each read at its own template path, written through its own API, matched by HPAs by kind."""

from __future__ import annotations

from typing import Any

import pytest

from nodecount_scaler.kube.resources import hpa_projection, target_projection
from nodecount_scaler.model.kinds import (
    BUILTIN,
    DEPLOYMENT,
    REPLICASET,
    STATEFULSET,
    CustomWorkload,
    Removal,
    WorkloadKind,
    parse_workload,
)
from nodecount_scaler.model.objects import ProjectionError
from nodecount_scaler.model.state import ClusterState, HpaKey
from nodecount_scaler.model.targets import FindingKind, TargetKey, TargetView, project_target
from testkit.builders import deployment, node, node_view, workload

ROLLOUTS = CustomWorkload("argoproj.io", "v1alpha1", "rollouts", ("spec", "template"))


def as_kind(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "kind": kind}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("argoproj.io/v1alpha1/rollouts", ROLLOUTS),
        (
            "example.com/v1/agents:spec.podTemplate",
            CustomWorkload("example.com", "v1", "agents", ("spec", "podTemplate")),
        ),
    ],
    ids=["default-template", "template-path"],
)
def test_workload_flag_parses(text: str, expected: CustomWorkload) -> None:
    """GROUP/VERSION/RESOURCE[:PATH]; the template path defaults to spec.template."""
    assert parse_workload(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "rollouts",
        "argoproj.io/rollouts",
        "apps/v1/deployments",
        "policy.k8s.io/v1/x",
        "a.b/v1/Rollouts",
        "a.b/v1/r:spec..t",
        "x" * 300,
    ],
    ids=[
        "resource-only",
        "no-version",
        "builtin-apps",
        "k8s-io-group",
        "upper-case",
        "bad-path",
        "huge",
    ],
)
def test_workload_flag_rejects(text: str) -> None:
    """Each malformed value says what is wrong."""
    assert isinstance(parse_workload(text), str)


SCALE_PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/ns/deployments/d/scale",
    "StatefulSet": "/apis/apps/v1/namespaces/ns/statefulsets/d/scale",
    "ReplicaSet": "/apis/apps/v1/namespaces/ns/replicasets/d/scale",
    "ReplicationController": "/api/v1/namespaces/ns/replicationcontrollers/d/scale",
}


@pytest.mark.parametrize("kind", BUILTIN, ids=[w.kind for w in BUILTIN])
def test_builtin_kinds_project_alike(kind: WorkloadKind) -> None:
    """A StatefulSet or ReplicaSet opted in like a Deployment is a target of its kind, its
    pods found by its selector, its replicas written on the object itself."""
    view = target_projection(kind).view(workload(kind, replicas=3))
    assert isinstance(view, TargetView)
    assert view.key == TargetKey("ns", "d", kind.kind)
    assert view.valid
    assert view.workload is kind
    assert str(view.pod_selector) == "app=d"
    assert kind.scale_path("ns", "d") == SCALE_PATHS[kind.kind]
    assert kind.write_path("ns", "d") == SCALE_PATHS[kind.kind].removesuffix("/scale")


def test_only_deployments_surge() -> None:
    """RolloutWouldStall is for Deployments: StatefulSets and ReplicaSets replace in place."""
    kinds = {
        w.kind: {f.kind for f in v.findings}
        for w in BUILTIN
        if isinstance(
            v := project_target(workload(w, strategy={"type": "RollingUpdate"}), w), TargetView
        )
    }
    assert kinds == {
        "Deployment": {FindingKind.ROLLOUT_WOULD_STALL},
        "StatefulSet": set(),
        "ReplicaSet": set(),
        "ReplicationController": set(),
    }


def test_wrong_kind_is_rejected() -> None:
    """A Deployment delivered on the StatefulSet watch is not stored as one."""
    assert isinstance(
        target_projection(STATEFULSET).key(as_kind("Deployment", deployment())), ProjectionError
    )


def test_custom_template_path_and_missing_template() -> None:
    """A custom resource's template is read at its path; without one the target is invalid."""
    agents = CustomWorkload("example.com", "v1", "agents", ("spec", "podTemplate")).with_kind(
        "Agent"
    )
    obj = as_kind("Agent", deployment())
    obj["spec"]["podTemplate"] = obj["spec"].pop("template")
    view = project_target(obj, agents)
    assert isinstance(view, TargetView)
    assert view.valid
    assert agents.removal is Removal.UNKNOWN
    del obj["spec"]["podTemplate"]
    missing = project_target(obj, agents)
    assert isinstance(missing, TargetView)
    assert missing.template_error == "spec.podTemplate: no pod template at this path"


def test_custom_resources_are_written_through_scale() -> None:
    """A custom resource has no admission policy of ours: /scale is the narrowest write."""
    rollouts = ROLLOUTS.with_kind("Rollout")
    expected = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/scale"
    assert rollouts.write_path("ns", "r") == rollouts.scale_path("ns", "r") == expected


def test_custom_resource_without_scale_is_invalid_with_the_reason() -> None:
    """No /scale subresource: every target of the kind is reported, none is written."""
    rollouts = ROLLOUTS.with_kind(
        "Rollout", problem="rollouts.argoproj.io has no scale subresource"
    )
    view = project_target(as_kind("Rollout", deployment()), rollouts)
    assert isinstance(view, TargetView)
    assert not view.valid
    assert view.problems == ("rollouts.argoproj.io has no scale subresource",)


def hpa(kind: str, api_version: str, name: str = "d") -> dict[str, Any]:
    return {
        "metadata": {"name": "h", "namespace": "ns"},
        "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name}},
    }


@pytest.mark.parametrize(
    ("kind", "api_version", "expected"),
    [
        ("Deployment", "apps/v1", TargetKey("ns", "d")),
        ("Deployment", "extensions/v1beta1", TargetKey("ns", "d")),
        ("StatefulSet", "apps/v1", TargetKey("ns", "d", "StatefulSet")),
        ("Rollout", "argoproj.io/v1alpha1", TargetKey("ns", "d", "Rollout")),
        ("Rollout", "other.io/v1", None),
        ("ReplicationController", "v1", TargetKey("ns", "d", "ReplicationController")),
        ("ReplicaSet", "extensions/v1beta1", TargetKey("ns", "d", "ReplicaSet")),
        ("StatefulSet", "extensions/v1beta1", None),
        ("DaemonSet", "apps/v1", None),
    ],
    ids=[
        "deployment",
        "old-group",
        "statefulset",
        "custom",
        "custom-other-group",
        "core-group",
        "old-group-replicaset",
        "never-in-the-old-group",
        "unwatched",
    ],
)
def test_hpas_match_every_watched_kind(
    kind: str, api_version: str, expected: TargetKey | None
) -> None:
    """An HPA's scaleTargetRef names group, kind and name; it conflicts with that target."""
    projection = hpa_projection([*BUILTIN, ROLLOUTS.with_kind("Rollout")])
    assert projection.view(hpa(kind, api_version)) == expected


def test_relist_of_one_kind_leaves_the_others() -> None:
    """A StatefulSet relist does not drop the Deployment of the same name."""
    state = ClusterState(0.0)
    state.upsert_node(node_view(node("n1")), 0.0)
    for kind in (DEPLOYMENT, STATEFULSET):
        view = project_target(as_kind(kind.kind, deployment()), kind)
        assert isinstance(view, TargetView)
        state.upsert_target(view, 0.0)
    assert state.replace_targets([], 1.0, None, "StatefulSet") == {
        TargetKey("ns", "d", "StatefulSet")
    }
    assert set(state.targets) == {TargetKey("ns", "d")}
    assert state.upsert_hpa(HpaKey("ns", "h"), TargetKey("ns", "d", REPLICASET.kind)) == [
        TargetKey("ns", "d", "ReplicaSet")
    ]


def test_owned_workloads_are_not_targets() -> None:
    """A Deployment's ReplicaSet inherits its annotations; it is not a target of its own."""
    obj = as_kind("ReplicaSet", deployment())
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "u", "controller": True}
    ]
    assert target_projection(REPLICASET).view(obj) is None
    obj["metadata"]["ownerReferences"][0]["controller"] = False
    assert isinstance(target_projection(REPLICASET).view(obj), TargetView)
