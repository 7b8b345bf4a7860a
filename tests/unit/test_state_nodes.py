"""ClusterState: eligible sets follow node changes; only affected targets are reported."""

from __future__ import annotations

from nodecount_scaler.model.state import ClusterState, HpaKey
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, node_view, taint, target_view

A = TargetKey("ns", "a")
B = TargetKey("ns", "b")


def state_with_targets(grace: float = 30.0) -> ClusterState:
    state = ClusterState(grace)
    state.upsert_target(
        target_view(deployment("a", annotations={"nodecount-scaler.io/node-selector": "pool=x"})),
        0.0,
    )
    state.upsert_target(target_view(deployment("b")), 0.0)
    return state


def test_node_added_counts_for_matching_targets_only() -> None:
    """A pool=y node changes only the target that selects all nodes."""
    state = state_with_targets()
    assert state.upsert_node(node_view(node("n1", labels={"pool": "y"})), 0.0) == [B]
    assert state.targets[B].eligible == {"n1"}
    assert state.targets[A].eligible == set()


def test_unchanged_view_reports_nothing() -> None:
    """A heartbeat-only update (same view) changes nothing."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1")), 0.0)
    assert state.upsert_node(node_view(node("n1")), 1.0) == []


def test_relabel_moves_node_between_targets() -> None:
    """Relabelling in and out of a selector is reported for that target."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1", labels={"pool": "y"})), 0.0)
    assert state.upsert_node(node_view(node("n1", labels={"pool": "x"})), 1.0) == [A]
    assert state.upsert_node(node_view(node("n1", labels={"pool": "y"})), 2.0) == [A]
    assert state.targets[A].eligible == set()


def test_cordon_and_taint_leave_at_once() -> None:
    """Cordon and an untolerated taint drop the node without any grace."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1")), 0.0)
    assert state.upsert_node(node_view(node("n1", unschedulable=True)), 1.0) == [B]
    state.upsert_node(node_view(node("n1")), 2.0)
    assert state.upsert_node(node_view(node("n1", taints=[taint("x")])), 3.0) == [B]


def test_delete_node() -> None:
    """Deleting an eligible node reports its targets; deleting an unknown node reports none."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1")), 0.0)
    assert state.delete_node("n1") == [B]
    assert state.delete_node("n1") == []


def test_replace_nodes_removes_unlisted() -> None:
    """A relist deletes nodes that are gone and adds new ones in one pass."""
    state = state_with_targets()
    state.upsert_node(node_view(node("old")), 0.0)
    changed = state.replace_nodes([node_view(node("new"))], 1.0)
    assert changed == {B}
    assert state.targets[B].eligible == {"new"}
    assert set(state.nodes) == {"new"}


def test_target_added_after_nodes_sees_them() -> None:
    """A target that opts in later is computed against all cached nodes."""
    state = ClusterState(30.0)
    for i in range(3):
        state.upsert_node(node_view(node(f"n{i}")), 0.0)
    assert state.upsert_target(target_view(deployment("late")), 0.0)
    assert len(state.targets[TargetKey("ns", "late")].eligible) == 3


def test_replicas_change_keeps_eligible_set() -> None:
    """A change of spec.replicas alone needs a reconcile but no recount."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1")), 0.0)
    before = state.targets[B].eligibility
    assert state.upsert_target(target_view(deployment("b", replicas=7)), 1.0)
    assert state.targets[B].eligibility is before
    assert state.targets[B].eligible == {"n1"}


def test_identical_target_needs_no_reconcile() -> None:
    """The same Deployment view again is not a change."""
    state = state_with_targets()
    assert not state.upsert_target(target_view(deployment("b")), 1.0)


def test_replace_targets_reports_removed() -> None:
    """A relist without a target reports it so its records are dropped."""
    state = state_with_targets()
    assert state.replace_targets([target_view(deployment("b"))], 1.0) == {A}
    assert set(state.targets) == {B}


def test_hpa_conflicts() -> None:
    """An HPA on a target is reported for it, and its removal too."""
    state = state_with_targets()
    assert state.upsert_hpa(HpaKey("ns", "h"), B) == [B]
    assert state.hpas_for(B) == ["h"]
    assert state.upsert_hpa(HpaKey("ns", "h"), B) == []
    assert sorted(state.upsert_hpa(HpaKey("ns", "h"), A)) == [A, B]
    assert state.delete_hpa(HpaKey("ns", "h")) == [A]
    assert state.hpas_for(A) == []


def test_replace_hpas() -> None:
    """A relist of HPAs reports targets that gained or lost one."""
    state = state_with_targets()
    state.upsert_hpa(HpaKey("ns", "h1"), A)
    assert state.replace_hpas({HpaKey("ns", "h2"): B}) == {A, B}
    assert state.hpas_for(B) == ["h2"]


def test_excluded_nodes_explains() -> None:
    """excluded_nodes names the first failing rule of each excluded node."""
    state = state_with_targets()
    state.upsert_node(node_view(node("n1", labels={"pool": "y"})), 0.0)
    state.upsert_node(node_view(node("n2", labels={"pool": "x"}, unschedulable=True)), 0.0)
    reasons = {k: v[0].value for k, v in state.excluded_nodes(A, 0.0).items()}
    assert reasons == {"n1": "node-selector-annotation", "n2": "cordoned"}


def test_namespace_relist_keeps_other_namespaces() -> None:
    """With one watch per namespace, a relist of one leaves the others' targets alone."""
    state = ClusterState(30.0)
    other = target_view(deployment("x", namespace="other"))
    state.upsert_target(other, 0.0)
    state.upsert_target(target_view(deployment("gone", namespace="ns")), 0.0)
    assert state.replace_targets([target_view(deployment("b"))], 1.0, "ns") == {
        B,
        TargetKey("ns", "gone"),
    }
    assert set(state.targets) == {B, other.key}


def test_namespace_hpa_relist_keeps_other_namespaces() -> None:
    """An HPA relist of one namespace does not forget the HPAs of another."""
    state = state_with_targets()
    other = TargetKey("other", "x")
    state.upsert_hpa(HpaKey("other", "h"), other)
    state.upsert_hpa(HpaKey("ns", "h"), A)
    assert state.replace_hpas({}, "ns") == {A}
    assert state.hpas_for(other) == ["h"]
    assert state.hpas_for(A) == []
