"""Linear mode: CPA's own test tables, then where this service deliberately differs."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.model.scaling import Linear, ScalingRule, explain, replicas

CPA_TESTS = (
    "https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/blob/"
    "c8dbb176254fb31b892da4bab408f6c494114493/pkg/autoscaler/controller/linearcontroller/"
    "linear_controller_test.go"
)

# CPA_TESTS, TestScaleFromSingleParam: CoresPerReplica 2, Min 2, Max 100; (cores, replicas).
SINGLE_PARAM = ScalingRule(Linear(cores_per_replica=Fraction(2)), min_replicas=2, max_replicas=100)
SINGLE_PARAM_ROWS = [
    (0, 2),
    (1, 2),
    (2, 2),
    (3, 2),
    (4, 2),
    (6, 3),
    (6, 3),
    (10, 5),
    (11, 6),
    (19, 10),
    (20, 10),
    (21, 11),
    (30, 15),
    (40, 20),
]


@pytest.mark.parametrize(("cores", "expected"), SINGLE_PARAM_ROWS, ids=str)
def test_cpa_scale_from_single_param(cores: int, expected: int) -> None:
    """CPA's TestScaleFromSingleParam rows give CPA's replica counts."""
    # The node count does not enter a cores-only rule; any value must give the same answer.
    for nodes in (0, 1, 50):
        assert replicas(SINGLE_PARAM, nodes, Fraction(cores)) == expected


# CPA_TESTS, TestScaleFromMultipleParams: CoresPerReplica 2, NodesPerReplica 2.5, Min 1,
# Max 100, PreventSinglePointFailure; (cores, nodes, replicas).
MULTIPLE_PARAMS = ScalingRule(
    Linear(nodes_per_replica=Fraction(5, 2), cores_per_replica=Fraction(2)),
    min_replicas=1,
    max_replicas=100,
    prevent_single_point_failure=True,
)
MULTIPLE_PARAMS_ROWS = [
    (0, 0, 1),
    (1, 2, 2),
    (2, 3, 2),
    (3, 4, 2),
    (4, 4, 2),
    (6, 4, 3),
    (6, 5, 3),
    (8, 5, 4),
    (8, 15, 6),
    (8, 16, 7),
    (19, 21, 10),
    (23, 20, 12),
    (26, 38, 16),
    (30, 49, 20),
    (40, 20, 20),
]


@pytest.mark.parametrize(("cores", "nodes", "expected"), MULTIPLE_PARAMS_ROWS, ids=lambda v: str(v))
def test_cpa_scale_from_multiple_params(cores: int, nodes: int, expected: int) -> None:
    """CPA's TestScaleFromMultipleParams rows give CPA's replica counts."""
    assert replicas(MULTIPLE_PARAMS, nodes, Fraction(cores)) == expected


def test_cpa_readme_example() -> None:
    """CPA's README: 4 nodes, 13 cores, 1 node and 2 cores per replica: the larger, 7."""
    rule = ScalingRule(Linear(Fraction(1), Fraction(2)), min_replicas=1, max_replicas=100)
    assert replicas(rule, 4, Fraction(13)) == 7


