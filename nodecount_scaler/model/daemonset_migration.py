"""From a DaemonSet to the Deployment that does the same job here: what to write, and why.

Input: a DaemonSet object (decoded JSON, from a manifest or the API server) and a few
choices (the Deployment's name, the cutover gate's label key, a PodDisruptionBudget).
Output: the Deployment (and PDB), each change marked with the reason a reader needs, and
the plain-English differences: what a Deployment cannot carry over from a DaemonSet.

What the DaemonSet controller does on its own and the Deployment must say explicitly, read
in Kubernetes v1.37.2 (pkg/controller/daemon; the same from v1.34.4 on):

- `util.AddOrUpdateDaemonPodTolerations`, called by `CreatePodTemplate` for every pod it
  creates and by `NewPod` for every node it evaluates (`NodeShouldRunDaemonPod`), adds six
  tolerations (seven for hostNetwork pods) with `AddOrUpdateTolerationInPodSpec`: a template
  toleration with the same key, operator, value and effect is replaced (a tolerationSeconds
  is dropped), an identical one leaves the list as it was.
- One pod per node: the controller creates one pod per node it selects; a Deployment
  needs required pod anti-affinity on kubernetes.io/hostname against its own pods.
- The DaemonSet's rollout replaces pods node by node (maxUnavailable, optionally maxSurge on
  the same node); a Deployment's surge pod would have no node to go to, so maxSurge is 0.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nodecount_scaler.model.cpa_migration import MigrationError
from nodecount_scaler.model.display import shortened
from nodecount_scaler.model.keys import ENABLED, PREFIX
from nodecount_scaler.model.placement import TemplateError, placement_from_pod_spec
from nodecount_scaler.model.selector import label_key_problem

JsonObject = dict[str, Any]
Path = tuple[str | int, ...]

K8S_VERSION: Final = "v1.37.2"
HOSTNAME: Final = "kubernetes.io/hostname"
# Cluster Autoscaler counts a pod with this annotation as a DaemonSet pod (IsDaemonSetPod in
# cluster-autoscaler/utils/pod/pod.go): it does not block a node's scale-down.
CLUSTER_AUTOSCALER_DAEMONSET_POD: Final = "cluster-autoscaler.kubernetes.io/daemonset-pod"
# On the Deployment's pods only: selects them and not the DaemonSet's, which carry every
# other label of the template too.
OWN_POD_LABEL: Final = PREFIX + "replaces-daemonset"
GATE_PREFIX: Final = "cutover." + PREFIX
# A node labelled <gate key>=daemonset keeps its DaemonSet pod; a node without it is the
# Deployment's.
GATE_DAEMONSET: Final = "daemonset"
_LABEL_VALUE: Final = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_DNS1123_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_PERCENT: Final = re.compile(r"(?:0|[1-9][0-9]{0,2})%")
_TEMPLATE: Final = ("spec", "template")
_POD: Final = (*_TEMPLATE, "spec")


@dataclass(frozen=True, slots=True)
class AutomaticToleration:
    """One toleration AddOrUpdateDaemonPodTolerations adds, and what it is for."""

    key: str
    effect: str
    why: str
    host_network_only: bool = False

    def toleration(self) -> JsonObject:
        return {"key": self.key, "operator": "Exists", "effect": self.effect}


# In the order daemonset_util.go adds them.
AUTOMATIC_TOLERATIONS: Final = (
    AutomaticToleration(
        "node.kubernetes.io/not-ready",
        "NoExecute",
        "keeps the pod on a NotReady node with no time limit (DefaultTolerationSeconds "
        "would evict it after 300 s)",
    ),
    AutomaticToleration(
        "node.kubernetes.io/unreachable",
        "NoExecute",
        "keeps the pod on an unreachable node with no time limit (DefaultTolerationSeconds "
        "would evict it after 300 s)",
    ),
    AutomaticToleration(
        "node.kubernetes.io/disk-pressure", "NoSchedule", "runs on a node under disk pressure"
    ),
    AutomaticToleration(
        "node.kubernetes.io/memory-pressure", "NoSchedule", "runs on a node under memory pressure"
    ),
    AutomaticToleration(
        "node.kubernetes.io/pid-pressure", "NoSchedule", "runs on a node under PID pressure"
    ),
    AutomaticToleration(
        "node.kubernetes.io/unschedulable",
        "NoSchedule",
        "runs on, and is started on, a cordoned node",
    ),
    AutomaticToleration(
        "node.kubernetes.io/network-unavailable",
        "NoSchedule",
        "starts on a node whose pod network is not set up yet (hostNetwork pods only)",
        host_network_only=True,
    ),
)


@dataclass(frozen=True, slots=True)
class DaemonSetOptions:
    name: str | None = None  # the Deployment's name; None: the DaemonSet's
    gate_key: str | None = None  # the cutover gate's node label key; None: derived
    pdb_max_unavailable: str | None = None  # "1" or "10%"; None: no PodDisruptionBudget


@dataclass(frozen=True, slots=True)
class Mark:
    """A reason shown next to one value of the output: `path` leads to it from the top."""

    path: Path
    comment: str


@dataclass(frozen=True, slots=True)
class Marked:
    obj: JsonObject
    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class Gate:
    """The node label that splits the nodes between the DaemonSet and the Deployment while
    the cutover lasts: key=daemonset keeps the DaemonSet's pod."""

    key: str
    value: str = GATE_DAEMONSET

    def deployment_requirement(self) -> JsonObject:
        return {"key": self.key, "operator": "NotIn", "values": [self.value]}

    def daemonset_requirement(self) -> JsonObject:
        return {"key": self.key, "operator": "In", "values": [self.value]}


