"""Projection of a Node to the small view the service keeps."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.nodes import NodeFormatError, Taint, project_node
from tests.builders import node, taint


def test_keeps_only_scheduling_taints() -> None:
    """PreferNoSchedule is dropped; readiness taints fold into `ready`."""
    view = project_node(
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
    assert project_node(node(ready=status)).ready is ready


def test_heartbeat_changes_do_not_change_the_view() -> None:
    """Fields outside the view (timestamps, images) leave it equal."""
    a = node()
    b = node()
    b["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-11-28T10:00:00Z"
    b["status"]["images"] = [{"names": ["x"], "sizeBytes": 1}]
    assert project_node(a) == project_node(b)


def test_identical_taints_are_shared() -> None:
    """Equal taint tuples are one object, so thousands of nodes cost one tuple."""
    first = project_node(node("a", taints=[taint("x")]))
    second = project_node(node("b", taints=[taint("x")]))
    assert first.taints is second.taints


def test_nameless_node_is_rejected() -> None:
    """An object without metadata.name cannot be tracked."""
    with pytest.raises(NodeFormatError):
        project_node({"metadata": {}})


def test_deleting_and_cordon() -> None:
    """deletionTimestamp and spec.unschedulable are carried."""
    view = project_node(node(deleting=True, unschedulable=True))
    assert view.deleting
    assert view.unschedulable
