"""The view of an opted-in workload (a target) and its projection from JSON.

Besides configuration and placement, the projection records template findings: shapes of
the pod template under which "replicas == eligible nodes" does not mean one pod per node,
or under which a rollout cannot finish (docs/eligibility.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, NamedTuple

import orjson

from nodecount_scaler.limits import PROJECTION_MEMO_ENTRIES
from nodecount_scaler.model.annotations import TargetConfig, parse_config
from nodecount_scaler.model.keys import INCLUDE_UNSCHEDULABLE_NODES, AnnotationError
from nodecount_scaler.model.kinds import DEPLOYMENT, WorkloadKind, shown_name
from nodecount_scaler.model.numbers import NumberError, parse_int
from nodecount_scaler.model.objects import (
    ProjectionError,
    ShapeError,
    items,
    mapping,
    nested,
    object_name,
    string,
    string_map,
)
from nodecount_scaler.model.placement import PodPlacement, TemplateError, placement_from_pod_spec
from nodecount_scaler.model.selector import (
    LabelSelector,
    SelectorError,
    selector_from_label_selector,
)
from nodecount_scaler.model.tally import HOSTNAME_KEY, NODES, Topology

DEFAULT_MAX_SURGE: Final = "25%"


class TargetKey(NamedTuple):
    namespace: str
    name: str
    kind: str = DEPLOYMENT.kind

    def __str__(self) -> str:
        return f"{self.namespace}/{shown_name(self.kind, self.name)}"


class FindingKind(enum.StrEnum):
    NO_SPREAD_CONSTRAINT = "NoSpreadConstraint"
    ROLLOUT_WOULD_STALL = "RolloutWouldStall"
    # Eligible nodes lack the topology key: the scheduler ignores an anti-affinity term on
    # such a node, so several replicas can land there and leave a domain without one.
    NODES_WITHOUT_TOPOLOGY_KEY = "NodesWithoutTopologyKey"
    # A StatefulSet scale-down removes the highest ordinals, not the pods on leaving nodes.
    SCALE_DOWN_BY_ORDINAL = "ScaleDownByOrdinal"
    # A counted topology domain holds no pod of the target while another holds several (a
    # node relabelled into another domain took its pod along): nothing will move one.
    DOMAIN_WITHOUT_POD = "DomainWithoutPod"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    message: str


@dataclass(frozen=True, slots=True)
class TargetView:
    key: TargetKey
    uid: str
    replicas: int
    config: TargetConfig | None
    placement: PodPlacement | None
    annotation_errors: tuple[AnnotationError, ...]
    template_error: str | None
    findings: tuple[Finding, ...]
    # spec.selector: how the target's own pods are found (for pod-deletion-cost).
    pod_selector: LabelSelector | None
    # What one replica stands for: a node, or a topology domain (one pod per zone).
    topology: Topology = NODES
    workload: WorkloadKind = DEPLOYMENT
    # The latest write of it the API server recorded (creationTimestamp, managedFields'
    # times; Unix seconds of the server's clock, whole seconds), None when none is given:
    # what proves at start-up that no HPA made with it can still be on its way
    # (model/state.py). Not part of what the view says: equal views may differ in it.
    written_at: float | None = field(default=None, compare=False)

    @property
    def valid(self) -> bool:
        return (
            self.config is not None and self.placement is not None and self.template_error is None
        )

    @property
    def problems(self) -> tuple[str, ...]:
        found = tuple(str(e) for e in self.annotation_errors)
        return found if self.template_error is None else (*found, self.template_error)


def project_target(
    obj: object, workload: WorkloadKind = DEPLOYMENT
) -> TargetView | ProjectionError:
    """Reduce an opted-in workload to its TargetView, or say why it is not one of its kind.

    Total: any JSON value gives one or the other. Whatever is wrong with the annotations
    or the pod template is recorded in the view (the target is shown, reported and left
    alone); only an object without a usable identity is a ProjectionError.
    """
    named = object_name(obj, workload.kind)
    if isinstance(named, ProjectionError):
        return named
    assert isinstance(obj, Mapping)
    try:
        metadata = mapping(obj, "metadata", "metadata")
        annotations = string_map(metadata, "annotations", "metadata.annotations")
        spec = mapping(obj, "spec", "spec")
        replicas = workload.replicas(obj)
        uid = string(metadata, "uid", "metadata.uid")
        raw_selector = mapping(spec, "selector", "spec.selector")
        if workload.selector_is_map:
            raw_selector = {"matchLabels": string_map(spec, "selector", "spec.selector")}
    except ShapeError as exc:
        return ProjectionError("bad-field", str(exc))
    key = TargetKey(*named, workload.kind)
    config, annotation_errors = parse_config(annotations)

    pod = _project_template(obj, workload, key.namespace, config, spec, replicas)
    if config is not None and config.include_unschedulable and pod.one_per_domain:
        config, annotation_errors = None, (_stranding(annotations, pod.topology),)

    pod_selector: LabelSelector | None
    try:
        pod_selector = selector_from_label_selector(raw_selector)
    except SelectorError:
        pod_selector = None

    return TargetView(
        key=key,
        uid=uid,
        replicas=replicas,
        config=config,
        placement=pod.placement,
        annotation_errors=annotation_errors,
        template_error=pod.error if workload.problem is None else workload.problem,
        findings=pod.findings,
        pod_selector=pod_selector,
        topology=pod.topology,
        workload=workload,
        written_at=last_write(metadata),
    )


def last_write(metadata: Mapping[str, Any]) -> float | None:
    """The latest of creationTimestamp and every managedFields entry's time: a manager's
    entry moves whenever it adds, changes or removes a field (an opt-in edit, say). None
    when there is no managedFields list (a client may clear it) or a time is unreadable:
    then nothing is known of the last write."""
    fields = metadata.get("managedFields")
    if not isinstance(fields, list):
        return None
    stamps = [metadata.get("creationTimestamp")]
    stamps += [e.get("time") for e in fields if isinstance(e, Mapping)]
    latest = 0.0
    for stamp in stamps:
        if not isinstance(stamp, str):
            return None
        try:
            when = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if when.tzinfo is None:
            return None
        latest = max(latest, when.timestamp())
    return latest


class _PodTemplatePart(NamedTuple):
    """What a target's pod template says, or why it cannot say it."""

    placement: PodPlacement | None = None
    findings: tuple[Finding, ...] = ()
    topology: Topology = NODES
    error: str | None = None
    one_per_domain: bool = False


