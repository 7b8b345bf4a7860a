"""What of a pod template decides where its pods may run, and the matching rules.

The rules follow k8s.io/component-helpers/scheduling/corev1/nodeaffinity (nodeSelector AND
required node affinity; terms ORed, expressions ANDed; an empty term or an empty term list
matches nothing; matchFields only on metadata.name) and api/core/v1/toleration.go
(ToleratesTaint). See docs/eligibility.md,
"Matching details".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nodecount_scaler import limits
from nodecount_scaler.model.nodes import UNSCHEDULABLE_TAINT_KEY, NodeView, Taint
from nodecount_scaler.model.objects import ShapeError, integer, items, mapping, string, string_map
from nodecount_scaler.model.selector import (
    Operator,
    Requirement,
    SelectorError,
    requirement_from_node_selector_expression,
)

NODE_NAME_FIELD: Final = "metadata.name"


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """A matchFields entry; the API only allows metadata.name with In or NotIn."""

    operator: Operator
    values: frozenset[str]

    def matches(self, node_name: str) -> bool:
        if self.operator is Operator.IN:
            return node_name in self.values
        return node_name not in self.values


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    expressions: tuple[Requirement, ...]
    fields: tuple[FieldRequirement, ...]

    def matches(self, node: NodeView) -> bool:
        # An empty term selects no node (nodeaffinity.newNodeSelectorTerm: "empty term matches
        # nothing"), unlike an empty label selector.
        if not self.expressions and not self.fields:
            return False
        labels = node.labels
        return all(r.matches(labels) for r in self.expressions) and all(
            f.matches(node.name) for f in self.fields
        )


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str  # "Exists" or "Equal"
    value: str
    effect: str  # "" tolerates every effect
    toleration_seconds: int | None

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """ToleratesTaint from k8s.io/api/core/v1/toleration.go."""
        if self.effect and self.effect != effect:
            return False
        if self.key and self.key != key:
            return False
        # An empty key with Exists tolerates every taint; an empty key with Equal is invalid
        # in the API and matches only an empty taint key here, as upstream.
        if self.operator == "Exists":
            return True
        return self.value == value


# The DefaultTolerationSeconds admission plugin adds not-ready:NoExecute and
# unreachable:NoExecute with tolerationSeconds 300 to every Pod. Both are readiness taints,
# which eligibility folds into the Ready rule, and a NoExecute toleration with
# tolerationSeconds does not count (rule 6), so they never change the outcome and are not
# modelled.


@dataclass(frozen=True, slots=True)
class PodPlacement:
    node_name: str
    node_selector: tuple[tuple[str, str], ...]
    # None: no required node affinity. An empty tuple: affinity with no terms, which
    # matches no node.
    affinity_terms: tuple[NodeSelectorTerm, ...] | None
    tolerations: tuple[Toleration, ...]
    # Topology keys of DoNotSchedule spread constraints: the PodTopologySpread filter
    # rejects a node that lacks any of them (nodeLabelsMatchSpreadConstraints).
    spread_keys: frozenset[str] = frozenset()

    @property
    def label_keys(self) -> frozenset[str]:
        keys = {k for k, _ in self.node_selector} | self.spread_keys
        for term in self.affinity_terms or ():
            keys.update(r.key for r in term.expressions)
        return frozenset(keys)

    @property
    def uses_node_name(self) -> bool:
        return bool(self.node_name) or any(t.fields for t in self.affinity_terms or ())

    def matches_node_name(self, node: NodeView) -> bool:
        return not self.node_name or self.node_name == node.name

    def matches_affinity(self, node: NodeView) -> bool:
        labels = node.labels
        for key, value in self.node_selector:
            if labels.get(key) != value:
                return False
        if not all(key in labels for key in self.spread_keys):
            return False
        if self.affinity_terms is None:
            return True
        return any(term.matches(node) for term in self.affinity_terms)

    def tolerates_cordon(self) -> bool:
        return self.tolerates(_CORDON_TAINT)

    def tolerates(self, taint: Taint) -> bool:
        """Whether some toleration admits the taint for good.

        A NoExecute taint admitted only by tolerations with tolerationSeconds is not
        tolerated: the pod would be scheduled, then evicted when the time runs out.
        """
        for toleration in self.tolerations:
            if not toleration.tolerates(taint.key, taint.value, taint.effect):
                continue
            if taint.effect == "NoExecute" and toleration.toleration_seconds is not None:
                continue
            return True
        return False

    def first_untolerated_taint(self, node: NodeView) -> Taint | None:
        for taint in node.taints:
            if not self.tolerates(taint):
                return taint
        return None


_CORDON_TAINT: Final = Taint(UNSCHEDULABLE_TAINT_KEY, "", "NoSchedule")


class TemplateError(ValueError):
    """A pod template field that cannot be evaluated (the API server normally rejects these)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


_TEMPLATE: Final = "spec.template.spec"
_AFFINITY: Final = (
    _TEMPLATE + ".affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
)


