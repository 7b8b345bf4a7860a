"""Gates (model/gates.py): which targets a node event asks. A table of gates per target
shape, and a property: with gates, every target's eligible set after any run of node
events equals the brute-force rule over every node, for targets that count cordoned and NotReady
nodes (include-unschedulable-nodes) too."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.eligibility import is_eligible
from nodecount_scaler.model.gates import TargetGates, gate_of
from nodecount_scaler.model.state import ClusterState
from testkit.builders import (
    deployment,
    expr,
    node,
    node_view,
    required_affinity,
    target_view,
    term,
    toleration,
)

SELECTOR = "nodecount-scaler.io/node-selector"


def _affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": required_affinity(*terms)}


def _gate(annotations: dict[str, str], pod_spec: dict[str, Any]) -> object:
    view = target_view(deployment("d", annotations=annotations, pod_spec=pod_spec))
    assert view.config is not None
    assert view.placement is not None
    return gate_of(view.config, view.placement)


@pytest.mark.parametrize(
    ("annotations", "pod_spec", "gate"),
    [
        ({}, {}, None),
        ({SELECTOR: "pool=a"}, {}, ("pool", frozenset({"a"}))),
        ({SELECTOR: "pool in (a,b),zone=z1"}, {}, ("zone", frozenset({"z1"}))),
        ({SELECTOR: "pool!=a"}, {}, None),
        ({SELECTOR: "pool"}, {}, None),
        ({}, {"nodeSelector": {"tier": "t"}}, ("tier", frozenset({"t"}))),
        # One term: its In is required; two terms are ORed and give no gate.
        ({}, _affinity(term(expr("pool", "In", "a", "b"))), ("pool", frozenset("ab"))),
        ({}, _affinity(term(expr("pool", "In", "a")), term(expr("zone", "In", "z"))), None),
        ({}, _affinity(term(expr("pool", "NotIn", "a"))), None),
    ],
)
def test_gate_of(annotations: dict[str, str], pod_spec: dict[str, Any], gate: object) -> None:
    assert _gate(annotations, pod_spec) == gate


def test_gates_reach_the_targets_of_either_labels() -> None:
    gates: TargetGates[str] = TargetGates()
    gates.put("a", ("pool", frozenset({"a"})))
    gates.put("ab", ("pool", frozenset({"a", "b"})))
    gates.put("open", None)
    assert gates.reached({"pool": "b"}, {"pool": "b"}) == {"ab", "open"}
    assert gates.reached({"pool": "a"}, {"pool": "c"}) == {"a", "ab", "open"}
    assert gates.reached({}, {}) == {"open"}
    gates.remove("ab")
    gates.put("a", None)  # a target's gate changes with its view
    assert gates.reached({"pool": "b"}, {"pool": "a"}) == {"a", "open"}
    gates.remove("a")
    gates.remove("open")
    gates.remove("never")
    assert len(gates) == 0
    assert gates.reached({"pool": "a"}, {"pool": "a"}) == set()


INCLUDE = "nodecount-scaler.io/include-unschedulable-nodes"
# Annotations, pod spec, one pod per node (the waiver of include-unschedulable-nodes is only
# for targets without the one-per-node spread).
TARGETS: tuple[tuple[dict[str, str], dict[str, Any], bool], ...] = (
    ({SELECTOR: "pool=a"}, {}, True),
    ({SELECTOR: "pool in (a,b)"}, {"tolerations": [toleration("x")]}, True),
    ({}, {"nodeSelector": {"zone": "z1"}}, True),
    ({}, _affinity(term(expr("pool", "In", "b"), expr("zone", "NotIn", "z2"))), True),
    ({SELECTOR: "zone!=z1"}, {}, True),
    ({}, {}, True),
    # Cordoned and NotReady nodes count for these: a gate decides by labels alone.
    ({SELECTOR: "pool=a", INCLUDE: "true"}, {}, False),
    ({INCLUDE: "true"}, {"nodeSelector": {"zone": "z2"}}, False),
    ({INCLUDE: "true"}, {}, False),
)
NODE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["n1", "n2", "n3", "n4"]),
        "pool": st.sampled_from(["a", "b", "c", None]),
        "zone": st.sampled_from(["z1", "z2"]),
        "cordon": st.booleans(),
        "tainted": st.booleans(),
        "ready": st.sampled_from(["True", "True", "False", None]),
        "delete": st.booleans(),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.lists(NODE, max_size=25))
def test_gated_events_equal_brute_force(events: list[dict[str, Any]]) -> None:
    state = ClusterState(30.0)
    for i, (notes, pod_spec, spread) in enumerate(TARGETS):
        obj = deployment(f"t{i}", annotations=notes, pod_spec=pod_spec, spread=spread)
        state.upsert_target(target_view(obj), 0.0)
    for event in events:
        if event["delete"]:
            state.delete_node(event["name"])
            continue
        labels = {"zone": event["zone"]} | ({"pool": event["pool"]} if event["pool"] else {})
        taints = [{"key": "x", "effect": "NoSchedule"}] if event["tainted"] else []
        raw = node(
            event["name"],
            labels=labels,
            unschedulable=event["cordon"],
            taints=taints,
            ready=event["ready"],
        )
        state.upsert_node(node_view(raw), 1.0)
    for target in state.targets.values():
        config, placement = target.view.config, target.view.placement
        assert config is not None
        assert placement is not None
        # Readiness as the state counts it: a node that was Ready is in its grace period.
        expected = {
            n.name
            for n in state.nodes.values()
            if is_eligible(n, config, placement, state.node_counts_as_ready(n, 1.0))
        }
        assert target.eligible == expected, target.view.key
