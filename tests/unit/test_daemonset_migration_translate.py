"""A DaemonSet to its Deployment: the controller's tolerations, one pod per node, the gate,
the rollout, what does not carry over, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nodecount_scaler.model.annotations import parse_config
from nodecount_scaler.model.daemonset_migration import (
    AUTOMATIC_TOLERATIONS,
    CLUSTER_AUTOSCALER_DAEMONSET_POD,
    GATE_PREFIX,
    OWN_POD_LABEL,
    DaemonSetMigration,
    DaemonSetOptions,
    default_gate_key,
    own_pod_label_value,
    translate_daemonset,
    with_daemon_tolerations,
)
from nodecount_scaler.model.eligibility import is_eligible
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.placement import placement_from_pod_spec

ENABLED = "nodecount-scaler.io/enabled"
GATE = f"{GATE_PREFIX}monitoring.node-exporter"
AUTO = [a.toleration() for a in AUTOMATIC_TOLERATIONS if not a.host_network_only]
NETWORK = AUTOMATIC_TOLERATIONS[-1].toleration()


def daemonset(**spec: Any) -> dict[str, Any]:
    pod = {"containers": [{"name": "exporter", "image": "exporter:1"}], **spec.pop("pod", {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-exporter", "namespace": "monitoring", "labels": {"a": "b"}},
        "spec": {
            "selector": {"matchLabels": {"app": "exporter"}},
            "template": {"metadata": {"labels": {"app": "exporter"}}, "spec": pod},
            **spec,
        },
    }


DEFAULT = DaemonSetOptions()


def migrate(ds: dict[str, Any], options: DaemonSetOptions = DEFAULT) -> DaemonSetMigration:
    migration, errors = translate_daemonset(ds, options)
    assert errors == (), errors
    assert migration is not None
    return migration


def pod_spec(migration: DaemonSetMigration) -> dict[str, Any]:
    spec: dict[str, Any] = migration.deployment.obj["spec"]["template"]["spec"]
    return spec


TOLERATION_ROWS = [
    ("none: six added", [], False, AUTO),
    ("hostNetwork: seven", [], True, [*AUTO, NETWORK]),
    (
        "same key with tolerationSeconds: replaced in place",
        [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
          "tolerationSeconds": 300}],
        False,
        AUTO,
    ),
    (
        "identical: left as it is",
        [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}],
        False,
        [AUTO[5], *AUTO[:5]],
    ),
    (
        "empty value and null seconds read as absent",
        [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "value": "",
          "effect": "NoSchedule", "tolerationSeconds": None}],
        False,
        [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "value": "",
          "effect": "NoSchedule", "tolerationSeconds": None}, *AUTO[:5]],
    ),
    (
        "a blanket toleration does not match a keyed one",
        [{"operator": "Exists"}],
        False,
        [{"operator": "Exists"}, *AUTO],
    ),
    (
        "another operator is another toleration",
        [{"key": "node.kubernetes.io/disk-pressure", "operator": "Equal", "value": "x",
          "effect": "NoSchedule"}],
        False,
        [{"key": "node.kubernetes.io/disk-pressure", "operator": "Equal", "value": "x",
          "effect": "NoSchedule"}, *AUTO],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "host_network", "expected"),
    [r[1:] for r in TOLERATION_ROWS],
    ids=[r[0] for r in TOLERATION_ROWS],
)
def test_daemon_tolerations_as_the_controller_adds_them(
    given: list[dict[str, Any]], host_network: bool, expected: list[dict[str, Any]]
) -> None:
    """AddOrUpdateDaemonPodTolerations: match on key, operator, value, effect; replace if
    different, keep the list if identical, else append; network-unavailable for hostNetwork."""
    result, notes = with_daemon_tolerations(given, host_network)
    assert result == expected
    assert {i for i, t in enumerate(result) if t in [*AUTO, NETWORK]} <= set(notes)


def test_every_position_the_controller_decides_is_marked() -> None:
    """Each added or replaced toleration carries a comment naming why."""
    migration = migrate(
        daemonset(pod={"hostNetwork": True, "tolerations": [{"operator": "Exists"}]})
    )
    marked = {m.path[-1]: m.comment for m in migration.deployment.marks if "tolerations" in m.path}
    assert sorted(marked) == list(range(1, 8))
    assert all("DaemonSet controller" in comment for comment in marked.values())
    assert "hostNetwork" in marked[7]


def test_one_pod_per_node_against_its_own_pods_only() -> None:
    """Anti-affinity and selector use a label the DaemonSet's pods do not carry."""
    migration = migrate(daemonset())
    obj = migration.deployment.obj
    own = {OWN_POD_LABEL: "node-exporter"}
    assert obj["spec"]["selector"]["matchLabels"] == {"app": "exporter", **own}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "exporter", **own}
    terms = pod_spec(migration)["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms == [
        {"labelSelector": {"matchLabels": own}, "topologyKey": "kubernetes.io/hostname"}
    ]
    assert obj["metadata"] == {
        "name": "node-exporter",
        "namespace": "monitoring",
        "labels": {"a": "b"},
        "annotations": {ENABLED: "true"},
    }
    assert "replicas" not in obj["spec"]
    annotations = obj["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {CLUSTER_AUTOSCALER_DAEMONSET_POD: "true"}


def test_gate_in_every_term_and_the_node_name_pinned() -> None:
    """The gate's NotIn joins every required term; a template nodeName becomes matchFields."""
    terms: list[dict[str, Any]] = [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
    ]
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                                 {"nodeSelectorTerms": terms}}}  # fmt: skip
    migration = migrate(daemonset(pod={"affinity": affinity, "nodeName": "n1"}))
    spec = pod_spec(migration)
    assert "nodeName" not in spec
    gate = {"key": GATE, "operator": "NotIn", "values": ["daemonset"]}
    pin = {"key": "metadata.name", "operator": "In", "values": ["n1"]}
    got = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert got["nodeSelectorTerms"] == [
        {"matchExpressions": [*t["matchExpressions"], gate], "matchFields": [pin]} for t in terms
    ]
    assert terms[0]["matchExpressions"] == [{"key": "pool", "operator": "In", "values": ["a"]}]
    assert any("nodeName" in d for d in migration.differences)