def _stranding(annotations: Mapping[str, str], topology: Topology) -> AnnotationError:
    """include-unschedulable-nodes on a template that keeps one pod per node (or domain): a
    replica counted for a cordoned or NotReady node would have nowhere to go, Pending for
    as long as the node is out (CPA's includeUnschedulableNodes on such a target does that)."""
    unit = "node" if topology.per_node else ", ".join(topology.keys)
    problem = (
        f"would strand pods: the pod template keeps one pod per {unit}, so a replica counted "
        f"for a cordoned or NotReady {unit} would stay Pending; use it only on a target whose "
        "replicas are a scale signal (no one-per-node spread)"
    )
    key = INCLUDE_UNSCHEDULABLE_NODES.key
    return AnnotationError.of(key, annotations[key], problem)


def _project_template(
    obj: Mapping[str, Any],
    workload: WorkloadKind,
    namespace: str,
    config: TargetConfig | None,
    spec: Mapping[str, Any],
    replicas: int,
) -> _PodTemplatePart:
    try:
        template = _template(obj, workload)
        where = workload.template_where
        pod_spec = mapping(template, "spec", where + ".spec")
        pod_labels = string_map(
            mapping(template, "metadata", where + ".metadata"), "labels", where + ".metadata.labels"
        )
        placement = placement_from_pod_spec(pod_spec)
        anti_keys = self_anti_affinity_keys(pod_spec, pod_labels, namespace)
        topology = choose_topology(config.topology_key if config else None, anti_keys)
        # Only a kind that surges (a Deployment) adds pods in a rollout; others replace
        # them in place.
        surge = resolved_max_surge(spec, replicas) if workload.surges else 0
        findings = template_findings(
            pod_spec, pod_labels, surge=surge, anti_keys=anti_keys, topology=topology
        )
        spread = one_per_domain(pod_spec, pod_labels, anti_keys=anti_keys, topology=topology)
    except (ShapeError, TemplateError) as exc:
        return _PodTemplatePart(error=str(exc))
    return _PodTemplatePart(placement, findings, topology, one_per_domain=spread)


def _template(obj: Mapping[str, Any], workload: WorkloadKind) -> Mapping[str, Any]:
    """The pod template at the kind's path; a custom resource without one says so."""
    found = nested(obj, workload.template_path)
    if not found and not workload.builtin:
        raise TemplateError(workload.template_where, "no pod template at this path")
    return found


def choose_topology(annotation: str | None, anti_keys: frozenset[str]) -> Topology:
    """What a replica stands for. The annotation wins; else the keys of the template's
    required anti-affinity terms that select its own pods. Every such term must hold at
    once, so with several keys the count is the fewest domains (a zone holds many nodes:
    hostname and zone anti-affinity together mean one pod per zone). Hostname alone, or no
    term, counts nodes."""
    keys: tuple[str, ...]
    if annotation is not None:
        keys = () if annotation == HOSTNAME_KEY else (annotation,)
        return Topology(keys, "annotation") if keys else NODES
    keys = tuple(sorted(anti_keys - {HOSTNAME_KEY}))
    return Topology(keys, "anti-affinity") if keys else NODES


