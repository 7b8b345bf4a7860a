"""The cutover's decisions: gating and ungating the DaemonSet exactly, the Deployment's gate,
which pods are whose, when a node has settled, what moves next."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from nodecount_scaler.model.cutover import (
    CUTOVER_ANNOTATION,
    AgentPod,
    CutoverError,
    NodeAgents,
    deployment_gate,
    gate_patch,
    label_selector,
    next_batch,
    nodes_with_agents,
    progress,
    saved_state,
    to_move,
    ungate_patch,
)
from nodecount_scaler.model.daemonset_migration import OWN_POD_LABEL, Gate, translate_daemonset

GATE = Gate("cutover.nodecount-scaler.io/ns.agent")


def apply_json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add, remove and test, as the API server applies them (enough for these)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[part]
        if op["op"] == "test":
            if parent.get(parts[-1]) != op["value"]:
                raise ValueError("test failed")
        elif op["op"] == "add":
            parent[parts[-1]] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[parts[-1]]
    return doc


def daemonset(affinity: dict[str, Any] | None = None, annotations: bool = False) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "a", "image": "a"}]}
    if affinity is not None:
        pod["affinity"] = affinity
    metadata: dict[str, Any] = {"name": "agent", "namespace": "ns", "resourceVersion": "7"}
    if annotations:
        metadata["annotations"] = {"a/b": "c"}
    return {
        "kind": "DaemonSet",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod},
        },
    }


AFFINITIES: list[tuple[str, dict[str, Any] | None]] = [
    ("none", None),
    ("pod anti-affinity only",
     {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}),
    (
        "two terms",
        {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]},
        ]}}},
    ),
]  # fmt: skip


@pytest.mark.parametrize("annotations", [False, True])
@pytest.mark.parametrize("affinity", [r[1] for r in AFFINITIES], ids=[r[0] for r in AFFINITIES])
def test_ungating_restores_the_daemonset_exactly(
    affinity: dict[str, Any] | None, annotations: bool
) -> None:
    """Gate, then ungate: the same object (the same template hash, no pod replaced)."""
    ds = daemonset(affinity, annotations)
    gated = apply_json_patch(ds, gate_patch(ds, GATE))
    assert gated["spec"]["updateStrategy"] == {"type": "OnDelete"}
    terms = gated["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms
    assert all(GATE.daemonset_requirement() in t["matchExpressions"] for t in terms)
    saved = saved_state(gated)
    assert saved is not None
    assert saved.gate == GATE
    restored = apply_json_patch(gated, ungate_patch(gated, saved))
    assert restored == ds


def test_a_changed_daemonset_is_not_patched() -> None:
    """The patch tests the resourceVersion it was made from."""
    ds = daemonset()
    newer = {**ds, "metadata": {**ds["metadata"], "resourceVersion": "8"}}
    with pytest.raises(ValueError, match="test failed"):
        apply_json_patch(newer, gate_patch(ds, GATE))


@pytest.mark.parametrize(
    "raw", ["{", '{"updateStrategy": {}}', '{"gate": "k", "affinity": []}', "[1]"]
)
def test_a_foreign_annotation_is_refused(raw: str) -> None:
    ds = daemonset()
    ds["metadata"]["annotations"] = {CUTOVER_ANNOTATION: raw}
    with pytest.raises(CutoverError, match="not the cutover's"):
        saved_state(ds)


def test_the_deployment_gate_is_found_only_in_every_term() -> None:
    ds = daemonset()
    migration, _ = translate_daemonset(ds)
    assert migration is not None
    deployment = migration.deployment.obj
    assert deployment_gate(deployment) == Gate("cutover.nodecount-scaler.io/ns.agent")
    terms = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    terms.append({"matchExpressions": [{"key": "x", "operator": "Exists"}]})
    assert deployment_gate(deployment) is None
    assert deployment_gate({"spec": {"template": {"spec": {}}}}) is None


def test_label_selector_query() -> None:
    selector = {
        "matchLabels": {"app": "a"},
        "matchExpressions": [
            {"key": "t", "operator": "In", "values": ["x", "y"]},
            {"key": "u", "operator": "NotIn", "values": ["z"]},
            {"key": "v", "operator": "Exists"},
            {"key": "w", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "app=a,t in (x,y),u notin (z),v,!w"
    with pytest.raises(CutoverError):
        label_selector({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]})


def pod(
    name: str, node: str, *, daemon: bool, ready: bool = True, deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"app": "agent"}}
    if daemon:
        metadata["ownerReferences"] = [{"uid": "ds-uid", "controller": True, "kind": "DaemonSet"}]
    else:
        metadata["labels"][OWN_POD_LABEL] = "agent"
        metadata["ownerReferences"] = [{"uid": "rs-uid", "controller": True, "kind": "ReplicaSet"}]
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return {"metadata": metadata, "spec": {"nodeName": node}, "status": status}


def test_pods_are_told_apart() -> None:
    """The DaemonSet's by its controller reference, the Deployment's by their own label; a
    pod being deleted is not Ready; any other pod the selector matches is ignored."""
    assert AgentPod.of(pod("d", "n", daemon=True), "ds-uid") == AgentPod("d", "n", True, True)
    assert AgentPod.of(pod("r", "n", daemon=False), "ds-uid") == AgentPod("r", "n", False, True)
    assert AgentPod.of(pod("d", "n", daemon=True, deleting=True), "ds-uid") == AgentPod(
        "d", "n", True, False
    )
    assert AgentPod.of(pod("d", "n", daemon=True), "other-uid") is None


SETTLED = [
    # gated, pods (daemon, ready), forward?, had an agent, settled
    ("forward done", False, [(False, True)], False, True, True),
    ("forward: daemon pod still there", False, [(True, True), (False, True)], False, True, False),
    ("forward: new pod not Ready", False, [(False, False)], False, True, False),
    ("forward: label still there", True, [(False, True)], False, True, False),
    ("forward: nothing to hand over", False, [], False, False, True),
    ("reverse done", True, [(True, True)], True, True, True),
    ("reverse: deployment pod left", True, [(True, True), (False, True)], True, True, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("gated", "pods", "reverse", "needs", "settled"),
    [r[1:] for r in SETTLED],
    ids=[r[0] for r in SETTLED],
)
def test_settled(
    gated: bool, pods: list[tuple[bool, bool]], reverse: bool, needs: bool, settled: bool
) -> None:
    node = NodeAgents(
        "n", gated, tuple(AgentPod(f"p{i}", "n", d, r) for i, (d, r) in enumerate(pods))
    )
    assert node.settled(reverse, needs) is settled


def test_what_moves_next_and_progress() -> None:
    nodes = nodes_with_agents(
        [
            {"metadata": {"name": name, "labels": {GATE.key: "daemonset"} if gated else {}}}
            for name, gated in (("c", True), ("a", True), ("b", False), ("e", True), ("d", True))
        ],
        [
            AgentPod("pa", "a", True, True),
            AgentPod("pb", "b", False, True),
            AgentPod("pc", "c", True, False),
            AgentPod("pd", "d", True, True),
        ],
        GATE,
    )
    assert to_move(nodes, reverse=False) == ["a", "c", "d", "e"]
    assert to_move(nodes, reverse=True) == ["b"]
    # "e" runs no agent: it goes first, alone, with nothing to wait for.
    assert [n.name for n in next_batch(nodes, False, 2)] == ["e"]
    rest = [n for n in nodes if n.name != "e"]
    assert [n.name for n in next_batch(rest, False, 2)] == ["a", "c"]
    assert str(progress(nodes)) == (
        "1 nodes on the Deployment, 4 on the DaemonSet, 1 with an agent pod not Ready"
    )
    assert GATE.deployment_requirement() == json.loads(
        '{"key": "cutover.nodecount-scaler.io/ns.agent", "operator": "NotIn", '
        '"values": ["daemonset"]}'
    )
