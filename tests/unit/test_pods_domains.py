"""Counting topology domains: the surplus pods of a scale-down (a relabel doubles a domain),
and whether every counted domain holds a pod."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.pods import (
    LEAVING_NODE_DELETION_COST,
    DomainCheck,
    PodView,
    deletion_cost_patches,
    domain_check,
    surplus_pods,
)

# Node -> zone; "x" is in zone b after a relabel that moved it out of zone a.
ZONE = {"a1": "a", "b1": "b", "x": "b", "c1": "c", "gone": "c", "nolabel": None}
LEAVING = LEAVING_NODE_DELETION_COST


def pod(name: str, node: str, cost: str | None = None, *, deleting: bool = False) -> PodView:
    return PodView(name, node, cost, deleting)


def counts(node: str) -> bool:
    return node != "gone"


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        pytest.param([pod("pa", "a1"), pod("pb", "b1"), pod("pc", "c1")], set(), id="one-each"),
        pytest.param([pod("pb", "b1"), pod("px", "x"), pod("pc", "c1")], {"px"}, id="relabel"),
        pytest.param(
            [pod("pb", "b1", LEAVING), pod("px", "x"), pod("pc", "c1")],
            {"pb"},
            id="keeps-the-unmarked-one",
        ),
        pytest.param([pod("pb", "b1"), pod("pg", "gone")], {"pg"}, id="node-no-longer-counts"),
        pytest.param(
            [pod("pb", "b1"), pod("px", "x", deleting=True)], set(), id="deleting-is-gone"
        ),
        pytest.param([pod("p1", "nolabel"), pod("p2", "nolabel")], set(), id="no-domain"),
        pytest.param([pod("pend", ""), pod("pb", "b1")], set(), id="pending"),
    ],
)
def test_surplus_pods(pods: list[PodView], expected: set[str]) -> None:
    """Pods on nodes that no longer count, and all but one pod of a domain that holds several."""
    assert surplus_pods(pods, counts, ZONE.get) == expected


def test_without_domains_only_leaving_nodes_are_surplus() -> None:
    """Counting nodes, two pods in one zone are no surplus."""
    assert surplus_pods([pod("pb", "b1"), pod("px", "x")], counts) == set()


def test_a_relabel_marks_one_pod_of_the_doubled_domain() -> None:
    """The patch marks the surplus pod and takes an old mark off the pod that is kept."""
    pods = [pod("pb", "b1"), pod("px", "x"), pod("pc", "c1", LEAVING)]
    assert deletion_cost_patches(pods, counts, ZONE.get) == {"px": LEAVING, "pc": None}


@pytest.mark.parametrize(
    ("pods", "replicas", "counted", "expected"),
    [
        pytest.param(
            [pod("pa", "a1"), pod("pb", "b1")], 2, {"a", "b"}, DomainCheck(True), id="covered"
        ),
        pytest.param(
            [pod("pb", "b1"), pod("px", "x")], 3, {"a", "b"}, DomainCheck(False), id="one-to-come"
        ),
        pytest.param(
            [pod("pb", "b1"), pod("pend", "")], 2, {"a", "b"}, DomainCheck(False), id="pending"
        ),
        pytest.param(
            [pod("pb", "b1"), pod("pa", "a1", deleting=True)],
            2,
            {"a", "b"},
            DomainCheck(False),
            id="deleting",
        ),
    ],
)
def test_domain_check_waits_for_settled_pods(
    pods: list[PodView], replicas: int, counted: set[str], expected: DomainCheck
) -> None:
    """Nothing is said while the controller or the scheduler may still fill a domain."""
    assert domain_check(pods, replicas, counts, "zone", counted, ZONE.get) == expected


def test_domain_check_names_the_empty_domain_and_the_doubled_one() -> None:
    """Zone a counts and is empty while zone b holds two: the problem names both pods."""
    found = domain_check([pod("pb", "b1"), pod("px", "x")], 2, counts, "zone", {"a", "b"}, ZONE.get)
    assert found.settled
    assert found.problem is not None
    assert found.problem.startswith(
        "zone=a counts but holds no pod, while zone=b holds 2 (pb on b1, px on x): "
    )