@dataclass(frozen=True, slots=True)
class DaemonSetMigration:
    namespace: str | None
    daemonset: str
    deployment: Marked
    pdb: Marked | None
    gate: Gate
    differences: tuple[str, ...]


def default_gate_key(namespace: str | None, name: str) -> str:
    """cutover.nodecount-scaler.io/<namespace>.<name>, or a digest of both when that is not
    a label name (63 characters at most)."""
    wanted = f"{namespace}.{name}" if namespace else name
    if len(wanted) <= 63 and label_key_problem(GATE_PREFIX + wanted) is None:
        return GATE_PREFIX + wanted
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:16]
    return f"{GATE_PREFIX}ds-{digest}"


def own_pod_label_value(name: str) -> str:
    """The Deployment's name as a label value (63 characters at most, else name start and
    a digest)."""
    if _LABEL_VALUE.fullmatch(name) and len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[:50].rstrip('-.')}-{digest}"


# --- reading the DaemonSet ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    namespace: str | None
    name: str
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    spec: Mapping[str, Any]
    template: Mapping[str, Any]
    pod: Mapping[str, Any]
    selector: Mapping[str, Any]


def _read(ds: Mapping[str, Any]) -> _Source | list[MigrationError]:
    if ds.get("kind") != "DaemonSet":
        return [MigrationError("kind", shortened(str(ds.get("kind"))), "not a DaemonSet")]
    metadata = ds.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    errors: list[MigrationError] = []
    if not isinstance(name, str) or not name:
        errors.append(MigrationError("metadata.name", shortened(str(name)), "missing"))
    if namespace is not None and not isinstance(namespace, str):
        errors.append(MigrationError("metadata.namespace", shortened(str(namespace)), "not text"))
    spec = _object(ds, ("spec",), errors)
    template = _object(ds, _TEMPLATE, errors)
    pod = _object(ds, _POD, errors)
    selector = _object(ds, ("spec", "selector"), errors)
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append(MigrationError("spec.template.spec.containers", "", "missing"))
    if errors:
        return errors
    assert isinstance(name, str)
    return _Source(
        namespace or None,
        name,
        _dict(metadata.get("labels")),
        _dict(metadata.get("annotations")),
        spec,
        template,
        pod,
        selector,
    )


def _object(root: Mapping[str, Any], path: Path, errors: list[MigrationError]) -> JsonObject:
    value: Any = root
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        where = ".".join(str(p) for p in path)
        errors.append(MigrationError(where, shortened(str(value)), "missing or not an object"))
        return {}
    return value


def _dict(value: object) -> JsonObject:
    return dict(value) if isinstance(value, dict) else {}


# --- tolerations ------------------------------------------------------------------------------


def _normal(toleration: Mapping[str, Any]) -> JsonObject:
    """A toleration without its empty fields: "" and null read as absent, as in Go."""
    return {k: v for k, v in toleration.items() if v not in ("", None)}