def placement_from_pod_spec(spec: Mapping[str, Any]) -> PodPlacement:
    """Read nodeName, nodeSelector, required node affinity and tolerations from a pod spec.

    Raises TemplateError, and no other exception, for any JSON value at any field.
    """
    try:
        node_selector = string_map(spec, "nodeSelector", _TEMPLATE + ".nodeSelector")
        affinity = mapping(mapping(spec, "affinity", "affinity"), "nodeAffinity", "nodeAffinity")
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        terms: tuple[NodeSelectorTerm, ...] | None = None
        if required is not None:
            if not isinstance(required, Mapping):
                raise ShapeError(_AFFINITY, "an object", required)
            raw_terms = items(required, "nodeSelectorTerms", _AFFINITY + ".nodeSelectorTerms")
            _check_size(spec, raw_terms)
            terms = tuple(_term(t, i) for i, t in enumerate(raw_terms))
        else:
            _check_size(spec, ())
        tolerations = items(spec, "tolerations", _TEMPLATE + ".tolerations")
        return PodPlacement(
            node_name=string(spec, "nodeName", _TEMPLATE + ".nodeName"),
            node_selector=tuple(sorted(node_selector.items())),
            affinity_terms=terms,
            tolerations=tuple(_toleration(t, i) for i, t in enumerate(tolerations)),
            spread_keys=_spread_keys(spec),
        )
    except ShapeError as exc:
        raise TemplateError(exc.path, str(exc).partition(": ")[2]) from None


def _check_size(spec: Mapping[str, Any], terms: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a template with more terms than limits.MAX_TEMPLATE_TERMS, before any of them
    is built."""
    count = 0
    for i, term in enumerate(terms):
        where = f"{_AFFINITY}.nodeSelectorTerms[{i}]"
        count += len(items(term, "matchExpressions", where + ".matchExpressions"))
        count += len(items(term, "matchFields", where + ".matchFields"))
    count += len(items(spec, "tolerations", _TEMPLATE + ".tolerations"))
    count += len(mapping(spec, "nodeSelector", _TEMPLATE + ".nodeSelector"))
    where = _TEMPLATE + ".topologySpreadConstraints"
    count += len(items(spec, "topologySpreadConstraints", where))
    if count > limits.MAX_TEMPLATE_TERMS:
        raise TemplateError(
            _TEMPLATE,
            f"{count} nodeSelector pairs, node-affinity expressions, tolerations and spread "
            "constraints, over "
            f"the {limits.MAX_TEMPLATE_TERMS} this service evaluates per target",
        )


def _spread_keys(spec: Mapping[str, Any]) -> frozenset[str]:
    where = _TEMPLATE + ".topologySpreadConstraints"
    keys = set()
    for i, constraint in enumerate(items(spec, "topologySpreadConstraints", where)):
        if string(constraint, "whenUnsatisfiable", f"{where}[{i}].whenUnsatisfiable") == (
            "DoNotSchedule"
        ):
            key = string(constraint, "topologyKey", f"{where}[{i}].topologyKey")
            if key:
                keys.add(key)
    return frozenset(keys)


def _term(raw: Mapping[str, Any], index: int) -> NodeSelectorTerm:
    where = f"{_AFFINITY}.nodeSelectorTerms[{index}]"
    try:
        expressions = tuple(
            requirement_from_node_selector_expression(e)
            for e in items(raw, "matchExpressions", where + ".matchExpressions")
        )
    except SelectorError as exc:
        raise TemplateError(where + ".matchExpressions", str(exc)) from exc
    fields = items(raw, "matchFields", where + ".matchFields")
    return NodeSelectorTerm(expressions, tuple(_field(f, where) for f in fields))


def _field(raw: Mapping[str, Any], where: str) -> FieldRequirement:
    key = raw.get("key")
    if key != NODE_NAME_FIELD:
        raise TemplateError(where + ".matchFields", f"unsupported field {key!r:.60}")
    operator = raw.get("operator")
    values = raw.get("values")
    if (
        operator not in (Operator.IN, Operator.NOT_IN)
        or not isinstance(values, list)
        or len(values) != 1
        or not isinstance(values[0], str)
    ):
        # nodeaffinity validation: metadata.name allows In/NotIn with exactly one value.
        raise TemplateError(
            where + ".matchFields", "metadata.name needs In or NotIn with one value"
        )
    return FieldRequirement(Operator(operator), frozenset(values))


def _toleration(raw: Mapping[str, Any], index: int) -> Toleration:
    where = f"{_TEMPLATE}.tolerations[{index}]"
    operator = string(raw, "operator", where + ".operator") or "Equal"
    if operator not in ("Equal", "Exists"):
        raise TemplateError(where, f"operator {operator!r:.60}")
    seconds = raw.get("tolerationSeconds")
    if seconds is not None:
        seconds = integer(raw, "tolerationSeconds", where + ".tolerationSeconds", 0)
    return Toleration(
        key=string(raw, "key", where + ".key"),
        operator=operator,
        value=string(raw, "value", where + ".value"),
        effect=string(raw, "effect", where + ".effect"),
        toleration_seconds=seconds,
    )
