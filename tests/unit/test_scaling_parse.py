"""The scaling annotations: valid rules, and every kind of bad value named precisely."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from nodecount_scaler.limits import LADDER_MAX_LENGTH, LADDER_MAX_STEPS
from nodecount_scaler.model.annotations import parse_scaling
from nodecount_scaler.model.keys import (
    CORES_PER_REPLICA,
    CORES_TO_REPLICAS,
    NODES_PER_REPLICA,
    NODES_TO_REPLICAS,
    PREVENT_SINGLE_POINT_FAILURE,
    AnnotationError,
)
from nodecount_scaler.model.numbers import DECIMAL_MAX_DIGITS
from nodecount_scaler.model.scaling import (
    DEFAULT_RULE,
    Ladder,
    Linear,
    ScalingRule,
    Step,
    format_steps,
)


def parse(
    annotations: dict[str, str], minimum: int = 0, maximum: int | None = None
) -> tuple[ScalingRule | None, tuple[AnnotationError, ...]]:
    """parse_scaling as the lead wires it: nodes-per-replica as parse_config read it."""
    nodes = Fraction(annotations.get(NODES_PER_REPLICA.key, "1"))
    return parse_scaling(
        annotations, nodes_per_replica=nodes, min_replicas=minimum, max_replicas=maximum
    )


VALID = [
    ("none", {}, DEFAULT_RULE),
    ("nodes-per-replica", {NODES_PER_REPLICA.key: "3"}, ScalingRule(Linear(Fraction(3)))),
    ("cores-alone", {CORES_PER_REPLICA.key: "16"}, ScalingRule(Linear(None, Fraction(16)))),
    (
        "both-linear",
        {NODES_PER_REPLICA.key: "3", CORES_PER_REPLICA.key: "0.5"},
        ScalingRule(Linear(Fraction(3), Fraction(1, 2))),
    ),
    ("cores-spaces", {CORES_PER_REPLICA.key: " 2.5 "}, ScalingRule(Linear(None, Fraction(5, 2)))),
    ("cores-trailing-dot", {CORES_PER_REPLICA.key: "2."}, ScalingRule(Linear(None, Fraction(2)))),
    (
        "nodes-ladder",
        {NODES_TO_REPLICAS.key: "[[0,1],[4,2],[64,4]]"},
        ScalingRule(Ladder(nodes_to_replicas=(Step(0, 1), Step(4, 2), Step(64, 4)))),
    ),
    (
        "readme-ladder-layout",
        {CORES_TO_REPLICAS.key: "[\n  [ 1, 1 ],\n  [ 64, 3 ]\n]"},
        ScalingRule(Ladder(cores_to_replicas=(Step(1, 1), Step(64, 3)))),
    ),
    (
        "both-ladders",
        {NODES_TO_REPLICAS.key: "[[1,1]]", CORES_TO_REPLICAS.key: "[[0,0],[8,2]]"},
        ScalingRule(Ladder((Step(1, 1),), (Step(0, 0), Step(8, 2)))),
    ),
    (
        "spof-true",
        {PREVENT_SINGLE_POINT_FAILURE.key: "true"},
        ScalingRule(Linear(Fraction(1)), prevent_single_point_failure=True),
    ),
    ("spof-false", {PREVENT_SINGLE_POINT_FAILURE.key: "false"}, DEFAULT_RULE),
    (
        "largest-step",
        {NODES_TO_REPLICAS.key: "[[2147483647,2147483647]]"},
        ScalingRule(Ladder(nodes_to_replicas=(Step(2**31 - 1, 2**31 - 1),))),
    ),
]


@pytest.mark.parametrize(("annotations", "rule"), [r[1:] for r in VALID], ids=[r[0] for r in VALID])
def test_valid(annotations: dict[str, str], rule: ScalingRule) -> None:
    """Valid keys give the rule they spell; nodes-per-replica's default does not add a basis."""
    assert parse(annotations) == (rule, ())


def test_bounds_pass_through() -> None:
    """min and max, already parsed by parse_config, are carried in the rule."""
    rule, errors = parse({NODES_TO_REPLICAS.key: "[[0,1]]"}, minimum=2, maximum=5)
    assert errors == ()
    assert rule is not None
    assert (rule.min_replicas, rule.max_replicas) == (2, 5)