def _same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Toleration.MatchToleration: the same key, effect, operator and value."""
    return all((a.get(f) or "") == (b.get(f) or "") for f in _MATCHED)


_MATCHED: Final = ("key", "effect", "operator", "value")


def with_daemon_tolerations(
    tolerations: Sequence[Mapping[str, Any]], host_network: bool
) -> tuple[list[JsonObject], dict[int, str]]:
    """The template's tolerations as AddOrUpdateDaemonPodTolerations leaves them, and a
    comment for each position the controller's tolerations take."""
    result = [dict(t) for t in tolerations]
    notes: dict[int, str] = {}
    for auto in AUTOMATIC_TOLERATIONS:
        if auto.host_network_only and not host_network:
            continue
        wanted = auto.toleration()
        matches = [i for i, t in enumerate(result) if _same_toleration(t, wanted)]
        same = [i for i in matches if _normal(result[i]) == wanted]
        if same:  # AddOrUpdateTolerationInPodSpec returns early: the list stays as it is
            notes.setdefault(same[0], f"the DaemonSet controller adds this one too: {auto.why}")
            continue
        for i in matches:
            seconds = result[i].get("tolerationSeconds")
            notes[i] = (
                f"the DaemonSet controller puts this in place of the template's own "
                f"(tolerationSeconds {seconds}): it {auto.why}"
            )
            result[i] = wanted
        if not matches:
            result.append(wanted)
            notes[len(result) - 1] = (
                f"added by the DaemonSet controller to every daemon pod "
                f"(AddOrUpdateDaemonPodTolerations): it {auto.why}"
            )
    return result, notes


# --- affinity -----------------------------------------------------------------------------------

_REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"
_GATE_NOTE: Final = (
    "cutover gate: a node labelled {key}={value} keeps the DaemonSet's pod, the others are "
    "this Deployment's; `nodecount-scaler cutover` moves nodes by removing the label. Once "
    "no node carries it, this requirement holds everywhere and can stay."
)
_PIN_NOTE: Final = (
    "was the template's nodeName {node!r}: a Deployment pod with nodeName set skips the "
    "scheduler (no anti-affinity or taint check), so the pin is a node affinity here"
)
_ANTI_NOTE: Final = (
    "one pod per node: required anti-affinity on kubernetes.io/hostname against this "
    "Deployment's own pods only (by their nodecount-scaler.io/replaces-daemonset label, which "
    "the DaemonSet's pods lack: the two hand a node over during the cutover)"
)


def _node_affinity(
    affinity: Mapping[str, Any], gate: Gate, node_name: str
) -> tuple[JsonObject, dict[Path, str]]:
    """The required node affinity with the gate (and a template nodeName) in every term."""
    node_affinity = _dict(affinity.get("nodeAffinity"))
    required = node_affinity.get(_REQUIRED)
    raw_terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    terms = [dict(t) for t in raw_terms if isinstance(t, dict)] if raw_terms is not None else [{}]
    marks: dict[Path, str] = {}
    for i, term in enumerate(terms):
        expressions = [*term.get("matchExpressions", ()), gate.deployment_requirement()]
        term["matchExpressions"] = expressions
        note = _GATE_NOTE.format(key=gate.key, value=gate.value) if i == 0 else "cutover gate"
        marks[(i, "matchExpressions", len(expressions) - 1)] = note
        if node_name:
            pin = {"key": "metadata.name", "operator": "In", "values": [node_name]}
            term["matchFields"] = [*term.get("matchFields", ()), pin]
            marks[(i, "matchFields", len(term["matchFields"]) - 1)] = _PIN_NOTE.format(
                node=node_name
            )
    required_out = dict(required) if isinstance(required, dict) else {}
    required_out["nodeSelectorTerms"] = terms
    node_affinity[_REQUIRED] = required_out
    return node_affinity, marks


def _affinity(
    pod: Mapping[str, Any], gate: Gate, own_label: str
) -> tuple[JsonObject, dict[Path, str]]:
    affinity = copy.deepcopy(_dict(pod.get("affinity")))
    node_name = pod.get("nodeName") if isinstance(pod.get("nodeName"), str) else ""
    node_affinity, node_marks = _node_affinity(affinity, gate, node_name or "")
    affinity["nodeAffinity"] = node_affinity
    anti = _dict(affinity.get("podAntiAffinity"))
    terms = [t for t in anti.get(_REQUIRED, ()) if isinstance(t, dict)]
    terms.append(
        {"labelSelector": {"matchLabels": {OWN_POD_LABEL: own_label}}, "topologyKey": HOSTNAME}
    )
    anti[_REQUIRED] = terms
    affinity["podAntiAffinity"] = anti
    base = ("affinity", "nodeAffinity", _REQUIRED, "nodeSelectorTerms")
    marks = {(*base, *path): note for path, note in node_marks.items()}
    marks[("affinity", "podAntiAffinity", _REQUIRED, len(terms) - 1)] = _ANTI_NOTE
    return affinity, marks