def one_per_domain(
    pod_spec: Mapping[str, Any],
    pod_labels: Mapping[str, str],
    *,
    anti_keys: frozenset[str],
    topology: Topology,
) -> bool:
    """Whether the template keeps to one pod per counted node (or domain): required
    anti-affinity on its own pods, or a hostname spread with maxSkew 1 and DoNotSchedule."""
    if topology.per_node:
        return HOSTNAME_KEY in anti_keys or has_hostname_spread(pod_spec, pod_labels)
    return set(topology.keys) <= anti_keys


def template_findings(
    pod_spec: Mapping[str, Any],
    pod_labels: Mapping[str, str],
    *,
    surge: int,
    anti_keys: frozenset[str],
    topology: Topology,
) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    unit = "node" if topology.per_node else ", ".join(topology.keys)
    if not one_per_domain(pod_spec, pod_labels, anti_keys=anti_keys, topology=topology):
        if topology.per_node:
            missing = (
                f"neither required podAntiAffinity on {HOSTNAME_KEY} nor a {HOSTNAME_KEY} "
                "topologySpreadConstraint with maxSkew 1 and DoNotSchedule"
            )
        else:
            missing = f"no required podAntiAffinity on {unit} that selects its own pods"
        findings.append(
            Finding(
                FindingKind.NO_SPREAD_CONSTRAINT,
                f"the pod template has {missing}: replicas == eligible {unit} count does not "
                f"mean one pod per {unit}",
            )
        )
    if anti_keys and surge > 0:
        findings.append(
            Finding(
                FindingKind.ROLLOUT_WOULD_STALL,
                f"RollingUpdate maxSurge resolves to {surge} with required anti-affinity on "
                f"{', '.join(sorted(anti_keys))}: the surge pod fits in no domain, so the "
                "rollout stalls unless maxUnavailable lets an old pod go first "
                "(kubernetes/kubernetes#116891); use maxSurge: 0 and maxUnavailable: 1",
            )
        )
    return tuple(findings)


def self_anti_affinity_keys(
    pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str], namespace: str
) -> frozenset[str]:
    """Topology keys of the required podAntiAffinity terms that select the template's own
    pods (so two replicas cannot share a domain of that key)."""
    where = "spec.template.spec.affinity.podAntiAffinity"
    anti = mapping(mapping(pod_spec, "affinity", "affinity"), "podAntiAffinity", where)
    terms = items(anti, "requiredDuringSchedulingIgnoredDuringExecution", where + ".required")
    keys: set[str] = set()
    for term in terms:
        key = term.get("topologyKey")
        if not isinstance(key, str) or not key:
            continue
        namespaces = term.get("namespaces") or ()
        # Without namespaces or namespaceSelector a term applies to the pod's own namespace.
        if (
            namespaces
            and (not isinstance(namespaces, list) or namespace not in namespaces)
            and term.get("namespaceSelector") is None
        ):
            continue
        if _selects(term.get("labelSelector"), pod_labels):
            keys.add(key)
    return frozenset(keys)


def has_hostname_spread(pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str]) -> bool:
    where = "spec.template.spec.topologySpreadConstraints"
    for constraint in items(pod_spec, "topologySpreadConstraints", where):
        if (
            constraint.get("topologyKey") == HOSTNAME_KEY
            and constraint.get("maxSkew") == 1
            and constraint.get("whenUnsatisfiable") == "DoNotSchedule"
            and _selects(constraint.get("labelSelector"), pod_labels)
        ):
            return True
    return False


def _selects(raw_selector: object, pod_labels: Mapping[str, str]) -> bool:
    # A nil labelSelector in a pod affinity term or spread constraint selects no pods.
    if not isinstance(raw_selector, Mapping):
        return False
    try:
        return selector_from_label_selector(raw_selector).matches(pod_labels)
    except SelectorError:
        return False


def resolved_max_surge(spec: Mapping[str, Any], replicas: int) -> int:
    """maxSurge as the Deployment controller resolves it (percentages round up)."""
    strategy = mapping(spec, "strategy", "spec.strategy")
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    raw = mapping(strategy, "rollingUpdate", "spec.strategy.rollingUpdate").get(
        "maxSurge", DEFAULT_MAX_SURGE
    )
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw) if isinstance(raw, str) else ""
    if text.endswith("%"):
        percent = parse_int(text[:-1])
        # An IntOrString the API server accepted; anything else cannot surge.
        return 0 if isinstance(percent, NumberError) else math.ceil(percent * replicas / 100)
    value = parse_int(text)
    return 0 if isinstance(value, NumberError) else value


