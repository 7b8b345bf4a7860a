"""Watch sinks: what the reflectors deliver goes into the ClusterState, and the targets whose
outcome may have changed go to a hook (the controller enqueues them; `plan` needs none).

Event handlers only update the state and report keys (sample-controller's split); every
decision happens later, in the reconcile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.state import ClusterState, HpaKey
from nodecount_scaler.model.targets import TargetKey, TargetView


def _ignore_keys(keys: Iterable[TargetKey]) -> None:
    return None


def _ignore(*args: object) -> None:
    return None


def _not_own(view: TargetView) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Hooks:
    """Called after the state changed. `targets_changed` gets every key whose eligible set,
    view or conflicts moved; `target_seen` gets every delivered version of a target, in
    order (for write expectations), and says whether it is the echo of this service's own
    replica write; the others are for gauges and timers."""

    targets_changed: Callable[[Iterable[TargetKey]], None] = _ignore_keys
    target_seen: Callable[[TargetView], bool] = _not_own
    nodes_stored: Callable[[], None] = _ignore
    targets_stored: Callable[[], None] = _ignore
    target_removed: Callable[[TargetKey], None] = _ignore


class NodeSink:
    def __init__(self, state: ClusterState, clock: Callable[[], float], hooks: Hooks) -> None:
        self._state, self._clock, self._hooks = state, clock, hooks

    def _changed(self, keys: Iterable[TargetKey]) -> None:
        self._hooks.targets_changed(keys)
        self._hooks.nodes_stored()

    def replace(self, items: dict[str, NodeView]) -> None:
        self._changed(self._state.replace_nodes(items.values(), self._clock()))

    def upsert(self, key: str, view: NodeView) -> None:
        self._changed(self._state.upsert_node(view, self._clock()))

    def delete(self, key: str) -> None:
        self._changed(self._state.delete_node(key))


class TargetSink:
    """The sink of one target watch: one workload kind in all namespaces (None) or one."""

    def __init__(
        self,
        state: ClusterState,
        clock: Callable[[], float],
        hooks: Hooks,
        namespace: str | None,
        kind: str,
    ) -> None:
        self._state, self._clock, self._hooks = state, clock, hooks
        self._namespace, self._kind = namespace, kind

    def replace(self, items: dict[TargetKey, TargetView]) -> None:
        for view in items.values():
            self._hooks.target_seen(view)
        changed = self._state.replace_targets(
            items.values(), self._clock(), self._namespace, self._kind
        )
        self._hooks.targets_changed(changed)
        self._hooks.targets_stored()

    def upsert(self, key: TargetKey, view: TargetView) -> None:
        own_write = self._hooks.target_seen(view)
        stored = self._state.targets.get(key)
        before = stored.view if stored is not None else None
        if self._state.upsert_target(view, self._clock(), live=True) and not (
            own_write and before is not None and replace(before, replicas=view.replicas) == view
        ):
            # The echo of our own write, with nothing else changed, needs no reconcile:
            # the write was its answer. Anything else is looked at again.
            self._hooks.targets_changed((key,))
        self._hooks.targets_stored()

    def delete(self, key: TargetKey) -> None:
        if self._state.delete_target(key):
            # The reconcile of a missing target drops its records and metrics.
            self._hooks.targets_changed((key,))
            self._hooks.target_removed(key)
        self._hooks.targets_stored()


def _unknown() -> float | None:
    return None


class HpaSink:
    def __init__(
        self,
        state: ClusterState,
        clock: Callable[[], float],
        hooks: Hooks,
        namespace: str | None,
    ) -> None:
        self._state, self._clock, self._hooks = state, clock, hooks
        self._namespace = namespace
        # The server time before the snapshot of the list being applied (its reflector's
        # listed_from, wired by the assembly): it ends the settle of older targets.
        self.listed_from: Callable[[], float | None] = _unknown

    def replace(self, items: dict[HpaKey, TargetKey]) -> None:
        changed = self._state.replace_hpas(
            items, self._namespace, listed_from=self.listed_from(), now=self._clock()
        )
        self._hooks.targets_changed(changed)

    def upsert(self, key: HpaKey, view: TargetKey) -> None:
        self._hooks.targets_changed(self._state.upsert_hpa(key, view))

    def delete(self, key: HpaKey) -> None:
        self._hooks.targets_changed(self._state.delete_hpa(key))


@dataclass(frozen=True, slots=True)
class Sinks:
    """One sink per watched collection, all feeding the same state and hooks."""

    state: ClusterState
    clock: Callable[[], float]
    hooks: Hooks

    def nodes(self) -> NodeSink:
        return NodeSink(self.state, self.clock, self.hooks)

    def targets(self, namespace: str | None, kind: str = "Deployment") -> TargetSink:
        return TargetSink(self.state, self.clock, self.hooks, namespace, kind)

    def hpas(self, namespace: str | None) -> HpaSink:
        return HpaSink(self.state, self.clock, self.hooks, namespace)
