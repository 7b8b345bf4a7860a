"""The service's picture of the cluster: nodes, targets, HPAs, and each target's eligible set.

No I/O and no clock of its own: callers pass `now` (monotonic seconds). Every mutation
returns the targets whose outcome may have changed, so the caller enqueues exactly those.

Readiness grace: a node that was Ready and turns NotReady keeps counting for
`unready_grace` seconds (a short flap causes no write at all); every other way of leaving
the eligible set takes effect at once. A node first seen NotReady never counts.

Settling: a target is not written until NEW_TARGET_SETTLE seconds after it was first
stored (see `TargetState.settles_at`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, MutableSet
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final, NamedTuple

from nodecount_scaler.limits import MOVED_NODES_KEPT
from nodecount_scaler.model.eligibility import Eligibility, Rule, explain, label_keys
from nodecount_scaler.model.gates import TargetGates, gate_of
from nodecount_scaler.model.index import NodeIndex
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.tally import Tally
from nodecount_scaler.model.targets import TargetKey, TargetView

# Nothing is written to a target until this long after this process first stored it (or
# stored it with a new uid). A workload and its HorizontalPodAutoscaler applied together (one
# `kubectl apply -f` of a file holding both, one Helm release) are created milliseconds
# apart, in either order, and reach this service on two watch streams that are not ordered
# with each other: the workload's event can be handled before the HPA's, and a write made
# then would fight the HPA. "The HPA cache is synced" must therefore mean "synced up to a
# moment after the target's creation", and no watch tells that: resourceVersions are opaque
# and must not be compared across resources (API concepts, "Resource versions"), and an
# HPA created just after its target is newer than the target anyway, so waiting for the HPA
# watch to pass the target's version would not see it either. A short settle covers both
# orders; an HPA created later than this is a new conflict, reported as one after at most
# one write. The wait delays only a target's writes in its first seconds here; a new
# leader's targets were stored long before, while it followed.
#
# At start-up the lists already prove more, and the targets that existed before do not
# wait. A list without a resourceVersion is a consistent read: every HPA created before
# its snapshot is in it, and the snapshot is no earlier than `listed_from`, a server time
# taken from the first page's Date header less the time the exchange took. A target's
# `written_at` is its last write the server recorded (creation, or any manager's change
# of its fields, an opt-in edit included), to the second. An HPA applied together with it
# is created at most NEW_TARGET_SETTLE after that write; if that moment is before the HPA
# list's snapshot, the HPA is in the list, and a write cannot fight it. So a target with
# written_at + 1 s + NEW_TARGET_SETTLE <= listed_from of its namespace's HPA list has
# settled; anything less known (no Date, no managedFields, a recent write) still waits.
NEW_TARGET_SETTLE: Final = 2.0
# written_at is truncated to whole seconds: the write was up to this much later.
WRITE_TIME_RESOLUTION: Final = 1.0


class HpaKey(NamedTuple):
    namespace: str
    name: str


class Domains(NamedTuple):
    """The topology domains a target counts: the label, its counted values, and a node's
    value of it (None: no such node, or no such label)."""

    label: str
    counted: frozenset[str]
    of: Callable[[str], str | None]


@dataclass(slots=True)
class TargetState:
    view: TargetView
    eligibility: Eligibility | None
    # A NodeSet of the node index's numbering once computed (model/nodeset.py).
    eligible: MutableSet[str] = field(default_factory=set)
    # Cores and topology domains of the eligible nodes, when the target counts them.
    tally: Tally | None = None
    # The label keys it holds indexed (NodeIndex.retain) while it is stored.
    label_keys: frozenset[str] = frozenset()
    # Monotonic time before which nothing is written to it (NEW_TARGET_SETTLE).
    settles_at: float = 0.0
    # First stored from a watch event (created or opted in while this process watched),
    # not from a list: its first write is its owner's doing (model/policy.py).
    live: bool = False
    # Nodes that entered or left `eligible` since the pods were last steered; None: not
    # known (a new target, a relist, more than MOVED_NODES_KEPT of them).
    moved: set[str] | None = None

    def admit(self, node: NodeView) -> None:
        self.eligible.add(node.name)
        self.note_moved((node.name,))
        if self.tally is not None:
            self.tally.add(node)

    def evict(self, counted: NodeView) -> None:
        """Drop a node; `counted` is the view the tally counted when it was admitted."""
        self.eligible.discard(counted.name)
        self.note_moved((counted.name,))
        if self.tally is not None:
            self.tally.discard(counted)

    def note_moved(self, names: Collection[str]) -> None:
        if self.moved is None:
            return
        if len(self.moved) + len(names) > MOVED_NODES_KEPT:
            self.moved = None
        else:
            self.moved.update(names)

    @property
    def count(self) -> int:
        """What the scaling rule counts: eligible nodes, or topology domains."""
        if self.tally is None:
            return len(self.eligible)
        return self.tally.domain_count(len(self.eligible))

    @property
    def cores(self) -> Fraction:
        return Fraction(0) if self.tally is None else self.tally.cores

    def measure(self) -> tuple[int, Fraction]:
        return self.count, self.cores


def _tally_for(view: TargetView) -> Tally | None:
    with_cores = view.config is not None and view.config.rule.uses_cores
    if view.topology.per_node and not with_cores:
        return None
    return Tally(view.topology, with_cores)


class ClusterState:
    def __init__(self, unready_grace: float, settle: float = NEW_TARGET_SETTLE) -> None:
        self.unready_grace = unready_grace
        self.settle = settle
        self.nodes: dict[str, NodeView] = {}
        self.targets: dict[TargetKey, TargetState] = {}
        self._index = NodeIndex(self.nodes)
        # The targets a node event asks (model/gates.py): those with an eligibility test.
        self._gates: TargetGates[TargetKey] = TargetGates()
        self._unready_since: dict[str, float] = {}
        # HPA -> the Deployment it scales (same namespace), for conflict detection.
        self._hpas: dict[HpaKey, TargetKey] = {}
        # Namespace (None: all) -> listed_from of its latest HPA list (NEW_TARGET_SETTLE).
        self._hpas_listed_from: dict[str | None, float] = {}
        # The stored targets that are not valid, kept as they are stored: counting them over
        # every target on each event cost a quarter of the CPU of a 2,000-target churn.
        self.invalid: set[TargetKey] = set()

    # -- nodes -------------------------------------------------------------------------

    def node_counts_as_ready(self, node: NodeView, now: float) -> bool:
        if node.ready:
            return True
        since = self._unready_since.get(node.name)
        # The same sum as next_grace_expiry: `now - since` can round below the grace at
        # the very instant the timer wakes for it (0.45 - 0.15 < 0.3 in floats).
        return since is not None and now < since + self.unready_grace

    def upsert_node(self, node: NodeView, now: float) -> list[TargetKey]:
        old = self.nodes.get(node.name)
        if old == node:
            # Heartbeats and image lists change the object, not the view: nothing to do.
            return []
        self._store_node(old, node, now)
        return self._reevaluate(old, node, now)

    def _store_node(self, old: NodeView | None, node: NodeView, now: float) -> None:
        if node.ready:
            self._unready_since.pop(node.name, None)
        elif old is not None and old.ready:
            self._unready_since[node.name] = now
        self.nodes[node.name] = node
        self._index.put(old, node, self.node_counts_as_ready(node, now))

    def delete_node(self, name: str) -> list[TargetKey]:
        old = self.nodes.pop(name, None)
        if old is None:
            return []
        self._index.remove(old)
        self._unready_since.pop(name, None)
        changed = []
        for key, target in self.targets.items():
            if name in target.eligible:
                target.evict(old)
                changed.append(key)
        # Out of every set now: its number may go to another node.
        self._index.free(name)
        return changed

    def replace_nodes(self, nodes: Iterable[NodeView], now: float) -> set[TargetKey]:
        """Apply a full relist: store every listed node, drop the ones not listed, then
        recompute each target's set at once (set algebra, not node by node)."""
        seen: set[str] = set()
        moved = False
        for node in nodes:
            seen.add(node.name)
            old = self.nodes.get(node.name)
            if old != node:
                self._store_node(old, node, now)
                moved = True
        gone = [n for n in self.nodes if n not in seen]
        for name in gone:
            self._index.remove(self.nodes.pop(name))
            self._unready_since.pop(name, None)
            moved = True
        changed: set[TargetKey] = set()
        if not moved:
            return changed
        for key, target in self.targets.items():
            if target.view.config is None or target.view.placement is None:
                continue
            eligible = self._index.eligible(target.view.config, target.view.placement)
            before = target.measure()
            moved_set = eligible != target.eligible
            if moved_set:
                target.note_moved(eligible ^ target.eligible)
            target.eligible = eligible
            if target.tally is not None:
                # Labels and cores may have moved under an unchanged set: count afresh.
                target.tally.reset(self.nodes[n] for n in eligible)
            if moved_set or target.measure() != before:
                changed.add(key)
        for name in gone:
            # Every set was made afresh without it (an invalid target's is empty).
            self._index.free(name)
        return changed

    def next_grace_expiry(self) -> float | None:
        if not self._unready_since:
            return None
        return min(self._unready_since.values()) + self.unready_grace

    def expire_grace(self, now: float) -> set[TargetKey]:
        """Stop counting nodes whose NotReady grace has run out."""
        expired = [n for n, s in self._unready_since.items() if now >= s + self.unready_grace]
        changed: set[TargetKey] = set()
        for name in expired:
            del self._unready_since[name]
            node = self.nodes[name]
            self._index.put(node, node, self.node_counts_as_ready(node, now))
            changed.update(self._reevaluate(node, node, now))
        return changed

    def _reevaluate(self, old: NodeView | None, node: NodeView, now: float) -> list[TargetKey]:
        """Apply one node's new view to every target; `old` is the view they counted."""
        ready = self.node_counts_as_ready(node, now)
        name = node.name
        changed = []
        reached = self._gates.reached(node.labels if old is None else old.labels, node.labels)
        for key in reached:
            target = self.targets[key]
            check = target.eligibility
            if check is None:
                continue
            counts = check(node, ready)
            was = name in target.eligible
            if counts and not was:
                target.admit(node)
            elif was and not counts:
                target.evict(old or node)
            elif was and target.tally is not None and old is not None and old is not node:
                # Still eligible: its zone or its cores may have changed all the same.
                before = target.measure()
                target.tally.moved(old, node)
                if target.measure() == before:
                    continue
            else:
                continue
            changed.append(key)
        return changed

    # -- targets -----------------------------------------------------------------------

    def upsert_target(self, view: TargetView, now: float, *, live: bool = False) -> bool:
        """Store a target; return True when it needs a reconcile. `live`: from a watch
        event, not a list."""
        old = self.targets.get(view.key)
        if old is not None and old.view == view:
            return False
        if view.valid:
            self.invalid.discard(view.key)
        else:
            self.invalid.add(view.key)
        same = old is not None and old.view.uid == view.uid
        if old is not None and same:
            settles_at = old.settles_at
        else:
            settles_at = now if self._settled(view) else now + self.settle
        live = old.live if old is not None and same else live
        if (
            old is not None
            and old.eligibility is not None
            and old.view.config == view.config
            and old.view.placement == view.placement
            and old.view.topology == view.topology
        ):
            # Only replicas, findings or the uid moved: the eligible set still holds.
            old.view = view
            old.settles_at = settles_at
            old.live = live
            return True
        state = TargetState(view, None, tally=_tally_for(view), settles_at=settles_at, live=live)
        if view.config is not None and view.placement is not None:
            state.eligibility = Eligibility(view.config, view.placement)
            self._gates.put(view.key, gate_of(view.config, view.placement))
            state.label_keys = label_keys(view.config, view.placement)
            # Retained before the old keys are released: the keys both read stay indexed.
            self._index.retain(state.label_keys)
            state.eligible = self._index.eligible(view.config, view.placement)
            if state.tally is not None:
                state.tally.reset(self.nodes[n] for n in state.eligible)
        if old is not None:
            self._index.release(old.label_keys)
        if state.eligibility is None:
            self._gates.remove(view.key)
        self.targets[view.key] = state
        return True

    def delete_target(self, key: TargetKey) -> bool:
        old = self.targets.pop(key, None)
        if old is None:
            return False
        self.invalid.discard(key)
        self._index.release(old.label_keys)
        self._gates.remove(key)
        return True

    @property
    def indexed_label_keys(self) -> frozenset[str]:
        """The label keys the node index keeps groups for (the stored targets read them)."""
        return self._index.indexed_keys

    def replace_targets(
        self,
        views: Iterable[TargetView],
        now: float,
        namespace: str | None = None,
        kind: str = "Deployment",
    ) -> set[TargetKey]:
        """Apply a relist of one kind's targets in one namespace (all namespaces when None):
        targets of other kinds and namespaces come from other lists and are left alone."""
        changed: set[TargetKey] = set()
        seen: set[TargetKey] = set()
        for view in views:
            seen.add(view.key)
            if self.upsert_target(view, now):
                changed.add(view.key)
        stale = [
            k
            for k in self.targets
            if k not in seen and k.kind == kind and _in_scope(k.namespace, namespace)
        ]
        for key in stale:
            self.delete_target(key)
            changed.add(key)
        return changed

    # -- HPAs --------------------------------------------------------------------------

    def upsert_hpa(self, hpa: HpaKey, scales: TargetKey | None) -> list[TargetKey]:
        old = self._hpas.get(hpa)
        if scales is None:
            self._hpas.pop(hpa, None)
        else:
            self._hpas[hpa] = scales
        if old == scales:
            return []
        return [k for k in (old, scales) if k is not None]

    def delete_hpa(self, hpa: HpaKey) -> list[TargetKey]:
        old = self._hpas.pop(hpa, None)
        return [] if old is None else [old]

    def replace_hpas(
        self,
        hpas: Mapping[HpaKey, TargetKey],
        namespace: str | None = None,
        *,
        listed_from: float | None = None,
        now: float = 0.0,
    ) -> set[TargetKey]:
        """Apply a relist of one namespace's HPAs (all namespaces when None); `listed_from`:
        a server time before the list's snapshot (see NEW_TARGET_SETTLE), which may end
        the wait of targets stored before it."""
        kept = {h: k for h, k in self._hpas.items() if not _in_scope(h.namespace, namespace)}
        fresh = {**kept, **hpas}
        changed = set(self._hpas.values()) ^ set(fresh.values())
        changed |= {k for h, k in fresh.items() if self._hpas.get(h) != k}
        self._hpas = fresh
        if listed_from is not None:
            self._hpas_listed_from[namespace] = listed_from
            for key, target in self.targets.items():
                if target.settles_at > now and self._settled(target.view):
                    target.settles_at = now
                    changed.add(key)
        return changed

    def _settled(self, view: TargetView) -> bool:
        """Whether an HPA list proves no HPA made with the target is still on its way."""
        written = view.written_at
        if written is None:
            return False
        listed = self._hpas_listed_from
        floor = listed.get(view.key.namespace, listed.get(None))
        return floor is not None and written + WRITE_TIME_RESOLUTION + self.settle <= floor

    def hpas_for(self, key: TargetKey) -> list[str]:
        return sorted(hpa.name for hpa, target in self._hpas.items() if target == key)

    def keeps(self, key: TargetKey, node_name: str) -> bool:
        """Whether a pod of the target on this node sits where the target still counts: an
        eligible node, or (counting domains) a node whose every domain has an eligible node.
        A scale-down removes the pods that do not."""
        target = self.targets.get(key)
        if target is None:
            return False
        if node_name in target.eligible:
            return True
        node = self.nodes.get(node_name)
        if target.tally is None or not target.tally.domains or node is None:
            return False
        return all(node.labels.get(k) in d for k, d in target.tally.domains.items())

    def domains(self, key: TargetKey) -> Domains | None:
        """The domains the target counts; None when it counts nodes (or is not stored)."""
        target = self.targets.get(key)
        label = target.tally.counted_key() if target is not None and target.tally else None
        if target is None or target.tally is None or label is None:
            return None
        nodes = self.nodes

        def of(node_name: str) -> str | None:
            node = nodes.get(node_name)
            return None if node is None else node.labels.get(label)

        return Domains(label, frozenset(target.tally.domains[label]), of)

    # -- explanations ------------------------------------------------------------------

    def excluded_nodes(self, key: TargetKey, now: float) -> dict[str, tuple[Rule, str]]:
        """Every node that does not count for the target, with the first rule it fails."""
        target = self.targets.get(key)
        if target is None or target.view.config is None or target.view.placement is None:
            return {}
        found: dict[str, tuple[Rule, str]] = {}
        for node in self.nodes.values():
            reason = explain(
                node,
                target.view.config,
                target.view.placement,
                self.node_counts_as_ready(node, now),
            )
            if reason is not None:
                found[node.name] = reason
        return found


def _in_scope(namespace: str, scope: str | None) -> bool:
    return scope is None or namespace == scope