@dataclass(frozen=True, slots=True)
class _Memo:
    """What a TargetView was projected from (besides name and namespace): the uid, a digest
    of the annotations, selector, template and strategy, and replicas. A digest, not the
    decoded dicts: those would keep every target's whole pod template alive as Python
    objects (tens of KiB for a plain one) for as long as it is watched."""

    uid: object
    digest: bytes
    replicas: object
    view: TargetView


def _digest(*parts: object) -> bytes:
    """A digest of JSON values (orjson keeps a dict's key order, which is the order the API
    server writes them in, so equal objects from the API give equal bytes)."""
    try:
        encoded = orjson.dumps(parts)
    except TypeError:
        encoded = repr(parts).encode()
    return hashlib.blake2b(encoded, digest_size=16).digest()


class TargetProjector:
    """project_target with a memo per target, for the watch of one kind.

    Most versions of a target differ from the previous one only in status (the workload's
    controller reports progress) or in its replicas (this service's own write, echoed by
    the watch). The view depends on metadata.uid, metadata.annotations, spec.selector, the
    pod template and the replicas at the kind's paths, and spec.strategy of a kind that
    surges, only: when the digest of those (but replicas) equals the last version's, the
    last view is reused, and when only replicas moved it is copied with the new count,
    unless the template findings read it (a percentage maxSurge resolves against replicas).
    Anything else is projected afresh. At most `limit` targets are remembered.
    """

    __slots__ = ("_memo", "limit", "workload")

    def __init__(
        self, workload: WorkloadKind = DEPLOYMENT, limit: int = PROJECTION_MEMO_ENTRIES
    ) -> None:
        self.workload = workload
        self.limit = limit
        self._memo: dict[tuple[str, str], _Memo] = {}

    def __call__(self, obj: object) -> TargetView | ProjectionError:
        workload = self.workload
        inputs = _memo_inputs(obj, workload.kind)
        if inputs is None:
            return project_target(obj, workload)
        key, uid, annotations, spec = inputs
        replicas = _raw(obj, workload.replicas_path)
        strategy = spec.get("strategy") if workload.surges else None
        digest = _digest(
            annotations, spec.get("selector"), _raw(obj, workload.template_path), strategy
        )
        last = self._memo.get(key)
        if last is not None and last.uid == uid and last.digest == digest:
            if last.replicas == replicas:
                return last.view
            reused = _with_replicas(last.view, spec, last.replicas, replicas, workload.surges)
            if reused is not None:
                self._remember(key, _Memo(uid, digest, replicas, reused))
                return reused
        view = project_target(obj, workload)
        if isinstance(view, TargetView):
            self._remember(key, _Memo(uid, digest, replicas, view))
        return view

    def __len__(self) -> int:
        return len(self._memo)

    def _remember(self, key: tuple[str, str], memo: _Memo) -> None:
        if key not in self._memo and len(self._memo) >= self.limit:
            self._memo.clear()
        self._memo[key] = memo


def _memo_inputs(
    obj: object, kind: str
) -> tuple[tuple[str, str], object, object, Mapping[str, Any]] | None:
    """(namespace, name), uid, annotations and spec of an object of the kind; None for
    anything else (project_target then says what is wrong with it)."""
    named = object_name(obj, kind)
    if isinstance(named, ProjectionError):
        return None
    assert isinstance(obj, Mapping)
    metadata, spec = obj.get("metadata"), obj.get("spec")
    if not isinstance(metadata, Mapping) or not isinstance(spec, Mapping):
        return None
    return named, metadata.get("uid"), metadata.get("annotations"), spec


def _raw(obj: object, path: tuple[str, ...]) -> object:
    """The JSON value at a path of object fields, as it is (None where one is missing)."""
    found: object = obj
    for step in path:
        if not isinstance(found, Mapping):
            return None
        found = found.get(step)
    return found


def _with_replicas(
    view: TargetView, spec: Mapping[str, Any], before: object, after: object, surges: bool
) -> TargetView | None:
    """The view with the new replicas, when nothing else in it reads them: a valid integer
    either way, and (a kind that surges) the same resolved maxSurge, the only finding that
    reads them."""
    if not isinstance(after, int) or isinstance(after, bool) or not isinstance(before, int):
        return None
    try:
        if surges and resolved_max_surge(spec, before) != resolved_max_surge(spec, after):
            return None
    except ShapeError:
        return None
    return replace(view, replicas=after)