# --- rollout ------------------------------------------------------------------------------------


def _is_zero(value: object) -> bool:
    return value in (0, "0%") or value is None


def _strategy(spec: Mapping[str, Any]) -> tuple[JsonObject, list[str]]:
    """maxSurge 0 and the DaemonSet's maxUnavailable, with what changes."""
    update = _dict(spec.get("updateStrategy"))
    rolling = _dict(update.get("rollingUpdate"))
    kind = update.get("type") or "RollingUpdate"
    unavailable: object = rolling.get("maxUnavailable", 1) if kind == "RollingUpdate" else 1
    notes: list[str] = []
    if kind == "OnDelete":
        notes.append(_ON_DELETE)
    surge = rolling.get("maxSurge")
    if kind == "RollingUpdate" and not _is_zero(surge):
        notes.append(_SURGE.format(surge=surge))
    if _is_zero(unavailable):
        unavailable = 1
        notes.append(_NO_UNAVAILABLE)
    if isinstance(unavailable, str) and unavailable.endswith("%"):
        notes.append(_PERCENT_NOTE.format(value=unavailable))
    rolling_out = {"maxSurge": 0, "maxUnavailable": unavailable}
    return {"type": "RollingUpdate", "rollingUpdate": rolling_out}, notes


_STRATEGY_NOTE: Final = (
    "maxSurge 0: a surge pod would have no node to go to (every eligible node already has "
    "one), and the rollout would stall; maxUnavailable is the DaemonSet's"
)
_ON_DELETE: Final = (
    "OnDelete: a Deployment has no such strategy; a template change rolls out at once, "
    "maxUnavailable pods at a time. `kubectl rollout pause deployment/<name>` holds a "
    "rollout while you change the template, `kubectl rollout resume` lets it go."
)
_SURGE: Final = (
    "maxSurge {surge}: the DaemonSet starts the new pod on a node before it stops the old one "
    "there; a Deployment cannot (the surge pod would need another node), so each rollout "
    "replaces a node's pod with a gap, maxUnavailable nodes at a time."
)
_NO_UNAVAILABLE: Final = (
    "maxUnavailable 0 (with surge) is not possible with maxSurge 0: the Deployment's "
    "maxUnavailable is 1."
)
_PERCENT_NOTE: Final = (
    "maxUnavailable {value}: the DaemonSet rounds a percentage up, a Deployment rounds it "
    "down (at least 1 when maxSurge is 0), so some rollouts take fewer pods at a time."
)


# --- what does not carry over -----------------------------------------------------------------

_STATUS: Final = (
    "Status: tools that read the DaemonSet's status (desiredNumberScheduled, numberReady, "
    "numberUnavailable, updatedNumberScheduled: kube-state-metrics' kube_daemonset_* series "
    "and the alerts built on them, `kubectl rollout status daemonset/...`, Helm's --wait) must "
    "read the Deployment's (replicas, readyReplicas, availableReplicas, updatedReplicas). "
    "desiredNumberScheduled becomes nodecount-scaler's eligible count: the metric "
    "nodecount_scaler_eligible_nodes, and `nodecount-scaler plan`."
)
_HISTORY: Final = (
    "Rollback history: the DaemonSet's revisions (`kubectl rollout history/undo daemonset`) "
    "stay with the DaemonSet and go when it is deleted; the Deployment starts its own history "
    "at revision 1."
)
_QUEUE: Final = (
    "Scheduling: the DaemonSet controller picks each pod's node itself and creates the pod "
    "tied to it (node affinity on metadata.name); the Deployment's pods are placed by "
    "kube-scheduler on any counted node that has none yet. kube-scheduler orders its queue "
    f"by pod priority, then age (PrioritySort, {K8S_VERSION}), with no rule for DaemonSet "
    "pods, so to have agents placed (and preempt) before ordinary pods, give the template a "
    "priorityClassName such as system-node-critical: it carries over with the template."
)
_NOT_READY: Final = (
    "NotReady nodes: the DaemonSet keeps its pod on a NotReady node, and so does the "
    "Deployment (the not-ready and unreachable tolerations), but nodecount-scaler stops "
    "counting the node --unready-grace (30 s) after it turns NotReady and removes one "
    "replica, the pod on that node (--pod-deletion-cost, on by default); it comes back with "
    "the node. The DaemonSet's desiredNumberScheduled leaves such a node out too, once the "
    "node lifecycle controller has tainted it."
)
_DRAIN: Final = (
    "Drains: `kubectl drain --ignore-daemonsets` skips DaemonSet pods; it evicts the "
    "Deployment's pod (within its PodDisruptionBudget), and since the pod tolerates the "
    "cordon, its replacement may start on the drained node again, as a DaemonSet pod would."
)
_TIMED_NO_EXECUTE: Final = (
    "A NoExecute toleration with tolerationSeconds ({keys}): the DaemonSet counts a node "
    "with that taint and recreates the pod each time it is evicted; nodecount-scaler does "
    "not count such a node (a pod there would be evicted), so the Deployment has no pod there."
)
_DROPPED_ANNOTATIONS: Final = (
    "The DaemonSet's own annotations ({keys}) are not copied: tools put theirs there "
    "(kubectl's last-applied configuration, Helm's release, the template generation)."
)
_REPLICAS: Final = (
    "spec.replicas is left out: nodecount-scaler owns it, and a value here would be reset by "
    "every `kubectl apply` of this file. `nodecount-scaler cutover` creates the Deployment "
    "at 0 replicas after gating the nodes."
)