DEEP = "[" * 4000 + "]" * 4000
HUGE_STEPS = "[" + ",".join(f"[{i},1]" for i in range(LADDER_MAX_STEPS + 1)) + "]"
INVALID = [
    (CORES_PER_REPLICA.key, "0", "must be greater than 0"),
    (CORES_PER_REPLICA.key, "0.0", "must be greater than 0"),
    (CORES_PER_REPLICA.key, "-1", "not a decimal number"),
    (CORES_PER_REPLICA.key, "abc", "not a decimal number"),
    (CORES_PER_REPLICA.key, "1e3", "not a decimal number"),
    (CORES_PER_REPLICA.key, "500m", "not a decimal number"),
    (CORES_PER_REPLICA.key, "", "not a decimal number"),
    (CORES_PER_REPLICA.key, ".", "not a decimal number"),
    (CORES_PER_REPLICA.key, "1.2.3", "not a decimal number"),
    (CORES_PER_REPLICA.key, "1,5", "not a decimal number"),
    (CORES_PER_REPLICA.key, "\u0663", "not a decimal number"),  # ARABIC-INDIC DIGIT THREE
    (CORES_PER_REPLICA.key, "1" * (DECIMAL_MAX_DIGITS + 1), "too many digits"),
    (CORES_PER_REPLICA.key, "9" * 10_000, "too many digits"),
    (NODES_TO_REPLICAS.key, "[[4,2],[0,1]]", "thresholds must increase: 0 comes after 4"),
    (NODES_TO_REPLICAS.key, "[[0,1],[0,2]]", "threshold 0 appears twice"),
    (
        NODES_TO_REPLICAS.key,
        "[[0,2],[4,1]]",
        "replicas must not decrease as the count grows: 1 at 4",
    ),
    (NODES_TO_REPLICAS.key, "[[-1,1]]", "step 1: -1 is negative"),
    (NODES_TO_REPLICAS.key, "[[0,1],[4,-2]]", "step 2: -2 is negative"),
    (NODES_TO_REPLICAS.key, "[[0,1,2]]", "step 1 is not a [threshold, replicas] pair"),
    (NODES_TO_REPLICAS.key, "[[0]]", "step 1 is not a [threshold, replicas] pair"),
    (NODES_TO_REPLICAS.key, "[0,1]", "step 1 is not a [threshold, replicas] pair"),
    (NODES_TO_REPLICAS.key, "[{}]", "step 1 is not a [threshold, replicas] pair"),
    (NODES_TO_REPLICAS.key, "[null]", "step 1 is not a [threshold, replicas] pair"),
    (NODES_TO_REPLICAS.key, "[]", "has no steps"),
    (NODES_TO_REPLICAS.key, "{}", "must be a JSON array"),
    (NODES_TO_REPLICAS.key, "null", "must be a JSON array"),
    (NODES_TO_REPLICAS.key, '"[[0,1]]"', "must be a JSON array"),
    (NODES_TO_REPLICAS.key, "[[0.5,1]]", "step 1: 0.5 is not a whole number"),
    (NODES_TO_REPLICAS.key, "[[1e2,1]]", "step 1: 1E+2 is not a whole number"),
    (NODES_TO_REPLICAS.key, "[[1.0,1]]", "step 1: 1.0 is not a whole number"),
    (NODES_TO_REPLICAS.key, "[[true,1]]", "step 1: True is not a whole number"),
    (NODES_TO_REPLICAS.key, '[["1",1]]', "step 1: 1 is not a whole number"),
    (NODES_TO_REPLICAS.key, "[[0,2147483648]]", "step 1: 2147483648 is larger than 2147483647"),
    (NODES_TO_REPLICAS.key, "[[" + "9" * 400 + ",1]]", "larger than 2147483647"),
    (NODES_TO_REPLICAS.key, "[[0,NaN]]", "NaN is not a JSON number"),
    (NODES_TO_REPLICAS.key, "[[0,Infinity]]", "Infinity is not a JSON number"),
    (NODES_TO_REPLICAS.key, "[[0,1]] x", "not valid JSON"),
    (NODES_TO_REPLICAS.key, "[[0,1],]", "not valid JSON"),
    (NODES_TO_REPLICAS.key, "0:1,4:2", "not valid JSON"),
    (NODES_TO_REPLICAS.key, "", "not valid JSON"),
    (NODES_TO_REPLICAS.key, DEEP[: LADDER_MAX_LENGTH - 96], "nested too deeply"),
    (NODES_TO_REPLICAS.key, HUGE_STEPS, f"at most {LADDER_MAX_STEPS} are allowed"),
    (NODES_TO_REPLICAS.key, "[" * 10_000, f"longer than {LADDER_MAX_LENGTH} characters"),
    (CORES_TO_REPLICAS.key, "[[64,4],[4,2]]", "thresholds must increase: 4 comes after 64"),
    (CORES_TO_REPLICAS.key, '{"coresToReplicas": [[1,1]]}', "must be a JSON array"),
    (PREVENT_SINGLE_POINT_FAILURE.key, "True", 'must be "true" or "false"'),
    (PREVENT_SINGLE_POINT_FAILURE.key, "yes", 'must be "true" or "false"'),
    (PREVENT_SINGLE_POINT_FAILURE.key, "1", 'must be "true" or "false"'),
    (PREVENT_SINGLE_POINT_FAILURE.key, " true", 'must be "true" or "false"'),
    (PREVENT_SINGLE_POINT_FAILURE.key, "", 'must be "true" or "false"'),
]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    INVALID,
    ids=[f"{k.split('/')[1]}={v[:24]!r}" for k, v, _ in INVALID],
)
def test_invalid(key: str, value: str, problem: str) -> None:
    """A bad value is one typed error naming the key, the value (shortened) and the problem."""
    rule, errors = parse({key: value})
    assert rule is None
    assert len(errors) == 1
    (error,) = errors
    assert error.key == key
    assert problem in error.problem
    assert error.value == value if len(value) <= 80 else error.value.startswith(value[:60])
    assert len(str(error)) < 300


