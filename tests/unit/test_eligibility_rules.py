"""Eligibility of a node for a target: every rule of docs/eligibility.md, as a table."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from nodecount_scaler.model.annotations import DEFAULT_CONFIG, TargetConfig
from nodecount_scaler.model.eligibility import Eligibility, Rule, explain
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.placement import placement_from_pod_spec
from nodecount_scaler.model.selector import parse_selector
from testkit.builders import expr, node, node_view, required_affinity, taint, term, toleration

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    node: JsonObject
    expected: Rule | None  # None: the node counts
    pod_spec: JsonObject = field(default_factory=dict)
    selector: str = ""


CASES = [
    # -- section 4: outcome per node state -------------------------------------------------
    Case("plain ready node counts", node(), None),
    Case(
        "annotation selector mismatch",
        node(labels={"pool": "a"}),
        Rule.NODE_SELECTOR_ANNOTATION,
        selector="pool=b",
    ),
    Case("annotation selector match", node(labels={"pool": "a"}), None, selector="pool=a"),
    Case(
        "annotation selector set-based in",
        node(labels={"pool": "b"}),
        None,
        selector="pool in (a,b)",
    ),
    Case(
        "annotation selector !key with the label",
        node(labels={"gpu": "yes"}),
        Rule.NODE_SELECTOR_ANNOTATION,
        selector="!gpu",
    ),
    Case(
        "template nodeSelector mismatch",
        node(labels={"disk": "hdd"}),
        Rule.NODE_AFFINITY,
        pod_spec={"nodeSelector": {"disk": "ssd"}},
    ),
    Case(
        "DoNotSchedule spread key missing: the PodTopologySpread filter rejects the node",
        node(),
        Rule.NODE_AFFINITY,
        pod_spec={
            "topologySpreadConstraints": [
                {"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}
            ]
        },
    ),
    Case(
        "ScheduleAnyway spread key missing: no filter",
        node(),
        None,
        pod_spec={
            "topologySpreadConstraints": [
                {"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "ScheduleAnyway"}
            ]
        },
    ),
    Case(
        "template nodeSelector match",
        node(labels={"disk": "ssd"}),
        None,
        pod_spec={"nodeSelector": {"disk": "ssd"}},
    ),
    Case("cordoned", node(unschedulable=True), Rule.CORDONED),
    Case(
        "cordoned, unschedulable tolerated",
        node(unschedulable=True, taints=[taint("node.kubernetes.io/unschedulable")]),
        None,
        pod_spec={"tolerations": [toleration("node.kubernetes.io/unschedulable", "Exists")]},
    ),
    Case(
        "cordoned, tolerate-everything template",
        node(unschedulable=True, taints=[taint("node.kubernetes.io/unschedulable")]),
        None,
        pod_spec={"tolerations": [toleration(operator="Exists")]},
    ),
    Case(
        "uncordoned, the lifecycle controller's cordon taint not yet gone",
        node(taints=[taint("node.kubernetes.io/unschedulable")]),
        None,
    ),
    Case("custom NoSchedule taint", node(taints=[taint("dedicated", value="db")]), Rule.TAINT),
    Case(
        "custom NoSchedule taint tolerated (Equal)",
        node(taints=[taint("dedicated", value="db")]),
        None,
        pod_spec={"tolerations": [toleration("dedicated", "Equal", "db", "NoSchedule")]},
    ),
    Case("custom NoExecute taint", node(taints=[taint("evict", "NoExecute")]), Rule.TAINT),
    Case(
        "NoExecute tolerated only with tolerationSeconds",
        node(taints=[taint("evict", "NoExecute")]),
        Rule.TAINT,
        pod_spec={"tolerations": [toleration("evict", "Exists", effect="NoExecute", seconds=60)]},
    ),
    Case(
        "NoExecute tolerated without tolerationSeconds",
        node(taints=[taint("evict", "NoExecute")]),
        None,
        pod_spec={"tolerations": [toleration("evict", "Exists", effect="NoExecute")]},
    ),
    Case(
        "NoSchedule tolerated with tolerationSeconds (seconds only matter for NoExecute)",
        node(taints=[taint("dedicated")]),
        None,
        pod_spec={"tolerations": [toleration("dedicated", "Exists", seconds=60)]},
    ),
    Case("PreferNoSchedule ignored", node(taints=[taint("soft", "PreferNoSchedule")]), None),
    Case("Ready=False", node(ready="False"), Rule.NOT_READY),
    Case("Ready=Unknown", node(ready="Unknown"), Rule.NOT_READY),
    Case("no Ready condition", node(ready=None), Rule.NOT_READY),
    Case(
        "Ready=True but not-ready taint (lifecycle controller lag)",
        node(taints=[taint("node.kubernetes.io/not-ready")]),
        Rule.NOT_READY,
    ),
    Case(
        "unreachable NoExecute taint",
        node(taints=[taint("node.kubernetes.io/unreachable", "NoExecute")]),
        Rule.NOT_READY,
    ),
    Case(
        "tolerate-everything template still needs Ready (rule 7)",
        node(ready="False", taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]),
        Rule.NOT_READY,
        pod_spec={"tolerations": [toleration(operator="Exists")]},
    ),
    Case(
        "memory pressure taint",
        node(taints=[taint("node.kubernetes.io/memory-pressure")]),
        Rule.TAINT,
    ),
    Case(
        "memory pressure tolerated",
        node(taints=[taint("node.kubernetes.io/memory-pressure")]),
        None,
        pod_spec={"tolerations": [toleration("node.kubernetes.io/memory-pressure", "Exists")]},
    ),
    Case("being deleted", node(deleting=True), Rule.DELETING),
    Case("template nodeName elsewhere", node("n1"), Rule.NODE_NAME, pod_spec={"nodeName": "n2"}),
    Case("template nodeName here", node("n1"), None, pod_spec={"nodeName": "n1"}),
    # -- section 5: matching rules ---------------------------------------------------------
    Case(
        "NotIn matches a node without the label",
        node(),
        None,
        pod_spec={"affinity": required_affinity(term(expr("zone", "NotIn", "a")))},
    ),
    Case(
        "NotIn rejects a listed value",
        node(labels={"zone": "a"}),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("zone", "NotIn", "a")))},
    ),
    Case(
        "DoesNotExist matches a node without the label",
        node(),
        None,
        pod_spec={"affinity": required_affinity(term(expr("spot", "DoesNotExist")))},
    ),
    Case(
        "DoesNotExist rejects a node with the label",
        node(labels={"spot": ""}),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("spot", "DoesNotExist")))},
    ),
    Case(
        "In rejects a node without the label",
        node(),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("zone", "In", "a")))},
    ),
    Case(
        "Exists matches an empty label value",
        node(labels={"edge": ""}),
        None,
        pod_spec={"affinity": required_affinity(term(expr("edge", "Exists")))},
    ),
    Case(
        "Gt compares integers (5 > 3)",
        node(labels={"cores": "5"}),
        None,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Gt", "3")))},
    ),
    Case(
        "Gt false (2 > 3)",
        node(labels={"cores": "2"}),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Gt", "3")))},
    ),
    Case(
        "Gt on a non-integer label fails",
        node(labels={"cores": "many"}),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Gt", "3")))},
    ),
    Case(
        "Gt compares numerically, not as text (10 > 9)",
        node(labels={"cores": "10"}),
        None,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Gt", "9")))},
    ),
    Case(
        "Lt true (2 < 3)",
        node(labels={"cores": "2"}),
        None,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Lt", "3")))},
    ),
    Case(
        "Lt on a missing label fails",
        node(),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term(expr("cores", "Lt", "3")))},
    ),
    Case(
        "an empty term matches nothing",
        node(),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity(term())},
    ),
    Case(
        "an empty list of terms matches nothing",
        node(),
        Rule.NODE_AFFINITY,
        pod_spec={"affinity": required_affinity()},
    ),
    Case(
        "terms are ORed",
        node(labels={"zone": "b"}),
        None,
        pod_spec={
            "affinity": required_affinity(
                term(expr("zone", "In", "a")), term(expr("zone", "In", "b"))
            )
        },
    ),
    Case(
        "expressions in a term are ANDed",
        node(labels={"zone": "a", "disk": "hdd"}),
        Rule.NODE_AFFINITY,
        pod_spec={
            "affinity": required_affinity(term(expr("zone", "In", "a"), expr("disk", "In", "ssd")))
        },
    ),
    Case(
        "nodeSelector and affinity must both hold",
        node(labels={"disk": "ssd", "zone": "b"}),
        Rule.NODE_AFFINITY,
        pod_spec={
            "nodeSelector": {"disk": "ssd"},
            "affinity": required_affinity(term(expr("zone", "In", "a"))),
        },
    ),
    Case(
        "matchFields metadata.name In",
        node("n7"),
        None,
        pod_spec={
            "affinity": required_affinity(
                term(fields=[{"key": "metadata.name", "operator": "In", "values": ["n7"]}])
            )
        },
    ),
    Case(
        "matchFields metadata.name NotIn",
        node("n7"),
        Rule.NODE_AFFINITY,
        pod_spec={
            "affinity": required_affinity(
                term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n7"]}])
            )
        },
    ),
    Case(
        "nodeAffinity with only preferred terms does not restrict",
        node(),
        None,
        pod_spec={
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
        },
    ),
    Case(
        "Exists with an empty key tolerates every taint",
        node(taints=[taint("a"), taint("b", "NoExecute")]),
        None,
        pod_spec={"tolerations": [toleration(operator="Exists")]},
    ),
    Case(
        "toleration for another effect does not tolerate",
        node(taints=[taint("dedicated", "NoExecute")]),
        Rule.TAINT,
        pod_spec={"tolerations": [toleration("dedicated", "Exists", effect="NoSchedule")]},
    ),
    Case(
        "effect-less toleration tolerates NoSchedule and NoExecute",
        node(taints=[taint("dedicated"), taint("dedicated", "NoExecute")]),
        None,
        pod_spec={"tolerations": [toleration("dedicated", "Exists")]},
    ),
    Case(
        "effect-less toleration with tolerationSeconds does not count for NoExecute",
        node(taints=[taint("dedicated", "NoExecute")]),
        Rule.TAINT,
        pod_spec={"tolerations": [toleration("dedicated", "Exists", seconds=30)]},
    ),
    Case(
        "Equal with another value does not tolerate",
        node(taints=[taint("dedicated", value="db")]),
        Rule.TAINT,
        pod_spec={"tolerations": [toleration("dedicated", "Equal", "web")]},
    ),
    Case(
        "operator defaults to Equal",
        node(taints=[taint("dedicated", value="db")]),
        None,
        pod_spec={"tolerations": [toleration("dedicated", value="db")]},
    ),
    Case(
        "Exists ignores the taint value",
        node(taints=[taint("dedicated", value="db")]),
        None,
        pod_spec={"tolerations": [toleration("dedicated", "Exists")]},
    ),
    Case(
        "one untolerated taint among tolerated ones",
        node(taints=[taint("a"), taint("b")]),
        Rule.TAINT,
        pod_spec={"tolerations": [toleration("a", "Exists")]},
    ),
    Case(
        "rules apply in order: deleting before taints",
        node(deleting=True, taints=[taint("a")]),
        Rule.DELETING,
    ),
]


def _config(selector: str) -> TargetConfig:
    if not selector:
        return DEFAULT_CONFIG
    return TargetConfig(parse_selector(selector), 0, None, DEFAULT_CONFIG.nodes_per_replica)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_explain(case: Case) -> None:
    """explain() returns the first failing rule, or None when the node counts."""
    view = node_view(case.node)
    placement = placement_from_pod_spec(case.pod_spec)
    result = explain(view, _config(case.selector), placement, ready=view.ready)
    assert (None if result is None else result[0]) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_memoised_matches_explain(case: Case) -> None:
    """The compiled, memoising Eligibility agrees with explain() (also on a second, cached call)."""
    view = node_view(case.node)
    check = Eligibility(_config(case.selector), placement_from_pod_spec(case.pod_spec))
    assert check(view, view.ready) is (case.expected is None)
    assert check(view, view.ready) is (case.expected is None)


def test_table_is_large_enough() -> None:
    """The issue asks for at least 40 eligibility cases."""
    assert len(CASES) >= 40


def test_grace_readiness_overrides_condition() -> None:
    """A NotReady node passed as ready (inside its grace period) counts."""
    view = node_view(node(ready="False"))
    assert explain(view, DEFAULT_CONFIG, placement_from_pod_spec({}), ready=True) is None


def test_memo_distinguishes_nodes_by_read_labels() -> None:
    """Two nodes differing only in a label the target reads get different answers."""
    check = Eligibility(
        _config("pool=a"), placement_from_pod_spec({"nodeSelector": {"disk": "ssd"}})
    )
    good = node_view(node("a", labels={"pool": "a", "disk": "ssd"}))
    bad = node_view(node("b", labels={"pool": "a", "disk": "hdd"}))
    assert check(good, True)
    assert not check(bad, True)


A = {"pool": "a"}
COUNTING_UNSCHEDULABLE = [
    # node, what it fails without the waiver, what it fails with it
    ("cordoned", node(labels=A, unschedulable=True), Rule.CORDONED, None),
    ("NotReady", node(labels=A, ready="False"), Rule.NOT_READY, None),
    ("no Ready condition", node(labels=A, ready=None), Rule.NOT_READY, None),
    (
        "unreachable, tainted",
        node(labels=A, ready="Unknown",
             taints=[taint("node.kubernetes.io/unreachable", "NoExecute")]),
        Rule.NOT_READY,
        None,
    ),
    ("cordoned and NotReady", node(labels=A, unschedulable=True, ready="False"), Rule.CORDONED,
     None),
    ("custom taint still refuses", node(labels=A, taints=[taint("dedicated")]), Rule.TAINT,
     Rule.TAINT),
    ("deleting still refuses", node(labels=A, deleting=True), Rule.DELETING, Rule.DELETING),
    ("labels still decide", node(labels={"pool": "b"}), Rule.NODE_SELECTOR_ANNOTATION,
     Rule.NODE_SELECTOR_ANNOTATION),
]  # fmt: skip


@pytest.mark.parametrize(
    ("view", "without", "with_waiver"),
    [(node_view(r[1]), r[2], r[3]) for r in COUNTING_UNSCHEDULABLE],
    ids=[r[0] for r in COUNTING_UNSCHEDULABLE],
)
def test_counting_unschedulable_waives_cordon_and_readiness_only(
    view: NodeView, without: Rule | None, with_waiver: Rule | None
) -> None:
    """A target that counts cordoned and NotReady nodes (CPA's includeUnschedulableNodes)
    skips rules 5 and 7, and only those; the memoised test agrees."""
    placement = placement_from_pod_spec({})
    plain = TargetConfig(parse_selector("pool=a"), 0, None, DEFAULT_CONFIG.nodes_per_replica)
    waived = replace(plain, include_unschedulable=True)
    for config, expected in ((plain, without), (waived, with_waiver)):
        found = explain(view, config, placement, ready=view.ready)
        assert (None if found is None else found[0]) == expected
        assert Eligibility(config, placement)(view, view.ready) is (expected is None)
