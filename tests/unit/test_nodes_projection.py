"""Projection of a Node to the small view the service keeps."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.nodes import Taint, project_node
from nodecount_scaler.model.objects import ProjectionError
from testkit.builders import node, node_view, taint


def test_keeps_only_scheduling_taints() -> None:
    """PreferNoSchedule is dropped; readiness taints fold into `ready`."""
    view = node_view(
        node(
            taints=[
                taint("a"),
                taint("b", "PreferNoSchedule"),
                taint("c", "NoExecute", "v"),
                taint("node.kubernetes.io/not-ready", "NoExecute"),
            ]
        )
    )
    assert view.taints == (Taint("a", "", "NoSchedule"), Taint("c", "v", "NoExecute"))
    assert not view.ready


@pytest.mark.parametrize(
    ("status", "ready"), [("True", True), ("False", False), ("Unknown", False), (None, False)]
)
def test_ready_condition(status: str | None, ready: bool) -> None:
    """Only Ready=True is ready."""
    assert node_view(node(ready=status)).ready is ready


def test_heartbeat_changes_do_not_change_the_view() -> None:
    """Fields outside the view (timestamps, images) leave it equal."""
    a = node()
    b = node()
    b["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-11-28T10:00:00Z"
    b["status"]["images"] = [{"names": ["x"], "sizeBytes": 1}]
    assert node_view(a) == node_view(b)


def test_identical_taints_are_shared() -> None:
    """Equal taint tuples are one object, so thousands of nodes cost one tuple."""
    first = node_view(node("a", taints=[taint("x")]))
    second = node_view(node("b", taints=[taint("x")]))
    assert first.taints is second.taints


def test_nameless_node_is_rejected() -> None:
    """An object without metadata.name cannot be tracked."""
    assert isinstance(project_node({"metadata": {}}), ProjectionError)


def test_deleting_and_cordon() -> None:
    """deletionTimestamp and spec.unschedulable are carried."""
    view = node_view(node(deleting=True, unschedulable=True))
    assert view.deleting
    assert view.unschedulable