# Where this service decides on purpose (see the scaling module's docstring).
OURS = [
    # prevent-single-point-failure comes last, as in CPA, so it can exceed max-replicas.
    ("spof-above-max", Linear(Fraction(16)), 1, 1, True, 2, Fraction(8), 2),
    ("spof-one-node", Linear(Fraction(16)), 1, 1, True, 1, Fraction(8), 1),
    ("spof-zero-nodes", Linear(Fraction(1)), 0, None, True, 0, Fraction(0), 0),
    ("spof-no-effect-when-higher", Linear(Fraction(1)), 0, None, True, 5, Fraction(0), 5),
    # Exact division: CPA's float64 gives ceil(3 / 0.1) = ceil(30.000000000000004) = 31.
    ("exact-tenth", Linear(Fraction(1, 10)), 0, None, False, 3, Fraction(0), 30),
    # The exact CPU total: CPA rounds 7.5 cores up to 8 first, then ceil(8 / 2.5) = 4.
    ("exact-cores", Linear(None, Fraction(5, 2)), 0, None, False, 3, Fraction(15, 2), 3),
    ("millicores", Linear(None, Fraction(4)), 0, None, False, 2, Fraction(7840, 1000), 2),
    # min-replicas defaults to 0 here (1 in CPA's linear mode): no eligible node, no replica.
    ("zero-nodes-min-0", Linear(Fraction(1)), 0, None, False, 0, Fraction(0), 0),
    ("zero-nodes-min-1", Linear(Fraction(1)), 1, None, False, 0, Fraction(0), 1),
    ("max-caps", Linear(Fraction(1)), 0, 3, False, 10, Fraction(0), 3),
    ("cores-only-ignores-nodes", Linear(None, Fraction(16)), 0, None, False, 40, Fraction(48), 3),
    ("nodes-only-ignores-cores", Linear(Fraction(3)), 0, None, False, 12, Fraction(999), 4),
]


@pytest.mark.parametrize(
    ("scheme", "minimum", "maximum", "spof", "nodes", "cores", "expected"),
    [row[1:] for row in OURS],
    ids=[row[0] for row in OURS],
)
def test_our_choices(
    scheme: Linear,
    minimum: int,
    maximum: int | None,
    spof: bool,
    nodes: int,
    cores: Fraction,
    expected: int,
) -> None:
    """Exact arithmetic, min default 0, prevent-single-point-failure applied last."""
    assert replicas(ScalingRule(scheme, minimum, maximum, spof), nodes, cores) == expected


EXPLAINED = [
    (
        ScalingRule(Linear(Fraction(3), Fraction(16)), min_replicas=1),
        12,
        Fraction(48),
        "linear: max(ceil(12/3)=4 nodes, ceil(48/16)=3 cores) = 4, min 1 -> 4",
    ),
    (
        ScalingRule(Linear(Fraction(1, 10))),
        3,
        Fraction(0),
        "linear: ceil(3/0.1)=30 nodes, min 0 -> 30",
    ),
    (
        ScalingRule(Linear(None, Fraction(5, 2)), max_replicas=2),
        3,
        Fraction(7840, 1000),
        "linear: ceil(7.84/2.5)=4 cores, min 0, max 2 -> 2",
    ),
    (
        ScalingRule(Linear(Fraction(16)), 1, 1, prevent_single_point_failure=True),
        3,
        Fraction(0),
        "linear: ceil(3/16)=1 nodes, min 1, max 1, "
        "prevent-single-point-failure: 3 nodes, at least 2 -> 2",
    ),
    (
        ScalingRule(Linear(Fraction(16)), 1, prevent_single_point_failure=True),
        1,
        Fraction(0),
        "linear: ceil(1/16)=1 nodes, min 1, "
        "1 node: prevent-single-point-failure does not apply -> 1",
    ),
]


@pytest.mark.parametrize(
    ("rule", "nodes", "cores", "text"),
    EXPLAINED,
    ids=["two-bases", "fraction", "max", "spof", "spof-one-node"],
)
def test_explanation_text(rule: ScalingRule, nodes: int, cores: Fraction, text: str) -> None:
    """The plan's explanation shows each basis, the bounds and the result."""
    explanation = explain(rule, nodes, cores)
    assert explanation.text == text
    assert explanation.replicas == replicas(rule, nodes, cores)


def test_describe_names_mode_and_bases() -> None:
    """The plan's mode column: mode and the bases in use."""
    assert ScalingRule(Linear(Fraction(1))).describe() == "linear nodes"
    assert ScalingRule(Linear(None, Fraction(2))).describe() == "linear cores"
    assert ScalingRule(Linear(Fraction(1), Fraction(2))).describe() == "linear nodes+cores"
    assert ScalingRule(Linear(None, Fraction(2))).uses_cores
    assert not ScalingRule(Linear(Fraction(1))).uses_cores
