"""The set-algebra path (NodeIndex) gives exactly the nodes the per-node rules accept."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.annotations import TargetConfig
from nodecount_scaler.model.eligibility import is_eligible, label_keys
from nodecount_scaler.model.index import NodeIndex
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.placement import PodPlacement, placement_from_pod_spec
from nodecount_scaler.model.selector import parse_selector
from testkit.builders import expr, node, node_view, required_affinity, taint, term, toleration
from tests.unit.test_eligibility_rules import CASES, Case

KEYS = ("pool", "zone", "cores")
VALUES = ("a", "b", "1", "5", "10")
NAMES = tuple(f"n{i}" for i in range(6))

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
taints = st.lists(
    st.builds(
        taint,
        st.sampled_from(("dedicated", "gpu", "node.kubernetes.io/unschedulable")),
        st.sampled_from(("NoSchedule", "NoExecute", "PreferNoSchedule")),
        st.sampled_from((None, "x")),
    ),
    max_size=2,
)
nodes = st.builds(
    node,
    st.sampled_from(NAMES),
    labels=labels,
    taints=taints,
    unschedulable=st.booleans(),
    ready=st.sampled_from(("True", "True", "False")),
    deleting=st.sampled_from((False, False, True)),
)
operators = st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"))


@st.composite
def expressions(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(operators)
    key = draw(st.sampled_from(KEYS))
    if op in ("Exists", "DoesNotExist"):
        return expr(key, op)
    if op in ("Gt", "Lt"):
        return expr(key, op, draw(st.sampled_from(("1", "4", "7"))))
    return expr(key, op, *draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2)))


@st.composite
def pod_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(labels)
    if draw(st.booleans()):
        terms = []
        for _ in range(draw(st.integers(0, 2))):
            fields = None
            if draw(st.integers(0, 4)) == 0:
                fields = [
                    {
                        "key": "metadata.name",
                        "operator": draw(st.sampled_from(("In", "NotIn"))),
                        "values": [draw(st.sampled_from(NAMES))],
                    }
                ]
            terms.append(term(*draw(st.lists(expressions(), max_size=2)), fields=fields))
        spec["affinity"] = required_affinity(*terms)
    if draw(st.integers(0, 5)) == 0:
        spec["nodeName"] = draw(st.sampled_from(NAMES))
    spec["tolerations"] = draw(
        st.lists(
            st.builds(
                toleration,
                st.sampled_from((None, "dedicated", "gpu", "node.kubernetes.io/unschedulable")),
                st.sampled_from((None, "Exists")),
                st.sampled_from((None, "x")),
                st.sampled_from((None, "NoSchedule", "NoExecute")),
                st.sampled_from((None, None, 30)),
            ),
            max_size=2,
        )
    )
    if draw(st.integers(0, 3)) == 0:
        spec["topologySpreadConstraints"] = [
            {
                "topologyKey": draw(st.sampled_from(KEYS)),
                "maxSkew": 1,
                "whenUnsatisfiable": draw(st.sampled_from(("DoNotSchedule", "ScheduleAnyway"))),
            }
        ]
    return spec


selectors = st.sampled_from(
    ("", "pool=a", "pool!=a", "zone in (a,b)", "zone notin (b)", "pool", "!zone", "cores>4")
)


def brute_force(
    views: dict[str, NodeView], config: TargetConfig, placement: PodPlacement
) -> set[str]:
    return {n for n, v in views.items() if is_eligible(v, config, placement, v.ready)}


def config_for(selector: str, include_unschedulable: bool = False) -> TargetConfig:
    from fractions import Fraction

    return TargetConfig(
        parse_selector(selector), 0, None, Fraction(1), include_unschedulable=include_unschedulable
    )


@pytest.mark.parametrize("retained", [True, False], ids=["retained", "groups-per-query"])
@settings(max_examples=300, deadline=None)
@given(
    initial=st.lists(nodes, max_size=6),
    updates=st.lists(st.one_of(nodes, st.sampled_from(NAMES)), max_size=6),
    spec=pod_specs(),
    selector=selectors,
    include_unschedulable=st.booleans(),
)
def test_index_equals_per_node_rules(
    initial: list[dict[str, Any]],
    updates: list[dict[str, Any] | str],
    spec: dict[str, Any],
    selector: str,
    include_unschedulable: bool,
    retained: bool,
) -> None:
    """After any sequence of puts and removes, the index answers like is_eligible per node,
    its groups kept or not, and whether the target counts cordoned and NotReady nodes or
    not."""
    views: dict[str, NodeView] = {}
    index = NodeIndex(views)
    config = config_for(selector, include_unschedulable)
    placement = placement_from_pod_spec(spec)
    if retained:
        index.retain(label_keys(config, placement))
    # Query once early so label groups exist and must then be maintained incrementally.
    index.eligible(config, placement)
    apply(index, views, [*initial, *updates])
    assert index.eligible(config, placement) == brute_force(views, config, placement)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(nodes, max_size=6),
    between=st.lists(st.one_of(nodes, st.sampled_from(NAMES)), max_size=6),
    after=st.lists(st.one_of(nodes, st.sampled_from(NAMES)), max_size=6),
    spec=pod_specs(),
    selector=selectors,
)
def test_index_stays_equal_across_retain_and_release(
    before: list[dict[str, Any]],
    between: list[dict[str, Any] | str],
    after: list[dict[str, Any] | str],
    spec: dict[str, Any],
    selector: str,
) -> None:
    """Keys released (groups dropped) while nodes change, then retained again (rebuilt):
    the answers still equal the per-node rules, and released keys are not indexed."""
    views: dict[str, NodeView] = {}
    index = NodeIndex(views)
    config, placement = config_for(selector), placement_from_pod_spec(spec)
    keys = label_keys(config, placement)
    index.retain(keys)
    apply(index, views, before)
    assert index.eligible(config, placement) == brute_force(views, config, placement)
    index.release(keys)
    assert index.indexed_keys == frozenset()
    apply(index, views, between)
    index.retain(keys)
    apply(index, views, after)
    assert index.eligible(config, placement) == brute_force(views, config, placement)
    assert index.indexed_keys <= keys


def apply(index: NodeIndex, views: dict[str, NodeView], changes: list[Any]) -> None:
    """Node puts (a Node's JSON) and removes (a name), as the state feeds the index."""
    for change in changes:
        if isinstance(change, str):
            old = views.pop(change, None)
            if old is not None:
                index.remove(old)
            continue
        view = node_view(change)
        old = views.get(view.name)
        views[view.name] = view
        index.put(old, view, view.ready)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_index_agrees_with_the_eligibility_table(case: Case) -> None:
    """Every row of the eligibility table gives the same answer through the index."""
    view = node_view(case.node)
    views = {view.name: view}
    index = NodeIndex(views)
    index.put(None, view, view.ready)
    selected = index.eligible(config_for(case.selector), placement_from_pod_spec(case.pod_spec))
    assert (view.name in selected) is (case.expected is None)
