"""The cutover from a DaemonSet to its Deployment, node by node: the decisions, no I/O.

A node label (the gate, `<key>=daemonset`) splits the nodes: the DaemonSet's template
requires it (`In`), the Deployment's excludes it (`NotIn`). Gating labels every node and
then adds the requirement to the DaemonSet, so no pod moves; the Deployment is created at
0 replicas. Moving a node is removing its label: the DaemonSet controller deletes its pod
there, nodecount-scaler counts the node and adds a replica, the scheduler puts it on that
node (the only counted node without one). Moving back is the same steps in reverse: the
label comes back, the Deployment's pod there is deleted, the DaemonSet starts its own.

The DaemonSet is switched to OnDelete while it is gated: its template gains a requirement,
and with RollingUpdate that change alone would replace every daemon pod. What was there
before (the update strategy and the template's affinity) is kept in an annotation on the
DaemonSet, so ungating restores the template exactly: the same template has the same
hash, and the pods the cutover never touched are not replaced.

The whole state lives in the cluster (the annotation, the node labels), so a cutover can
stop anywhere and the same command resumes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nodecount_scaler.model.daemonset_migration import (
    OWN_POD_LABEL,
    Gate,
)
from nodecount_scaler.model.keys import PREFIX

JsonObject = dict[str, Any]
# On the DaemonSet while it is gated: {"gate": key, "updateStrategy": ..., "affinity": ...}.
CUTOVER_ANNOTATION: Final = PREFIX + "cutover"
_REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"


class CutoverError(ValueError):
    """The objects are not in a state the cutover can work from; the message says why."""


@dataclass(frozen=True, slots=True)
class Saved:
    """What the DaemonSet had before it was gated."""

    gate: Gate
    update_strategy: JsonObject | None
    affinity: JsonObject | None  # None: the template had no affinity


def _pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901): "~" and "/" inside a part are escaped."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def saved_state(daemonset: Mapping[str, Any]) -> Saved | None:
    """The DaemonSet's cutover annotation, read back; None when it is not gated."""
    annotations = (daemonset.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(CUTOVER_ANNOTATION)
    if raw is None:
        return None
    try:
        saved = json.loads(raw)
        gate = Gate(str(saved["gate"]))
        strategy, affinity = saved.get("updateStrategy"), saved.get("affinity")
    except (ValueError, KeyError, TypeError) as exc:
        raise CutoverError(f"annotation {CUTOVER_ANNOTATION} is not the cutover's: {exc}") from exc
    if not isinstance(strategy, dict | None) or not isinstance(affinity, dict | None):
        raise CutoverError(f"annotation {CUTOVER_ANNOTATION} is not the cutover's")
    return Saved(gate, strategy, affinity)


def _gated_affinity(affinity: Mapping[str, Any] | None, gate: Gate) -> JsonObject:
    """The template's affinity with `gate In [daemonset]` in every required term."""
    result: JsonObject = dict(json.loads(json.dumps(affinity or {})))
    node_affinity = result.setdefault("nodeAffinity", {})
    required = node_affinity.get(_REQUIRED)
    if required is None:
        node_affinity[_REQUIRED] = {"nodeSelectorTerms": [{"matchExpressions": []}]}
        required = node_affinity[_REQUIRED]
    for term in required.get("nodeSelectorTerms") or []:
        term["matchExpressions"] = [
            *(term.get("matchExpressions") or []),
            gate.daemonset_requirement(),
        ]
    return result


def gate_patch(daemonset: Mapping[str, Any], gate: Gate) -> list[JsonObject]:
    """JSON patch (RFC 6902) that gates the DaemonSet: OnDelete, the gate's requirement, and
    what they replace saved in an annotation. It fails unless the DaemonSet is unchanged."""
    metadata = daemonset.get("metadata") or {}
    spec = daemonset.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec")) or {}
    saved = {
        "gate": gate.key,
        "updateStrategy": spec.get("updateStrategy"),
        "affinity": pod.get("affinity"),
    }
    ops: list[JsonObject] = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": metadata.get("resourceVersion"),
        }
    ]
    text = json.dumps(saved, sort_keys=True, separators=(",", ":"))
    if metadata.get("annotations"):
        path = _pointer("metadata", "annotations", CUTOVER_ANNOTATION)
        ops.append({"op": "add", "path": path, "value": text})
    else:
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {CUTOVER_ANNOTATION: text}}
        )
    ops.append({"op": "add", "path": "/spec/updateStrategy", "value": {"type": "OnDelete"}})
    affinity = _gated_affinity(pod.get("affinity"), gate)
    ops.append({"op": "add", "path": "/spec/template/spec/affinity", "value": affinity})
    return ops


