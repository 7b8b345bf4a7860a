"""Ladder mode: CPA's own test tables, then the bounds this service adds to them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.model.scaling import (
    Ladder,
    ScalingRule,
    Step,
    explain,
    ladder_step,
    replicas,
)

CPA_TESTS = (
    "https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/blob/"
    "d4b6997deea105710a35809873a129612c69d9c5/pkg/autoscaler/controller/laddercontroller/"
    "ladder_controller_test.go"
)


def steps(*pairs: tuple[int, int]) -> tuple[Step, ...]:
    return tuple(Step(t, r) for t, r in pairs)


# CPA_TESTS, TestControllerScaler: testEntries and (resources, replicas).
SCALER_ENTRIES = steps((1, 1), (2, 2), (3, 3), (4, 4), (10, 10), (20, 20))
SCALER_ROWS = [
    (0, 1),
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (6, 4),
    (6, 4),
    (10, 10),
    (11, 10),
    (19, 10),
    (20, 20),
    (21, 20),
    (21, 20),
    (40, 20),
]


@pytest.mark.parametrize(("count", "expected"), SCALER_ROWS, ids=str)
def test_cpa_controller_scaler(count: int, expected: int) -> None:
    """CPA's TestControllerScaler rows, on either basis (below the first step: its replicas)."""
    assert ladder_step(SCALER_ENTRIES, count).replicas == expected
    by_nodes = ScalingRule(Ladder(nodes_to_replicas=SCALER_ENTRIES))
    by_cores = ScalingRule(Ladder(cores_to_replicas=SCALER_ENTRIES))
    assert replicas(by_nodes, count, Fraction(0)) == expected
    assert replicas(by_cores, 0, Fraction(count)) == expected


# CPA_TESTS, TestControllerScalerFromZero: two tables, one set of (resources, replicas).
FROM_ZERO_ENTRIES = [steps((0, 0), (3, 3)), steps((1, 0), (3, 3))]
FROM_ZERO_ROWS = [(0, 0), (1, 0), (2, 0), (3, 3), (4, 3)]


@pytest.mark.parametrize("entries", FROM_ZERO_ENTRIES, ids=["from-zero", "from-one"])
@pytest.mark.parametrize(("count", "expected"), FROM_ZERO_ROWS, ids=str)
def test_cpa_controller_scaler_from_zero(
    entries: tuple[Step, ...], count: int, expected: int
) -> None:
    """CPA's TestControllerScalerFromZero: a ladder can ask for 0 replicas."""
    assert replicas(ScalingRule(Ladder(nodes_to_replicas=entries)), count, Fraction(0)) == expected


# CPA_TESTS, TestScaleFromUnschedulableNodes: both tables; the counts are the ones CPA uses
# (total with includeUnschedulableNodes, schedulable without), which here are the eligible ones.
UNSCHEDULABLE_RULE = ScalingRule(
    Ladder(
        nodes_to_replicas=steps((0, 0), (1, 1), (2, 2), (3, 3)),
        cores_to_replicas=steps((0, 0), (4, 1), (8, 2), (12, 3)),
    )
)


@pytest.mark.parametrize(
    ("nodes", "cores", "expected"),
    [(3, 12, 3), (1, 4, 1)],
    ids=["total-3-nodes-12-cores", "schedulable-1-node-4-cores"],
)
def test_cpa_scale_from_unschedulable_nodes(nodes: int, cores: int, expected: int) -> None:
    """CPA's TestScaleFromUnschedulableNodes: the larger of the two tables."""
    assert replicas(UNSCHEDULABLE_RULE, nodes, Fraction(cores)) == expected


# CPA's README, "Ladder Mode": 100 nodes and 400 cores give max(3 from cores, 2 from nodes).
README_RULE = ScalingRule(
    Ladder(
        cores_to_replicas=steps((1, 1), (64, 3), (512, 5), (1024, 7), (2048, 10), (4096, 15)),
        nodes_to_replicas=steps((1, 1), (2, 2)),
    )
)


def test_cpa_readme_example() -> None:
    """The README's worked example: 3 replicas."""
    assert replicas(README_RULE, 100, Fraction(400)) == 3


def test_cpa_readme_scale_to_zero() -> None:
    """The README's [[0,0],[6,1]]: no replica until the cluster has six nodes."""
    rule = ScalingRule(Ladder(nodes_to_replicas=steps((0, 0), (6, 1))))
    assert [replicas(rule, n, Fraction(0)) for n in range(8)] == [0, 0, 0, 0, 0, 0, 1, 1]


# Ours: ladder mode honours min, max and prevent-single-point-failure (CPA ignores them).
TABLE = steps((0, 1), (4, 2), (64, 4))
OURS = [
    ("plain", 0, None, False, 12, Fraction(0), 2),
    ("min-lifts", 3, None, False, 12, Fraction(0), 3),
    ("max-caps", 0, 3, False, 100, Fraction(0), 3),
    ("spof-lifts", 0, None, True, 2, Fraction(0), 2),
    ("spof-one-node", 0, None, True, 1, Fraction(0), 1),
    ("spof-above-max", 0, 1, True, 2, Fraction(0), 2),
]


@pytest.mark.parametrize(
    ("minimum", "maximum", "spof", "nodes", "cores", "expected"),
    [row[1:] for row in OURS],
    ids=[row[0] for row in OURS],
)
def test_bounds_apply_to_ladders(
    minimum: int, maximum: int | None, spof: bool, nodes: int, cores: Fraction, expected: int
) -> None:
    """min, max, then prevent-single-point-failure, in that order, after the step lookup."""
    rule = ScalingRule(Ladder(nodes_to_replicas=TABLE), minimum, maximum, spof)
    assert replicas(rule, nodes, cores) == expected


def test_cores_threshold_uses_exact_total() -> None:
    """63.5 cores do not reach a 64 step (CPA rounds the total up to 64 first)."""
    rule = ScalingRule(Ladder(cores_to_replicas=steps((0, 1), (64, 2))))
    assert replicas(rule, 8, Fraction(127, 2)) == 1
    assert replicas(rule, 8, Fraction(64)) == 2


def test_explanation_text() -> None:
    """Each table's step, the larger, the bounds and the result, in one line."""
    explanation = explain(README_RULE, 100, Fraction(400))
    assert explanation.text == (
        "ladder: max(100 nodes >= 2 -> 2, 400 cores >= 64 -> 3) = 3, min 0 -> 3"
    )
    assert [t.replicas for t in explanation.terms] == [2, 3]
    below = explain(ScalingRule(Ladder(nodes_to_replicas=steps((4, 2)))), 1, Fraction(0))
    assert below.text == "ladder: 1 node < 4 -> 2, min 0 -> 2"
    assert README_RULE.describe() == "ladder nodes+cores"