STRATEGY_ROWS = [
    ("default", None, 1, None),
    ("maxUnavailable kept", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 3}}, 3,
     None),
    ("percentage", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}, "10%",
     "rounds a percentage up"),
    ("surge", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, 1,
     "maxSurge 1"),
    ("OnDelete", {"type": "OnDelete"}, 1, "OnDelete"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "unavailable", "note"),
    [r[1:] for r in STRATEGY_ROWS],
    ids=[r[0] for r in STRATEGY_ROWS],
)
def test_rollout(strategy: dict[str, Any] | None, unavailable: object, note: str | None) -> None:
    """maxSurge 0 always; the DaemonSet's maxUnavailable, at least 1; what changes is named."""
    ds = daemonset(**({"updateStrategy": strategy} if strategy else {}))
    migration = migrate(ds)
    assert migration.deployment.obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": unavailable},
    }
    if note:
        assert any(note in d for d in migration.differences)


def test_what_does_not_carry_over_is_named() -> None:
    """Status fields, rollback history, the scheduler queue, NotReady nodes, drains, the
    DaemonSet's own annotations, timed NoExecute tolerations."""
    ds = daemonset(
        pod={
            "tolerations": [
                {"key": "x", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
            ]
        }
    )
    ds["metadata"]["annotations"] = {"deprecated.daemonset.template.generation": "4"}
    text = "\n".join(migrate(ds).differences)
    for needle in ("desiredNumberScheduled", "Rollback history", "PrioritySort",
                   "NotReady", "--ignore-daemonsets", "deprecated.daemonset.template.generation",
                   "tolerationSeconds (x)", "spec.replicas is left out"):  # fmt: skip
        assert needle in text, needle


def test_the_service_counts_what_the_added_tolerations_admit() -> None:
    """A cordoned node under memory pressure: the DaemonSet runs there, and the translated
    template makes it eligible for nodecount-scaler too."""
    migration = migrate(daemonset())
    placement = placement_from_pod_spec(pod_spec(migration))
    config, errors = parse_config(migration.deployment.obj["metadata"]["annotations"])
    assert config is not None, errors
    node = project_node({
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {}},
        "spec": {"unschedulable": True, "taints": [
            {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        ]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    })  # fmt: skip
    assert isinstance(node, NodeView)
    assert is_eligible(node, config, placement, ready=True)
    untolerated = placement_from_pod_spec(daemonset()["spec"]["template"]["spec"])
    assert not is_eligible(node, config, untolerated, ready=True)


def test_pdb_when_asked() -> None:
    """maxUnavailable as given (a number stays a number), the Deployment's selector."""
    migration = migrate(daemonset(), DaemonSetOptions(pdb_max_unavailable="2"))
    assert migration.pdb is not None
    spec = migration.pdb.obj["spec"]
    assert spec["maxUnavailable"] == 2
    assert spec["selector"] == migration.deployment.obj["spec"]["selector"]
    percent = migrate(daemonset(), DaemonSetOptions(pdb_max_unavailable="25%")).pdb
    assert percent is not None
    assert percent.obj["spec"]["maxUnavailable"] == "25%"
    assert migrate(daemonset()).pdb is None


BAD = [
    ("not a DaemonSet", {**daemonset(), "kind": "Deployment"}, DaemonSetOptions(), "kind"),
    ("no template", {**daemonset(), "spec": {"selector": {}}}, DaemonSetOptions(), "spec.template"),
    ("no containers", daemonset(pod={"containers": []}), DaemonSetOptions(), "containers"),
    ("bad name", daemonset(), DaemonSetOptions(name="Not_A_Name"), "--name"),
    ("bad gate", daemonset(), DaemonSetOptions(gate_key="-bad-/key/x"), "--gate-label"),
    ("bad pdb", daemonset(), DaemonSetOptions(pdb_max_unavailable="half"), "--pdb"),
    ("pdb over 100%", daemonset(), DaemonSetOptions(pdb_max_unavailable="101%"), "--pdb"),
    ("bad toleration", daemonset(pod={"tolerations": [{"operator": "Sometimes"}]}),
     DaemonSetOptions(), "tolerations"),
]  # fmt: skip


@pytest.mark.parametrize(("ds", "options", "where"), [r[1:] for r in BAD], ids=[r[0] for r in BAD])
def test_bad_input_is_named(ds: dict[str, Any], options: DaemonSetOptions, where: str) -> None:
    migration, errors = translate_daemonset(ds, options)
    assert migration is None
    assert any(where in e.where for e in errors), errors


def test_input_is_not_changed() -> None:
    ds = daemonset(pod={"tolerations": [{"operator": "Exists"}], "nodeName": "n"})
    before = copy.deepcopy(ds)
    migrate(ds)
    assert ds == before


def test_gate_key_and_own_label_fit_label_syntax() -> None:
    assert default_gate_key("monitoring", "node-exporter") == GATE
    long = default_gate_key("a" * 40, "b" * 40)
    assert long.startswith(GATE_PREFIX + "ds-")
    assert len(long.partition("/")[2]) <= 63
    assert own_pod_label_value("x" * 80) != own_pod_label_value("x" * 81)
    assert len(own_pod_label_value("x" * 253)) <= 63
