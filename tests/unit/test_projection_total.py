"""Projections are total: any JSON value at any field gives a view or a typed error, fast."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.keys import (
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
)
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.objects import ProjectionError
from nodecount_scaler.model.pods import PodView, project_pod
from nodecount_scaler.model.selector import LabelSelector, SelectorError, parse_selector
from nodecount_scaler.model.targets import TargetView, project_target
from testkit.builders import (
    deployment,
    expr,
    node,
    required_affinity,
    taint,
    term,
    toleration,
)

# CPU seconds of this process (wall time would count the other processes of a loaded
# 2-core machine); a quadratic path on a 10,000-character value would take seconds.
CALL_BUDGET = 0.25

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["x" * 10_000, "9" * 5000, "1e999999", "--1", "\u00b2", "In", "Exists"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def rich_deployment() -> dict[str, Any]:
    """A Deployment that uses every field the projection reads."""
    obj = deployment(
        replicas=3,
        annotations={
            NODE_SELECTOR.key: "pool in (a,b),!gpu",
            MIN_REPLICAS.key: "1",
            MAX_REPLICAS.key: "9",
        },
        pod_spec={
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [
                toleration("t", "Exists"),
                toleration("u", "Equal", "v", "NoExecute", 30),
            ],
            "topologySpreadConstraints": [
                {
                    "topologyKey": "kubernetes.io/hostname",
                    "maxSkew": 1,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "d"}},
                }
            ],
        },
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
    )
    obj["spec"]["template"]["spec"]["affinity"].update(
        required_affinity(
            term(expr("zone", "In", "z1")), term(fields=[expr("metadata.name", "NotIn", "n9")])
        )
    )
    obj["metadata"]["annotations"][NODES_PER_REPLICA.key] = "0.5"
    return obj


def rich_node() -> dict[str, Any]:
    return node(
        "n1",
        labels={"pool": "a"},
        taints=[taint("k", "NoExecute", "v"), taint("p", "PreferNoSchedule")],
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


def replaced(original: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    obj = copy.deepcopy(original)
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return obj


def mutations(make: Callable[[], dict[str, Any]]) -> st.SearchStrategy[Any]:
    base = make()
    return st.builds(
        lambda path, value: replaced(base, path, value),
        st.sampled_from(paths(base)),
        JSON | st.builds(deep, st.integers(min_value=1, max_value=300)),
    )


def timed(call: Callable[[], object]) -> object:
    started = time.process_time()
    result = call()
    assert time.process_time() - started < CALL_BUDGET
    return result


PROPERTY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(mutations(rich_deployment))
def test_target_projection_is_total_under_any_field_change(obj: Any) -> None:
    """Any field of a Deployment replaced by any JSON value: a view or a typed error."""
    result = timed(lambda: project_target(obj))
    assert isinstance(result, TargetView | ProjectionError)


@PROPERTY
@given(mutations(rich_node))
def test_node_projection_is_total_under_any_field_change(obj: Any) -> None:
    """Any field of a Node replaced by any JSON value: a view or a typed error."""
    assert isinstance(timed(lambda: project_node(obj)), NodeView | ProjectionError)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_projections_are_total_on_arbitrary_json(obj: Any) -> None:
    """Not even an object: every projection answers with a typed error."""
    assert isinstance(timed(lambda: project_target(obj)), TargetView | ProjectionError)
    assert isinstance(timed(lambda: project_node(obj)), NodeView | ProjectionError)
    assert isinstance(timed(lambda: project_pod(obj)), PodView | ProjectionError)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([NODE_SELECTOR.key, MIN_REPLICAS.key, MAX_REPLICAS.key, NODES_PER_REPLICA.key]),
    st.text(max_size=40) | st.sampled_from(["x" * 10_000, "!k," * 3000 + "!k", "9" * 5000]),
)
def test_any_annotation_value_gives_a_view_with_config_or_errors(key: str, value: str) -> None:
    """Whatever an annotation says, the target is stored: valid, or invalid with the key."""
    obj = deployment(annotations={key: value})
    view = timed(lambda: project_target(obj))
    assert isinstance(view, TargetView)
    assert view.valid or any(e.key == key for e in view.annotation_errors)
    assert all(len(e.value) < 120 for e in view.annotation_errors)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60) | st.sampled_from(["a" * 10_000, "a in (" + "b," * 5000 + "c)"]) | JSON)
def test_selector_parser_only_raises_selector_error(text: Any) -> None:
    """parse_selector answers with a selector or SelectorError, for any value."""
    started = time.process_time()
    try:
        result = parse_selector(text)
    except SelectorError:
        pass
    else:
        assert isinstance(result, LabelSelector)
    assert time.process_time() - started < CALL_BUDGET
