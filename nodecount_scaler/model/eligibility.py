"""Whether one pod of a target can run on a node: the seven rules of
docs/eligibility.md ("The rules").

`explain` gives the first failing rule for humans (plan, /status, logs). `Eligibility`
compiles a target's rules once and answers the yes/no question for many nodes, memoising
on the few node fields the target actually reads, because in real clusters most nodes
of a pool look identical to a given target.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from typing import Final

from nodecount_scaler.limits import ELIGIBILITY_MEMO_ENTRIES
from nodecount_scaler.model.annotations import TargetConfig
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.placement import PodPlacement

# Past this many label keys, a node's memo key is read from its labels, not the keys.
MANY_KEYS: Final = 16


class Rule(enum.StrEnum):
    """Why a node does not count; values are stable identifiers used in logs and /status."""

    NODE_SELECTOR_ANNOTATION = "node-selector-annotation"
    DELETING = "deleting"
    NODE_NAME = "node-name"
    NODE_AFFINITY = "node-affinity"
    CORDONED = "cordoned"
    TAINT = "taint"
    NOT_READY = "not-ready"


def explain(
    node: NodeView, config: TargetConfig, placement: PodPlacement, ready: bool
) -> tuple[Rule, str] | None:
    """The first rule the node fails for this target, with detail, or None if it counts.

    `ready` is the node's readiness after the grace period for a recent NotReady flap.
    """
    if not config.node_selector.matches(node.labels):
        return Rule.NODE_SELECTOR_ANNOTATION, f"labels do not match {config.node_selector}"
    if node.deleting:
        return Rule.DELETING, "deletionTimestamp is set"
    if not placement.matches_node_name(node):
        return Rule.NODE_NAME, f"template nodeName is {placement.node_name}"
    if not placement.matches_affinity(node):
        return Rule.NODE_AFFINITY, "nodeSelector or required node affinity does not match"
    unschedulable_counts = config.include_unschedulable
    if node.unschedulable and not (unschedulable_counts or placement.tolerates_cordon()):
        return Rule.CORDONED, "spec.unschedulable is true"
    taint = placement.first_untolerated_taint(node)
    if taint is not None:
        return Rule.TAINT, f"untolerated taint {taint.key}={taint.value}:{taint.effect}"
    if not ready and not unschedulable_counts:
        return Rule.NOT_READY, "Ready condition is not True"
    return None


def passes_node_state_rules(
    node: NodeView, placement: PodPlacement, ready: bool, *, include_unschedulable: bool = False
) -> bool:
    """Rules 2, 5, 6 and 7: the node-state rules, which read no label and not the name.
    `include_unschedulable` (a target that counts cordoned and NotReady nodes, as CPA's
    includeUnschedulableNodes does) waives rules 5 and 7."""
    return (
        (ready or include_unschedulable)
        and not node.deleting
        and (not node.unschedulable or include_unschedulable or placement.tolerates_cordon())
        and placement.first_untolerated_taint(node) is None
    )


def label_keys(config: TargetConfig, placement: PodPlacement) -> frozenset[str]:
    """The node label keys a target's rules read: its annotation selector's and its pod
    template's (nodeSelector, node affinity, spread constraints). The index keeps these
    keys grouped while the target exists; the memo below is keyed on their values."""
    return config.node_selector.keys | placement.label_keys


def is_eligible(node: NodeView, config: TargetConfig, placement: PodPlacement, ready: bool) -> bool:
    """`explain(...) is None` without building its words: this runs for every memo miss of
    every target a node event reaches, and formatting a selector per miss was most of it."""
    return (
        config.node_selector.matches(node.labels)
        and placement.matches_node_name(node)
        and placement.matches_affinity(node)
        and passes_node_state_rules(
            node, placement, ready, include_unschedulable=config.include_unschedulable
        )
    )


class Eligibility:
    """A target's compiled eligibility test with a memo keyed on what the rules read."""

    __slots__ = ("_cache", "_get_values", "_uses_name", "config", "placement")

    def __init__(self, config: TargetConfig, placement: PodPlacement) -> None:
        self.config = config
        self.placement = placement
        keys = tuple(sorted(label_keys(config, placement)))
        self._get_values: Callable[[NodeView], Hashable] = _value_reader(keys)
        # Name-dependent rules (template nodeName, matchFields) make every node distinct.
        self._uses_name = placement.uses_node_name
        self._cache: dict[tuple[object, ...], bool] = {}

    def __call__(self, node: NodeView, ready: bool) -> bool:
        key = (
            self._get_values(node),
            node.name if self._uses_name else "",
            # The taint rule's answer, not the taints: a taint with a value unique to each
            # node (Cluster Autoscaler's ToBeDeletedByClusterAutoscaler=<timestamp>) would
            # make every entry unique and keep each one's taints alive, ~12 MiB per target
            # before the memo starts over.
            self.placement.first_untolerated_taint(node) is None,
            node.unschedulable,
            node.deleting,
            ready,
        )
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > ELIGIBILITY_MEMO_ENTRIES:
                self._cache.clear()
            cached = self._cache[key] = is_eligible(node, self.config, self.placement, ready)
        return cached


def _value_reader(keys: tuple[str, ...]) -> Callable[[NodeView], Hashable]:
    if not keys:
        return lambda node: ()
    if len(keys) == 1:
        (only,) = keys
        return lambda node: (node.labels.get(only),)
    if len(keys) <= MANY_KEYS:
        return lambda node: tuple(map(node.labels.get, keys))
    # A template with thousands of expressions: walk the node's few labels instead of the
    # target's many keys (an absent key reads the same either way).
    wanted = frozenset(keys)
    return lambda node: frozenset(kv for kv in node.labels.items() if kv[0] in wanted)
