"""Counting topology domains and cores: a zone that loses its last eligible node or gains its
first changes the count; any other node change inside a zone does not."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.status import target_status
from nodecount_scaler.model.targets import FindingKind, TargetKey
from testkit.builders import deployment, node, node_view, target_view

ZONE = "topology.kubernetes.io/zone"
KEY = TargetKey("ns", "d")


def zoned(name: str, zone: str | None, **kwargs: object) -> object:
    labels = {} if zone is None else {ZONE: zone}
    return node_view(node(name, labels=labels, **kwargs))  # type: ignore[arg-type]


def cluster(*nodes: tuple[str, str | None]) -> ClusterState:
    state = ClusterState(0.0)
    for name, zone in nodes:
        state.upsert_node(zoned(name, zone), 0.0)  # type: ignore[arg-type]
    state.upsert_target(target_view(deployment(topology_keys=(ZONE,))), 0.0)
    return state


def test_one_replica_per_zone() -> None:
    """Six nodes in three zones: three domains, three replicas."""
    state = cluster(("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("c1", "c"), ("c2", "c"))
    status = target_status(state, KEY, 1000)
    assert (status.eligible, status.domains, status.desired, status.topology) == (6, 3, 3, (ZONE,))


def test_zone_losing_its_last_node_changes_the_count() -> None:
    """Cordoning one node of a zone changes nothing; cordoning the last one drops the zone."""
    state = cluster(("a1", "a"), ("a2", "a"), ("b1", "b"))
    assert state.upsert_node(node_view(node("a1", labels={ZONE: "a"}, unschedulable=True)), 1.0)
    assert state.targets[KEY].count == 2
    state.upsert_node(node_view(node("a2", labels={ZONE: "a"}, unschedulable=True)), 1.0)
    assert state.targets[KEY].count == 1


def test_new_node_in_an_existing_zone_keeps_the_count_and_a_new_zone_adds_one() -> None:
    """The count follows zones, not nodes."""
    state = cluster(("a1", "a"), ("b1", "b"))
    state.upsert_node(zoned("a2", "a"), 1.0)  # type: ignore[arg-type]
    assert target_status(state, KEY, 1000).desired == 2
    state.upsert_node(zoned("c1", "c"), 1.0)  # type: ignore[arg-type]
    assert target_status(state, KEY, 1000).desired == 3


def test_relabelled_node_moves_between_zones() -> None:
    """A node that stays eligible but changes zone moves the count with it."""
    state = cluster(("a1", "a"), ("b1", "b"))
    assert state.upsert_node(zoned("b1", "a"), 1.0) == [KEY]  # type: ignore[arg-type]
    assert state.targets[KEY].count == 1


def test_nodes_without_the_key_are_a_finding_not_a_domain() -> None:
    """A keyless eligible node adds no domain and names the fix."""
    state = cluster(("a1", "a"), ("x1", None))
    status = target_status(state, KEY, 1000)
    assert status.domains == 1
    (finding,) = [f for f in status.findings if f.kind is FindingKind.NODES_WITHOUT_TOPOLOGY_KEY]
    assert f"`{ZONE} Exists`" in finding.message


def test_hostname_anti_affinity_counts_nodes() -> None:
    """The article's template counts nodes as before (no tally at all)."""
    state = ClusterState(0.0)
    for name in ("n1", "n2"):
        state.upsert_node(node_view(node(name)), 0.0)
    state.upsert_target(target_view(deployment()), 0.0)
    assert state.targets[KEY].tally is None
    assert target_status(state, KEY, 1000).domains is None


def test_annotation_overrides_the_template() -> None:
    """topology-key wins over the template's hostname anti-affinity."""
    state = ClusterState(0.0)
    for name, zone in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        state.upsert_node(zoned(name, zone), 0.0)  # type: ignore[arg-type]
    obj = deployment(annotations={"nodecount-scaler.io/topology-key": ZONE})
    state.upsert_target(target_view(obj), 0.0)
    status = target_status(state, KEY, 1000)
    assert (status.domains, status.desired) == (2, 2)
    assert any(f.kind is FindingKind.NO_SPREAD_CONSTRAINT for f in status.findings)


def test_cores_follow_the_eligible_nodes() -> None:
    """cores-per-replica sums allocatable CPU of eligible nodes only, exactly."""
    state = ClusterState(0.0)
    for name, cpu in (("n1", "3920m"), ("n2", "4"), ("n3", "1500m")):
        state.upsert_node(node_view(node(name, cpu=cpu)), 0.0)
    state.upsert_target(
        target_view(deployment(annotations={"nodecount-scaler.io/cores-per-replica": "2"})), 0.0
    )
    assert state.targets[KEY].cores == Fraction(942, 100)
    assert target_status(state, KEY, 1000).desired == 5
    state.upsert_node(node_view(node("n2", cpu="4", unschedulable=True)), 1.0)
    assert state.targets[KEY].cores == Fraction(542, 100)
    assert target_status(state, KEY, 1000).desired == 3


ZONES = st.sampled_from(["a", "b", "c", None])
CHANGES = st.lists(
    st.tuples(st.sampled_from([f"n{i}" for i in range(6)]), ZONES, st.booleans(), st.booleans()),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(CHANGES)
def test_incremental_tally_equals_a_fresh_count(
    changes: list[tuple[str, str | None, bool, bool]],
) -> None:
    """After any sequence of node changes and deletions, the running tally equals one built
    from scratch over the same nodes."""
    state = cluster()
    for name, zone, cordoned, delete in changes:
        if delete:
            state.delete_node(name)
        else:
            labels = {} if zone is None else {ZONE: zone}
            state.upsert_node(
                node_view(node(name, labels=labels, unschedulable=cordoned, cpu="1")), 1.0
            )
    incremental = state.targets[KEY]
    fresh = ClusterState(0.0)
    for view in state.nodes.values():
        fresh.upsert_node(view, 0.0)
    fresh.upsert_target(incremental.view, 0.0)
    assert incremental.eligible == fresh.targets[KEY].eligible
    assert incremental.measure() == fresh.targets[KEY].measure()
    ours, theirs = incremental.tally, fresh.targets[KEY].tally
    assert ours is not None
    assert theirs is not None
    assert ours.nodes_without_key() == theirs.nodes_without_key()


def test_scale_down_marks_pods_only_where_the_domain_is_gone() -> None:
    """A pod on a cordoned node in a zone that still counts stays; one in a zone with no
    eligible node left is the one to remove."""
    state = cluster(("a1", "a"), ("a2", "a"), ("b1", "b"))
    state.upsert_node(node_view(node("a1", labels={ZONE: "a"}, unschedulable=True)), 1.0)
    state.upsert_node(node_view(node("b1", labels={ZONE: "b"}, unschedulable=True)), 1.0)
    assert [state.keeps(KEY, n) for n in ("a1", "a2", "b1", "gone")] == [True, True, False, False]