def _timed_no_execute(tolerations: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = [
        str(t.get("key") or "(every key)")
        for t in tolerations
        if t.get("tolerationSeconds") is not None and t.get("effect") == "NoExecute"
    ]
    return [_TIMED_NO_EXECUTE.format(keys=", ".join(dict.fromkeys(keys)))] if keys else []


def _differences(
    source: _Source, strategy_notes: Sequence[str], tolerations: Sequence[Mapping[str, Any]]
) -> tuple[str, ...]:
    notes = [_REPLICAS, *strategy_notes]
    notes += _timed_no_execute(tolerations)
    if isinstance(source.pod.get("nodeName"), str) and source.pod["nodeName"]:
        notes.append(
            "Template nodeName: moved into the required node affinity (metadata.name In); "
            "a Deployment pod created with nodeName would skip the scheduler and its checks."
        )
    if source.annotations:
        keys = ", ".join(sorted(source.annotations))
        notes.append(_DROPPED_ANNOTATIONS.format(keys=shortened(keys, 200)))
    notes += [_NOT_READY, _DRAIN, _QUEUE, _STATUS, _HISTORY]
    return tuple(notes)


# --- the objects --------------------------------------------------------------------------------

_ENABLED_NOTE: Final = (
    "nodecount-scaler keeps replicas equal to the number of nodes where one pod of this "
    "template can run: what the DaemonSet's desiredNumberScheduled counted"
)
_OWN_LABEL_NOTE: Final = (
    "on this Deployment's pods only: the selector and the anti-affinity use it, so neither "
    "matches the DaemonSet's pods, which carry every other label of the template"
)
_AUTOSCALER_NOTE: Final = (
    "Cluster Autoscaler treats the pod as a DaemonSet pod: it does not block a node's "
    "scale-down (a pod on every node would block every one)"
)


def _template(
    source: _Source, gate: Gate, own_label: str
) -> tuple[JsonObject, dict[Path, str], list[JsonObject]]:
    """The pod template with its marks (paths from the template) and final tolerations."""
    metadata = _dict(source.template.get("metadata"))
    labels = {**_dict(metadata.get("labels")), OWN_POD_LABEL: own_label}
    annotations = {**_dict(metadata.get("annotations")), CLUSTER_AUTOSCALER_DAEMONSET_POD: "true"}
    pod = copy.deepcopy(dict(source.pod))
    pod.pop("nodeName", None)
    raw = [t for t in pod.get("tolerations") or () if isinstance(t, dict)]
    tolerations, toleration_notes = with_daemon_tolerations(raw, pod.get("hostNetwork") is True)
    pod["tolerations"] = tolerations
    affinity, affinity_marks = _affinity(source.pod, gate, own_label)
    pod["affinity"] = affinity
    marks: dict[Path, str] = {
        ("metadata", "labels", OWN_POD_LABEL): _OWN_LABEL_NOTE,
        ("metadata", "annotations", CLUSTER_AUTOSCALER_DAEMONSET_POD): _AUTOSCALER_NOTE,
    }
    marks.update({("spec", "tolerations", i): note for i, note in toleration_notes.items()})
    marks.update({("spec", *path): note for path, note in affinity_marks.items()})
    template = {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}
    return template, marks, tolerations


def _deployment(
    source: _Source, name: str, gate: Gate
) -> tuple[Marked, tuple[str, ...], JsonObject]:
    own_label = own_pod_label_value(name)
    template, template_marks, tolerations = _template(source, gate, own_label)
    strategy, strategy_notes = _strategy(source.spec)
    selector = copy.deepcopy(dict(source.selector))
    selector["matchLabels"] = {**_dict(selector.get("matchLabels")), OWN_POD_LABEL: own_label}
    metadata: JsonObject = {"name": name}
    if source.namespace:
        metadata["namespace"] = source.namespace
    if source.labels:
        metadata["labels"] = dict(source.labels)
    metadata["annotations"] = {ENABLED.key: "true"}
    spec: JsonObject = {"selector": selector, "strategy": strategy}
    for field in ("minReadySeconds", "revisionHistoryLimit"):
        if field in source.spec:
            spec[field] = source.spec[field]
    spec["template"] = template
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
    marks = [
        Mark(("metadata", "annotations", ENABLED.key), _ENABLED_NOTE),
        Mark(("spec", "selector", "matchLabels", OWN_POD_LABEL), _OWN_LABEL_NOTE),
        Mark(("spec", "strategy", "rollingUpdate"), _STRATEGY_NOTE),
        *(Mark((*_TEMPLATE, *path), note) for path, note in template_marks.items()),
    ]
    differences = _differences(source, strategy_notes, tolerations)
    return Marked(obj, tuple(marks)), differences, selector


def _pdb(source: _Source, name: str, selector: JsonObject, max_unavailable: str) -> Marked:
    value: int | str = int(max_unavailable) if max_unavailable.isdigit() else max_unavailable
    metadata: JsonObject = {"name": name}
    if source.namespace:
        metadata["namespace"] = source.namespace
    spec = {
        "maxUnavailable": value,
        "selector": selector,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata}
    obj["spec"] = spec
    marks = (
        Mark(
            ("spec", "maxUnavailable"),
            "voluntary evictions (kubectl drain, node upgrades) take at most this many agents "
            "at a time",
        ),
        Mark(
            ("spec", "unhealthyPodEvictionPolicy"),
            "an agent that is not Ready (a broken node) never blocks a drain elsewhere",
        ),
    )
    return Marked(obj, marks)


def _option_errors(options: DaemonSetOptions, name: str, gate_key: str) -> list[MigrationError]:
    errors: list[MigrationError] = []
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        errors.append(MigrationError("--name", shortened(name), "not a valid Deployment name"))
    problem = label_key_problem(gate_key)
    if problem is not None:
        errors.append(MigrationError("--gate-label", shortened(gate_key), problem))
    pdb = options.pdb_max_unavailable
    if pdb is not None and not (
        (pdb.isdigit() and len(pdb) <= 9) or (_PERCENT.fullmatch(pdb) and int(pdb[:-1]) <= 100)
    ):
        problem = "expected a whole number or a percentage such as 10%"
        errors.append(MigrationError("--pdb", shortened(pdb), problem))
    return errors


def translate_daemonset(
    ds: Mapping[str, Any], options: DaemonSetOptions = DaemonSetOptions()
) -> tuple[DaemonSetMigration | None, tuple[MigrationError, ...]]:
    """The Deployment (and PDB) that replace the DaemonSet `ds`, or every problem found."""
    source = _read(ds)
    if isinstance(source, list):
        return None, tuple(source)
    name = options.name or source.name
    gate = Gate(options.gate_key or default_gate_key(source.namespace, source.name))
    errors = _option_errors(options, name, gate.key)
    if errors:
        return None, tuple(errors)
    deployment, differences, selector = _deployment(source, name, gate)
    try:  # the service must be able to read what it is given
        placement_from_pod_spec(deployment.obj["spec"]["template"]["spec"])
    except TemplateError as exc:
        return None, (MigrationError(exc.field, "", exc.problem),)
    pdb = options.pdb_max_unavailable
    return DaemonSetMigration(
        namespace=source.namespace,
        daemonset=source.name,
        deployment=deployment,
        pdb=None if pdb is None else _pdb(source, name, selector, pdb),
        gate=gate,
        differences=differences,
    ), ()