def test_bad_values_take_bounded_time() -> None:
    """Every bad value above, parsed 20 times over, takes well under a second."""
    started = time.perf_counter()
    for _ in range(20):
        for key, value, _problem in INVALID:
            parse({key: value})
    assert time.perf_counter() - started < 1.0


CONFLICTS = [
    ({NODES_PER_REPLICA.key: "2", NODES_TO_REPLICAS.key: "[[0,1]]"}, [NODES_TO_REPLICAS.key]),
    ({CORES_PER_REPLICA.key: "8", CORES_TO_REPLICAS.key: "[[0,1]]"}, [CORES_TO_REPLICAS.key]),
    (
        {
            NODES_PER_REPLICA.key: "2",
            CORES_PER_REPLICA.key: "8",
            NODES_TO_REPLICAS.key: "[[0,1]]",
            CORES_TO_REPLICAS.key: "[[0,1]]",
        },
        [NODES_TO_REPLICAS.key, CORES_TO_REPLICAS.key],
    ),
]


@pytest.mark.parametrize(("annotations", "keys"), CONFLICTS, ids=["nodes", "cores", "all-four"])
def test_ladder_and_linear_conflict(annotations: dict[str, str], keys: list[str]) -> None:
    """A ladder key with a linear key is invalid, reported on each ladder key."""
    rule, errors = parse(annotations)
    assert rule is None
    assert [e.key for e in errors] == keys
    assert all("cannot be combined with" in e.problem for e in errors)
    assert all(
        NODES_PER_REPLICA.key in e.problem or CORES_PER_REPLICA.key in e.problem for e in errors
    )


def test_every_problem_is_reported() -> None:
    """All keys are checked: three bad values, three errors."""
    _rule, errors = parse(
        {
            CORES_TO_REPLICAS.key: "x",
            NODES_TO_REPLICAS.key: "[[2,1],[1,1]]",
            PREVENT_SINGLE_POINT_FAILURE.key: "on",
        }
    )
    assert [e.key for e in errors] == [
        NODES_TO_REPLICAS.key,
        CORES_TO_REPLICAS.key,
        PREVENT_SINGLE_POINT_FAILURE.key,
    ]


def test_conflict_with_a_bad_value_reports_both() -> None:
    """A malformed ladder that also conflicts gets both errors, not just the first."""
    _rule, errors = parse({NODES_PER_REPLICA.key: "2", NODES_TO_REPLICAS.key: "[[1,1],[0,1]]"})
    assert [e.key for e in errors] == [NODES_TO_REPLICAS.key, NODES_TO_REPLICAS.key]


def test_format_steps_round_trips() -> None:
    """format_steps writes the compact form that parses back to the same table."""
    table = (Step(0, 1), Step(4, 2), Step(64, 4))
    assert format_steps(table) == "[[0,1],[4,2],[64,4]]"
    rule, _ = parse({NODES_TO_REPLICAS.key: format_steps(table)})
    assert rule == ScalingRule(Ladder(nodes_to_replicas=table))
