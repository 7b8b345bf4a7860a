"""The view of an opted-in Deployment (a target) and its projection from JSON.

Besides configuration and placement, the projection records template findings: shapes of
the pod template under which "replicas == eligible nodes" does not mean one pod per node,
or under which a rollout cannot finish (eligibility.md section 7).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from nodecount_scaler.model.annotations import (
    AnnotationError,
    TargetConfig,
    is_enabled,
    parse_config,
)
from nodecount_scaler.model.placement import PodPlacement, TemplateError, placement_from_pod_spec
from nodecount_scaler.model.selector import (
    LabelSelector,
    SelectorError,
    selector_from_label_selector,
)

HOSTNAME_KEY: Final = "kubernetes.io/hostname"
DEFAULT_MAX_SURGE: Final = "25%"


class TargetKey(NamedTuple):
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class FindingKind(enum.StrEnum):
    NO_SPREAD_CONSTRAINT = "NoSpreadConstraint"
    ROLLOUT_WOULD_STALL = "RolloutWouldStall"


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

    @property
    def valid(self) -> bool:
        return self.config is not None and self.placement is not None

    @property
    def problems(self) -> tuple[str, ...]:
        found = tuple(str(e) for e in self.annotation_errors)
        return found if self.template_error is None else (*found, self.template_error)


def deployment_key(obj: Mapping[str, Any]) -> TargetKey:
    metadata = obj.get("metadata") or {}
    return TargetKey(str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def is_target(obj: Mapping[str, Any]) -> bool:
    return is_enabled((obj.get("metadata") or {}).get("annotations") or {})


def project_target(obj: Mapping[str, Any]) -> TargetView:
    """Reduce an opted-in Deployment to its TargetView. Never raises on bad content."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    key = deployment_key(obj)
    # spec.replicas defaults to 1 (apps/v1 defaulting); the server always fills it in.
    replicas = int(spec.get("replicas", 1))

    config, annotation_errors = parse_config(metadata.get("annotations") or {})

    placement: PodPlacement | None = None
    template_error: str | None = None
    try:
        placement = placement_from_pod_spec(pod_spec)
    except (TemplateError, TypeError, ValueError, AttributeError) as exc:
        template_error = str(exc)

    pod_selector: LabelSelector | None
    try:
        pod_selector = selector_from_label_selector(spec.get("selector") or {})
    except SelectorError:
        pod_selector = None

    return TargetView(
        key=key,
        uid=str(metadata.get("uid", "")),
        replicas=replicas,
        config=config,
        placement=placement,
        annotation_errors=annotation_errors,
        template_error=template_error,
        findings=template_findings(spec, pod_spec, pod_labels, key.namespace, replicas),
        pod_selector=pod_selector,
    )


def template_findings(
    spec: Mapping[str, Any],
    pod_spec: Mapping[str, Any],
    pod_labels: Mapping[str, str],
    namespace: str,
    replicas: int,
) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    anti_affinity = has_hostname_anti_affinity(pod_spec, pod_labels, namespace)
    if not anti_affinity and not has_hostname_spread(pod_spec, pod_labels):
        findings.append(
            Finding(
                FindingKind.NO_SPREAD_CONSTRAINT,
                "the pod template has neither required podAntiAffinity on "
                f"{HOSTNAME_KEY} nor a {HOSTNAME_KEY} topologySpreadConstraint with maxSkew 1 "
                "and DoNotSchedule: replicas == eligible nodes does not mean one pod per node",
            )
        )
    surge = resolved_max_surge(spec, replicas)
    if anti_affinity and surge > 0:
        findings.append(
            Finding(
                FindingKind.ROLLOUT_WOULD_STALL,
                f"RollingUpdate maxSurge resolves to {surge} with required {HOSTNAME_KEY} "
                "anti-affinity: the surge pod fits on no node and the rollout stalls "
                "(kubernetes/kubernetes#116891); use maxSurge: 0 and maxUnavailable: 1",
            )
        )
    return tuple(findings)


def has_hostname_anti_affinity(
    pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str], namespace: str
) -> bool:
    """Required podAntiAffinity on the hostname key that selects the template's own pods."""
    terms = ((pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or ()
    for term in terms:
        if term.get("topologyKey") != HOSTNAME_KEY:
            continue
        namespaces = term.get("namespaces") or ()
        # Without namespaces or namespaceSelector a term applies to the pod's own namespace.
        if namespaces and namespace not in namespaces and term.get("namespaceSelector") is None:
            continue
        if _selects(term.get("labelSelector"), pod_labels):
            return True
    return False


def has_hostname_spread(pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str]) -> bool:
    for constraint in pod_spec.get("topologySpreadConstraints") or ():
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
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    raw = (strategy.get("rollingUpdate") or {}).get("maxSurge", DEFAULT_MAX_SURGE)
    if isinstance(raw, int):
        return raw
    text = str(raw)
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            return 0
        return math.ceil(percent * replicas / 100)
    try:
        return int(text)
    except ValueError:
        return 0