def ungate_patch(daemonset: Mapping[str, Any], saved: Saved) -> list[JsonObject]:
    """JSON patch that puts back what gate_patch replaced, exactly."""
    metadata = daemonset.get("metadata") or {}
    # Ours alone: the whole map goes, as gate_patch found none.
    only_ours = set(metadata.get("annotations") or {}) == {CUTOVER_ANNOTATION}
    annotation = _pointer("metadata", "annotations", *(() if only_ours else (CUTOVER_ANNOTATION,)))
    ops: list[JsonObject] = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": metadata.get("resourceVersion"),
        },
        {"op": "remove", "path": annotation},
    ]
    if saved.update_strategy is None:
        ops.append({"op": "remove", "path": "/spec/updateStrategy"})
    else:
        ops.append({"op": "add", "path": "/spec/updateStrategy", "value": saved.update_strategy})
    if saved.affinity is None:
        ops.append({"op": "remove", "path": "/spec/template/spec/affinity"})
    else:
        ops.append({"op": "add", "path": "/spec/template/spec/affinity", "value": saved.affinity})
    return ops


def deployment_gate(deployment: Mapping[str, Any]) -> Gate | None:
    """The gate the Deployment's template excludes (`<key> NotIn [daemonset]` in every
    required node affinity term), or None: without it, its pods would join the DaemonSet's."""
    pod = (((deployment.get("spec") or {}).get("template") or {}).get("spec")) or {}
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get(_REQUIRED) or {}
    terms = required.get("nodeSelectorTerms") or []
    keys: set[str] | None = None
    for term in terms:
        found = {
            e.get("key")
            for e in term.get("matchExpressions") or []
            if e.get("operator") == "NotIn" and "daemonset" in (e.get("values") or [])
        }
        keys = found if keys is None else keys & found
    if not keys or len(keys) != 1:
        return None
    (key,) = keys
    return Gate(str(key))


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector object as a `labelSelector=` query value."""
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise CutoverError(f"selector operator {operator!r} is not a label selector operator")
    return ",".join(parts)


# --- nodes and their agents ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentPod:
    name: str
    node: str
    daemon: bool  # the DaemonSet's (controller owner reference), else the Deployment's
    ready: bool  # Ready condition True and not being deleted

    @classmethod
    def of(cls, pod: Mapping[str, Any], daemonset_uid: str) -> AgentPod | None:
        """The agent pod a pod is, or None when it is neither the DaemonSet's nor the
        Deployment's (a pod the DaemonSet's selector also matches)."""
        metadata = pod.get("metadata") or {}
        owners = metadata.get("ownerReferences") or []
        daemon = any(o.get("uid") == daemonset_uid and o.get("controller") for o in owners)
        if not daemon and OWN_POD_LABEL not in (metadata.get("labels") or {}):
            return None
        status = pod.get("status") or {}
        ready = metadata.get("deletionTimestamp") is None and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        node = (pod.get("spec") or {}).get("nodeName") or ""
        return cls(str(metadata.get("name")), node, daemon, ready)


@dataclass(frozen=True, slots=True)
class NodeAgents:
    name: str
    gated: bool  # labelled <gate>=daemonset: the DaemonSet's
    pods: tuple[AgentPod, ...]

    @property
    def served(self) -> bool:
        """One agent pod on it is Ready."""
        return any(p.ready for p in self.pods)

    def settled(self, on_daemonset: bool, needs_agent: bool) -> bool:
        """The node is where the step sent it: only the wanted side's pods on it, one of
        them Ready if the node had an agent before the step."""
        if self.gated != on_daemonset or any(p.daemon != on_daemonset for p in self.pods):
            return False
        return self.served or not needs_agent


def nodes_with_agents(
    nodes: Iterable[Mapping[str, Any]], pods: Iterable[AgentPod], gate: Gate
) -> list[NodeAgents]:
    by_node: dict[str, list[AgentPod]] = {}
    for pod in pods:
        by_node.setdefault(pod.node, []).append(pod)
    result = []
    for node in nodes:
        metadata = node.get("metadata") or {}
        name = str(metadata.get("name"))
        gated = (metadata.get("labels") or {}).get(gate.key) == gate.value
        result.append(NodeAgents(name, gated, tuple(by_node.get(name, ()))))
    return sorted(result, key=lambda n: n.name)


def to_move(nodes: Sequence[NodeAgents], reverse: bool) -> list[str]:
    """The nodes still on the side the cutover moves away from (gated ones forward,
    ungated ones in reverse), in name order."""
    return [n.name for n in nodes if n.gated != reverse]


def next_batch(nodes: Sequence[NodeAgents], reverse: bool, size: int) -> list[NodeAgents]:
    """What to move next: every pending node without an agent pod at once (there is nothing
    to hand over: the DaemonSet does not run there), else `size` nodes in name order."""
    pending = [n for n in nodes if n.gated != reverse]
    empty = [n for n in pending if not n.pods]
    return empty or pending[:size]


@dataclass(frozen=True, slots=True)
class Progress:
    on_daemonset: int
    on_deployment: int
    without_agent: int  # nodes with an agent pod, none of them Ready

    def __str__(self) -> str:
        return (
            f"{self.on_deployment} nodes on the Deployment, {self.on_daemonset} on the "
            f"DaemonSet, {self.without_agent} with an agent pod not Ready"
        )


def progress(nodes: Sequence[NodeAgents]) -> Progress:
    return Progress(
        on_daemonset=sum(n.gated for n in nodes),
        on_deployment=sum(not n.gated for n in nodes),
        without_agent=sum(bool(n.pods) and not n.served for n in nodes),
    )
