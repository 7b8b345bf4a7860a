"""Node event -> scale write, per target that the change moves: "eligible at the API"
separated from "written".

The churn records each node change it sends (the node's labels, cordon and taint after
it). After the run, the changes are replayed through the package's own model (a
ClusterState fed with the same Node and Deployment bodies) in the order the API server
completed them, so that for every change the targets whose desired count it moves are
known. Two moments come from the audit log, both server-side:

- **eligible at the API**: when the Node write that makes the change is complete. For a
  node change of the churn that is the churn's own write. A Node that is added carries
  `node.kubernetes.io/not-ready:NoSchedule` from admission (TaintNodesByCondition) until
  the node lifecycle controller of kube-controller-manager lifts it: that later write is
  when the new node becomes eligible, and the time from the add to it is the cluster's
  own lag, not the scaler's (printed apart);
- **written**: when the scaler's first replica write of that target after the change
  reaches the API server (its requestReceivedTimestamp).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.scale_audit import NODE_WRITE_VERBS, Request, percentile
from bench.scale_mix import Profile
from nodecount_scaler.kube.resources import NODE_PROJECTION, TARGET_PROJECTION
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.policy import desired_replicas
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey, TargetView

NOT_READY = "node.kubernetes.io/not-ready"
MAINTENANCE = "bench/maintenance"
# A write later than this after a change is not counted as its answer (the next periodic
# relist or a drift correction would be).
ANSWER_WITHIN = 60.0
BENCH_AGENT = "Python-urllib"
CONTROLLER_AGENT = "kube-controller-manager"


@dataclass(frozen=True)
class NodeChange:
    """One churn write and the node as it left it (labels None: deleted)."""

    kind: str
    name: str
    labels: Mapping[str, str] | None
    cordoned: bool = False
    maintenance: bool = False


def node_view(
    profile: Profile, change: NodeChange, version: str, *, not_ready: bool
) -> NodeView | None:
    if change.labels is None:
        return None
    body = profile.node_body(change.name, change.labels, version)
    taints = body["spec"]["taints"]
    if change.maintenance:
        taints.append({"key": MAINTENANCE, "value": "true", "effect": "NoSchedule"})
    if not_ready:
        taints.append({"key": NOT_READY, "effect": "NoSchedule"})
    body["spec"]["unschedulable"] = change.cordoned
    view = NODE_PROJECTION.view(body)
    assert isinstance(view, NodeView), view
    return view


def _target_views(bodies: Iterable[dict[str, Any]]) -> list[TargetView]:
    views = []
    for body in bodies:
        view = TARGET_PROJECTION.view(body)
        assert isinstance(view, TargetView), view
        views.append(view)
    return views


@dataclass(frozen=True)
class Moment:
    """A node write complete at the API server (`at`) that the replay applies."""

    at: float
    node: NodeView | None
    name: str
    kind: str


def moments(
    profile: Profile,
    changes: list[NodeChange],
    requests: list[Request],
    version: str,
) -> tuple[list[Moment], list[float]]:
    """The replay's steps in completion order, and the adds' eligibility lags (seconds from
    a new Node's create to the write that lifted its not-ready taint)."""
    mine = [
        r
        for r in requests
        if r.agent.startswith(BENCH_AGENT) and r.verb in NODE_WRITE_VERBS and r.resource == "nodes"
    ]
    controller: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        if r.agent.startswith(CONTROLLER_AGENT) and r.resource == "nodes" and r.verb == "patch":
            controller[r.name].append(r.completed)
    found, lags = [], []
    # The churn's writes are sent one at a time from one thread: the audit's bench writes
    # of the window are the recorded changes, in order (the set-up's came before them).
    for change, request in zip(changes, mine[len(mine) - len(changes) :], strict=True):
        tainted = change.kind == "add"
        view = node_view(profile, change, version, not_ready=tainted)
        found.append(Moment(request.completed, view, change.name, change.kind))
        if tainted:
            lifted = [t for t in controller.get(change.name, []) if t >= request.completed]
            if lifted:
                lags.append(lifted[0] - request.completed)
                ready = node_view(profile, change, version, not_ready=False)
                found.append(Moment(lifted[0], ready, change.name, "add (eligible)"))
    found.sort(key=lambda m: m.at)
    return found, lags


Moved = tuple[TargetKey, int | None, int | None]  # target, desired before, desired after


def replay(
    initial_nodes: Iterable[NodeView],
    targets: Iterable[dict[str, Any]],
    steps: list[Moment],
    replica_cap: int,
) -> list[tuple[Moment, list[Moved]]]:
    """Each step with the targets whose desired count it moves, from what to what."""
    state = ClusterState(unready_grace=30.0)
    state.replace_nodes(initial_nodes, 0.0)
    for view in _target_views(targets):
        state.upsert_target(view, 0.0)

    def desired(key: TargetKey) -> int | None:
        target = state.targets.get(key)
        if target is None or target.view.config is None:
            return None
        return desired_replicas(target.count, target.view.config, replica_cap)

    last = {key: desired(key) for key in state.targets}
    out = []
    for step in steps:
        if step.node is None:
            changed = state.delete_node(step.name)
        else:
            changed = state.upsert_node(step.node, step.at)
        moved: list[Moved] = []
        for key in changed:
            now = desired(key)
            if now != last[key]:
                moved.append((key, last[key], now))
                last[key] = now
        out.append((step, moved))
    return out


def latencies(
    replayed: list[tuple[Moment, list[Moved]]], requests: list[Request], scaler: str
) -> dict[str, Any]:
    """Eligible at the API -> written, for every (change, target it moves) that needs a
    write. Per target, in time order: a scale write sets the held count to the desired one
    of that moment and answers every change still waiting; a change back to the held count
    (a node added, then deleted; a taint on, then off) answers itself and the ones waiting
    with no write at all: those are counted apart, not timed against a later write."""
    writes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in requests:
        if r.user == scaler and r.is_scale_write:
            writes[(r.namespace, r.name)].append(r.received)
    steps: dict[TargetKey, list[tuple[float, str, int | None, int | None]]] = defaultdict(list)
    for step, moved in replayed:
        for key, before, after in moved:
            steps[key].append((step.at, step.kind.split(" ")[0], before, after))
    by_kind: dict[str, list[float]] = defaultdict(list)
    counts = {"undone": 0, "unanswered": 0}
    for key, changes in steps.items():
        _answer(changes, writes.get((key.namespace, key.name), []), by_kind, counts)
    every = [s for values in by_kind.values() for s in values]
    return {
        "moved": sum(len(m) for _, m in replayed),
        "undone_before_written": counts["undone"],
        "unanswered": counts["unanswered"],
        "all": _summary(every),
        "by_change": {kind: _summary(v) for kind, v in sorted(by_kind.items())},
        "changes_moving_targets": sum(1 for _, m in replayed if m),
        "targets_per_change": round(sum(len(m) for _, m in replayed) / max(1, len(replayed)), 1),
    }


def _answer(
    changes: list[tuple[float, str, int | None, int | None]],
    writes: list[float],
    by_kind: dict[str, list[float]],
    counts: dict[str, int],
) -> None:
    """One target's changes against its writes (see latencies)."""
    held = changes[0][2]
    desired = held
    waiting: list[tuple[float, str]] = []
    timeline = sorted(
        [(t, 1, kind, after) for t, kind, _, after in changes] + [(t, 0, "", None) for t in writes]
    )
    for at, is_change, kind, after in timeline:
        if not is_change:
            held = desired
            for since, what in waiting:
                if at - since <= ANSWER_WITHIN:
                    by_kind[what].append(max(0.0, at - since))
                else:
                    counts["unanswered"] += 1
            waiting = []
            continue
        desired = after
        if desired == held:
            counts["undone"] += len(waiting) + 1
            waiting = []
        else:
            waiting.append((at, kind))
    counts["unanswered"] += len(waiting)


def _summary(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    p50, p99 = percentile(seconds, 0.5), percentile(seconds, 0.99)
    return {
        "n": len(seconds),
        "p50_ms": round((p50 or 0) * 1000, 1),
        "p99_ms": round((p99 or 0) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def lag_summary(lags: list[float]) -> dict[str, float | int | None]:
    out = _summary(lags)
    return {
        "n": out["n"],
        "p50_s": _s(out["p50_ms"]),
        "p99_s": _s(out["p99_ms"]),
        "max_s": _s(out["max_ms"]),
    }


def _s(ms: float | int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 2)
