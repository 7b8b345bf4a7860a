"""The NotReady grace: a flap shorter than the grace changes nothing; a longer one counts."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, node_view, taint, target_view

T = TargetKey("ns", "d")
UNREACHABLE = [
    taint("node.kubernetes.io/unreachable"),
    taint("node.kubernetes.io/unreachable", "NoExecute"),
]


def ready_cluster(grace: float = 30.0) -> ClusterState:
    state = ClusterState(grace)
    state.upsert_target(target_view(deployment("d")), 0.0)
    state.upsert_node(node_view(node("n1")), 0.0)
    return state


def test_not_ready_within_grace_still_counts() -> None:
    """Turning NotReady reports no change and keeps the node eligible."""
    state = ready_cluster()
    assert state.upsert_node(node_view(node("n1", ready="False")), 10.0) == []
    assert state.targets[T].eligible == {"n1"}
    assert state.next_grace_expiry() == 40.0


def test_unreachable_taints_are_covered_by_the_grace() -> None:
    """Ready=Unknown with the lifecycle controller's taints is one flap, under one grace."""
    state = ready_cluster()
    flapped = node_view(node("n1", ready="Unknown", taints=UNREACHABLE))
    assert state.upsert_node(flapped, 10.0) == []


def test_grace_expiry_drops_the_node() -> None:
    """After the grace the node stops counting and the target is reported."""
    state = ready_cluster()
    state.upsert_node(node_view(node("n1", ready="False")), 10.0)
    assert state.expire_grace(39.9) == set()
    assert state.expire_grace(40.0) == {T}
    assert state.targets[T].eligible == set()
    assert state.next_grace_expiry() is None


@pytest.mark.parametrize(
    ("since", "grace"),
    [(0.15, 0.3), (2.7, 0.3), (12345.678, 0.3), (100000.1, 0.7), (10.0, 30.0)],
)
def test_grace_expires_at_the_instant_the_timer_is_set_for(since: float, grace: float) -> None:
    """At exactly next_grace_expiry() the node is expired, even where `(since + grace) -
    since` rounds below the grace in floats (the first four rows): otherwise the timer
    wakes, expires nothing and re-arms for a zero wait, over and over."""
    state = ready_cluster(grace)
    state.upsert_node(node_view(node("n1", ready="False")), since)
    deadline = state.next_grace_expiry()
    assert deadline is not None
    assert state.expire_grace(deadline) == {T}
    assert state.next_grace_expiry() is None


def test_flap_back_within_grace_changes_nothing() -> None:
    """Ready again before the grace ends: no change at any point."""
    state = ready_cluster()
    state.upsert_node(node_view(node("n1", ready="False")), 10.0)
    assert state.upsert_node(node_view(node("n1")), 20.0) == []
    assert state.next_grace_expiry() is None
    assert state.expire_grace(100.0) == set()


def test_node_first_seen_not_ready_never_counts() -> None:
    """A node that was never Ready gets no grace."""
    state = ready_cluster()
    assert state.upsert_node(node_view(node("n2", ready="False")), 5.0) == []
    assert state.targets[T].eligible == {"n1"}
    assert state.next_grace_expiry() is None


def test_new_node_counts_when_ready() -> None:
    """A new node counts from the moment it is Ready without the not-ready taint."""
    state = ready_cluster()
    state.upsert_node(node_view(node("n2", taints=[taint("node.kubernetes.io/not-ready")])), 1.0)
    assert state.upsert_node(node_view(node("n2")), 2.0) == [T]


def test_deleted_during_grace() -> None:
    """A node deleted during its grace leaves at once and clears its timer."""
    state = ready_cluster()
    state.upsert_node(node_view(node("n1", ready="False")), 10.0)
    assert state.delete_node("n1") == [T]
    assert state.next_grace_expiry() is None


def test_other_change_during_grace_takes_effect() -> None:
    """Cordoning a node inside its NotReady grace still removes it at once."""
    state = ready_cluster()
    state.upsert_node(node_view(node("n1", ready="False")), 10.0)
    assert state.upsert_node(node_view(node("n1", ready="False", unschedulable=True)), 11.0) == [T]


def test_zero_grace_is_immediate() -> None:
    """With no grace, NotReady removes the node at once."""
    state = ready_cluster(grace=0.0)
    assert state.upsert_node(node_view(node("n1", ready="False")), 10.0) == [T]
