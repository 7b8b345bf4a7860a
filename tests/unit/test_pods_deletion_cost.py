"""Steering a scale-down: which pods get a low pod-deletion-cost, and the pod projection."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.objects import ProjectionError
from nodecount_scaler.model.pods import (
    DELETION_COST_ANNOTATION,
    LEAVING_NODE_DELETION_COST,
    PodView,
    deletion_cost_patches,
    ordinal,
    ordinal_scale_down_problem,
    project_pod,
)


def pod(name: str, node: str, cost: str | None = None, *, deleting: bool = False) -> PodView:
    return PodView(name, node, cost, deleting)


def test_deletion_cost_marks_pods_on_leaving_nodes() -> None:
    """Pods on nodes outside the eligible set get the low cost; others are left alone."""
    pods = [pod("on-a", "a"), pod("on-gone", "gone"), pod("pending", "")]
    assert deletion_cost_patches(pods, frozenset({"a"})) == {"on-gone": LEAVING_NODE_DELETION_COST}


def test_deletion_cost_removed_when_node_returns() -> None:
    """A cost set earlier is removed once the pod's node is eligible again; no rewrite if set."""
    pods = [
        pod("back", "a", LEAVING_NODE_DELETION_COST),
        pod("still-leaving", "b", LEAVING_NODE_DELETION_COST),
        pod("user-cost", "a", "50"),
    ]
    assert deletion_cost_patches(pods, frozenset({"a"})) == {"back": None}


def test_pods_being_deleted_are_left_alone() -> None:
    """A terminating pod is going anyway: no patch for it."""
    assert deletion_cost_patches([pod("bye", "gone", deleting=True)], frozenset()) == {}


def test_pod_projection_keeps_name_node_and_cost() -> None:
    """Only what steering reads is kept."""
    obj = {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "annotations": {DELETION_COST_ANNOTATION: "-1000", "other": "x"},
            "deletionTimestamp": "2026-11-30T00:00:00Z",
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running"},
    }
    assert project_pod(obj) == PodView("p", "n1", "-1000", True)


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"metadata": {"name": 3}},
        {"kind": "Node", "metadata": {"name": "p"}},
        {"metadata": {"name": "p"}, "spec": {"nodeName": 5}},
        {"metadata": {"name": "p", "annotations": {"a": None}}},
    ],
    ids=["array", "name-not-string", "wrong-kind", "node-name-number", "annotation-null"],
)
def test_pod_projection_rejects_what_is_not_a_pod(obj: object) -> None:
    """Malformed objects give a typed error, never an exception."""
    assert isinstance(project_pod(obj), ProjectionError)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("web-0", 0),
        ("web-12", 12),
        ("web-x", None),
        ("other-1", None),
        ("web-", None),
        ("web-\u0663", None),
    ],
    ids=["zero", "twelve", "not-a-number", "other-set", "empty", "non-ascii"],
)
def test_statefulset_ordinals(name: str, expected: int | None) -> None:
    """A StatefulSet's pods are <name>-<ordinal>."""
    assert ordinal("web", name) == expected


def test_statefulset_scale_down_strands_the_pod_on_the_leaving_node() -> None:
    """Scaling 3 -> 2 removes web-2 (a healthy node) while web-0 stays on the cordoned one."""
    pods = [pod("web-0", "cordoned"), pod("web-1", "n2"), pod("web-2", "n3")]
    problem = ordinal_scale_down_problem("web", pods, lambda n: n != "cordoned", 2)
    assert problem is not None
    assert "removes web-2 on n3" in problem
    assert "web-0 on cordoned stay" in problem


def test_statefulset_scale_down_of_the_highest_ordinal_is_fine() -> None:
    """When the highest ordinal is the one on the leaving node, there is nothing to say."""
    pods = [pod("web-0", "n1"), pod("web-1", "n2"), pod("web-2", "cordoned")]
    assert ordinal_scale_down_problem("web", pods, lambda n: n != "cordoned", 2) is None
