"""Target projection: findings on the pod template and tolerance of bad content."""

from __future__ import annotations

from typing import Any

import pytest

from nodecount_scaler.model.targets import (
    FindingKind,
    resolved_max_surge,
)
from testkit.builders import deployment, target_view

HOSTNAME_SPREAD = {
    "topologySpreadConstraints": [
        {
            "topologyKey": "kubernetes.io/hostname",
            "maxSkew": 1,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "d"}},
        }
    ]
}


def kinds(obj: dict[str, Any]) -> set[FindingKind]:
    return {f.kind for f in target_view(obj).findings}


def test_safe_template_has_no_findings() -> None:
    """Required hostname anti-affinity with maxSurge 0 is the recommended shape."""
    assert kinds(deployment("d")) == set()


def test_no_spread_constraint() -> None:
    """Without anti-affinity or a hostname spread, replicas == nodes is not one per node."""
    assert kinds(deployment("d", spread=False)) == {FindingKind.NO_SPREAD_CONSTRAINT}


def test_hostname_spread_is_enough() -> None:
    """A hostname topologySpreadConstraint with maxSkew 1 and DoNotSchedule also spreads."""
    assert kinds(deployment("d", spread=False, pod_spec=HOSTNAME_SPREAD)) == set()


@pytest.mark.parametrize(
    "change",
    [
        {"maxSkew": 2},
        {"whenUnsatisfiable": "ScheduleAnyway"},
        {"topologyKey": "topology.kubernetes.io/zone"},
        {"labelSelector": {"matchLabels": {"app": "other"}}},
    ],
    ids=["skew-2", "schedule-anyway", "zone-key", "other-pods"],
)
def test_weak_spread_is_reported(change: dict[str, Any]) -> None:
    """A spread constraint that does not force one pod per node is not enough."""
    spec = {
        "topologySpreadConstraints": [{**HOSTNAME_SPREAD["topologySpreadConstraints"][0], **change}]
    }
    assert FindingKind.NO_SPREAD_CONSTRAINT in kinds(deployment("d", spread=False, pod_spec=spec))


def test_anti_affinity_on_other_pods_is_not_spread() -> None:
    """Anti-affinity that selects some other app's pods does not keep ours apart."""
    obj = deployment("d", spread=False)
    obj["spec"]["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "x"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    assert kinds(obj) == {FindingKind.NO_SPREAD_CONSTRAINT}


@pytest.mark.parametrize(
    ("strategy", "replicas", "surge"),
    [
        (None, 4, 1),
        ({"type": "RollingUpdate"}, 4, 1),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}, 10, 3),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 4, 0),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%"}}, 4, 0),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}}, 4, 2),
        ({"type": "Recreate"}, 4, 0),
        (None, 0, 0),
    ],
    ids=[
        "default",
        "default-rolling",
        "percent-rounds-up",
        "zero",
        "zero-percent",
        "int",
        "recreate",
        "no-replicas",
    ],
)
def test_resolved_max_surge(strategy: dict[str, Any] | None, replicas: int, surge: int) -> None:
    """maxSurge resolves like the Deployment controller (percent of replicas, rounded up)."""
    spec: dict[str, Any] = {} if strategy is None else {"strategy": strategy}
    assert resolved_max_surge(spec, replicas) == surge


def test_rollout_would_stall() -> None:
    """Default maxSurge with required hostname anti-affinity stalls rollouts."""
    obj = deployment("d", replicas=3, strategy={"type": "RollingUpdate"})
    assert kinds(obj) == {FindingKind.ROLLOUT_WOULD_STALL}


def test_invalid_template_is_reported_not_raised() -> None:
    """A template that cannot be evaluated makes the target invalid, without an exception."""
    obj = deployment("d", pod_spec={"tolerations": [{"key": "k", "operator": "Sometimes"}]})
    view = target_view(obj)
    assert not view.valid
    assert view.template_error is not None
    assert "tolerations[0]" in view.template_error


def test_invalid_annotation_is_reported() -> None:
    """A bad annotation leaves config None and lists the problem."""
    view = target_view(deployment("d", annotations={"nodecount-scaler.io/min-replicas": "-1"}))
    assert not view.valid
    assert view.problems == ("nodecount-scaler.io/min-replicas='-1': must be 0 or more",)


INCLUDE = {"nodecount-scaler.io/include-unschedulable-nodes": "true"}
INCLUDE_ROWS = [
    ("scale signal: no spread", {"spread": False}, True),
    ("one per node: hostname anti-affinity", {}, False),
    ("one per node: hostname spread", {"spread": False, "pod_spec": HOSTNAME_SPREAD}, False),
    ("one per zone", {"topology_keys": ("topology.kubernetes.io/zone",)}, False),
]


@pytest.mark.parametrize(
    ("shape", "valid"), [r[1:] for r in INCLUDE_ROWS], ids=[r[0] for r in INCLUDE_ROWS]
)
def test_include_unschedulable_refused_where_it_would_strand_pods(
    shape: dict[str, Any], valid: bool
) -> None:
    """Counting cordoned and NotReady nodes is for targets whose replicas are a scale signal;
    on a template that keeps one pod per node (or domain) the replica counted for a cordoned
    node would stay Pending, so the target is invalid, the key named."""
    view = target_view(deployment("d", annotations=INCLUDE, **shape))
    assert view.valid is valid
    if valid:
        assert view.config is not None
        assert view.config.include_unschedulable
    else:
        (error,) = view.annotation_errors
        assert error.key == "nodecount-scaler.io/include-unschedulable-nodes"
        assert "would strand pods" in error.problem
