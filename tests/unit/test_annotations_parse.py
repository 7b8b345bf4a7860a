"""The annotation contract: valid values, and every kind of invalid value named precisely."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.model.annotations import is_enabled, parse_config
from nodecount_scaler.model.keys import (
    INCLUDE_UNSCHEDULABLE_NODES,
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
)
from nodecount_scaler.model.selector import parse_selector


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("true", True), ("True", False), ("yes", False), ("", False), ("1", False)],
)
def test_only_true_opts_in(value: str, enabled: bool) -> None:
    """Only the exact string "true" opts a Deployment in."""
    assert is_enabled({"nodecount-scaler.io/enabled": value}) is enabled


def test_absent_annotation_is_not_enabled() -> None:
    """No annotation, no management."""
    assert not is_enabled({})


def test_defaults() -> None:
    """Without optional keys: all nodes, min 0, no max, one replica per node."""
    config, errors = parse_config({})
    assert errors == ()
    assert config is not None
    assert config.node_selector.is_empty()
    assert (config.min_replicas, config.max_replicas) == (0, None)
    assert config.nodes_per_replica == Fraction(1)


@pytest.mark.parametrize(
    ("annotations", "field", "expected"),
    [
        (
            {NODE_SELECTOR.key: "pool in (a,b),!gpu"},
            "node_selector",
            parse_selector("pool in (a,b),!gpu"),
        ),
        ({MIN_REPLICAS.key: "2"}, "min_replicas", 2),
        ({MIN_REPLICAS.key: " 3 "}, "min_replicas", 3),
        ({MAX_REPLICAS.key: "0"}, "max_replicas", 0),
        ({MIN_REPLICAS.key: "4", MAX_REPLICAS.key: "4"}, "max_replicas", 4),
        ({NODES_PER_REPLICA.key: "0.1"}, "nodes_per_replica", Fraction(1, 10)),
        ({NODES_PER_REPLICA.key: "3"}, "nodes_per_replica", Fraction(3)),
        ({NODES_PER_REPLICA.key: "2.5"}, "nodes_per_replica", Fraction(5, 2)),
    ],
    ids=[
        "selector",
        "min",
        "min-spaces",
        "max-zero",
        "min-equals-max",
        "npr-decimal",
        "npr-int",
        "npr-half",
    ],
)
def test_valid_values(annotations: dict[str, str], field: str, expected: object) -> None:
    """Valid values parse to the config field."""
    config, errors = parse_config(annotations)
    assert errors == ()
    assert getattr(config, field) == expected


@pytest.mark.parametrize(
    ("annotations", "key", "problem"),
    [
        ({NODE_SELECTOR.key: "pool in (a"}, NODE_SELECTOR.key, ""),
        ({NODE_SELECTOR.key: "bad key!=x"}, NODE_SELECTOR.key, ""),
        ({MIN_REPLICAS.key: "-1"}, MIN_REPLICAS.key, "must be 0 or more"),
        ({MIN_REPLICAS.key: "abc"}, MIN_REPLICAS.key, "not an integer"),
        ({MIN_REPLICAS.key: "1.5"}, MIN_REPLICAS.key, "not an integer"),
        ({MIN_REPLICAS.key: "+3"}, MIN_REPLICAS.key, "not an integer"),
        ({MAX_REPLICAS.key: ""}, MAX_REPLICAS.key, "not an integer"),
        (
            {MIN_REPLICAS.key: "5", MAX_REPLICAS.key: "2"},
            MIN_REPLICAS.key,
            "greater than max-replicas",
        ),
        ({NODES_PER_REPLICA.key: "0"}, NODES_PER_REPLICA.key, "greater than 0"),
        ({NODES_PER_REPLICA.key: "0.0"}, NODES_PER_REPLICA.key, "greater than 0"),
        ({NODES_PER_REPLICA.key: "-2"}, NODES_PER_REPLICA.key, "not a decimal number"),
        ({NODES_PER_REPLICA.key: "1e3"}, NODES_PER_REPLICA.key, "not a decimal number"),
        ({NODES_PER_REPLICA.key: "."}, NODES_PER_REPLICA.key, "not a decimal number"),
    ],
    ids=[
        "selector-unclosed",
        "selector-bad-key",
        "min-negative",
        "min-word",
        "min-fraction",
        "min-plus-sign",
        "max-empty",
        "min-above-max",
        "npr-zero",
        "npr-zero-decimal",
        "npr-negative",
        "npr-exponent",
        "npr-dot",
    ],
)
def test_invalid_values(annotations: dict[str, str], key: str, problem: str) -> None:
    """An invalid value yields no config and an error naming the key, the value and the problem."""
    config, errors = parse_config(annotations)
    assert config is None
    assert [e.key for e in errors] == [key]
    assert errors[0].value == annotations[key]
    assert problem in errors[0].problem
    assert key in str(errors[0])


def test_every_invalid_key_is_reported() -> None:
    """All problems are reported at once, not only the first."""
    _, errors = parse_config(
        {MIN_REPLICAS.key: "x", MAX_REPLICAS.key: "y", NODES_PER_REPLICA.key: "0"}
    )
    assert {e.key for e in errors} == {MIN_REPLICAS.key, MAX_REPLICAS.key, NODES_PER_REPLICA.key}


@pytest.mark.parametrize(("raw", "counts"), [(None, False), ("true", True), ("false", False)])
def test_include_unschedulable_nodes(raw: str | None, counts: bool) -> None:
    """include-unschedulable-nodes: "true" or "false"; absent is false."""
    annotations = {} if raw is None else {INCLUDE_UNSCHEDULABLE_NODES.key: raw}
    config, errors = parse_config(annotations)
    assert errors == ()
    assert config is not None
    assert config.include_unschedulable is counts


@pytest.mark.parametrize("raw", ["yes", "True", "1", "", " true "])
def test_include_unschedulable_nodes_bad_value(raw: str) -> None:
    """Exactly "true" or "false", as prevent-single-point-failure."""
    config, errors = parse_config({INCLUDE_UNSCHEDULABLE_NODES.key: raw})
    assert config is None
    assert [(e.key, e.problem) for e in errors] == [
        (INCLUDE_UNSCHEDULABLE_NODES.key, 'must be "true" or "false"')
    ]
