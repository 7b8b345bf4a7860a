"""What the benchmark measures: the initial sync (list bytes to desired counts), one node
event (watch line to decision), and the brute-force cross-check of the eligible sets.

Everything goes through the service's own public code paths: `decode_list_page` with the
`NODES` / `DEPLOYMENTS` projections, `ClusterState`, `desired_replicas`, `parse_watch_line`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson

from bench.synthetic import EVENT_SPACING, Dataset
from nodecount_scaler.kube.resources import NODE_PROJECTION as NODES
from nodecount_scaler.kube.resources import TARGET_PROJECTION as DEPLOYMENTS
from nodecount_scaler.kube.watch import Rejections, decode_list_page, parse_watch_line
from nodecount_scaler.model.eligibility import is_eligible
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.policy import desired_replicas
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey

# Objects the bench generates all project; a rejection would be a bench bug.
REJECTIONS = Rejections("bench")

REPLICA_CAP: Final = 1000  # --replica-cap default
UNREADY_GRACE: Final = 30.0  # --unready-grace default
RUNS: Final = 5


# --- (a) initial sync ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    """CPU time of this thread (what the code costs) and wall time (what a caller waited,
    including time the OS gave to other processes)."""

    cpu: float
    wall: float

    @classmethod
    def of(cls, fn: Callable[[], object]) -> Timing:
        cpu, wall = time.thread_time(), time.perf_counter()
        fn()
        return cls(time.thread_time() - cpu, time.perf_counter() - wall)

    def __str__(self) -> str:
        return f"{self.cpu * 1e3:.0f} ms (wall {self.wall * 1e3:.0f} ms)"


@dataclass(slots=True)
class SyncResult:
    state: ClusterState
    desired: dict[TargetKey, int]
    timing: Timing
    phases: dict[str, Timing]


def sync_nodes(state: ClusterState, pages: list[bytes], now: float) -> None:
    # As the Reflector does: decode page by page, hand the sink the whole list once.
    items = {}
    for raw in pages:
        items.update(decode_list_page(raw, NODES, REJECTIONS).items)
    state.replace_nodes(items.values(), now)


def sync_targets(state: ClusterState, pages: list[bytes], now: float) -> None:
    items = {}
    for raw in pages:
        items.update(decode_list_page(raw, DEPLOYMENTS, REJECTIONS).items)
    state.replace_targets(items.values(), now)


def all_desired(state: ClusterState) -> dict[TargetKey, int]:
    return {
        key: desired_replicas(len(target.eligible), target.view.config, REPLICA_CAP)
        for key, target in state.targets.items()
        if target.view.config is not None
    }


def initial_sync(data: Dataset, targets_first: bool) -> SyncResult:
    now = 1000.0
    state = ClusterState(UNREADY_GRACE)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("nodes", lambda: sync_nodes(state, data.node_pages, now)),
        ("targets", lambda: sync_targets(state, data.deployment_pages, now)),
    ]
    if targets_first:
        steps.reverse()
    desired: dict[TargetKey, int] = {}
    steps.append(("desired", lambda: desired.update(all_desired(state))))
    phases = {name: Timing.of(step) for name, step in steps}
    total = Timing(sum(t.cpu for t in phases.values()), sum(t.wall for t in phases.values()))
    return SyncResult(state, desired, total, phases)


def best_of(runs: int, fn: Callable[[], object]) -> Timing:
    found = []
    for _ in range(runs):
        gc.collect()
        found.append(Timing.of(fn))
    return min(found, key=lambda t: t.cpu)


def bare_loads(pages: list[bytes]) -> None:
    for raw in pages:
        orjson.loads(raw)


def best_sync(data: Dataset, targets_first: bool) -> SyncResult:
    """The fastest of RUNS syncs, each into a fresh ClusterState, with the state of the last
    run. While a run works, the previous run's state is still alive, as the old state is
    during a relist in a running process: its interned strings are reused (warm)."""
    best: tuple[Timing, dict[str, Timing], dict[TargetKey, int]] | None = None
    last: SyncResult | None = None
    for _ in range(RUNS):
        gc.collect()
        last = initial_sync(data, targets_first)
        if best is None or last.timing.cpu < best[0].cpu:
            best = (last.timing, last.phases, last.desired)
    assert best is not None
    assert last is not None
    return SyncResult(last.state, best[2], best[0], best[1])


def cross_check(state: ClusterState, now: float) -> int:
    """Brute force every (node, target) pair with is_eligible; return the pairs checked."""
    pairs = 0
    for key, target in state.targets.items():
        config, placement = target.view.config, target.view.placement
        if config is None or placement is None:
            raise SystemExit(f"cross-check: target {key} is invalid: {target.view.problems}")
        expected = {
            node.name
            for node in state.nodes.values()
            if is_eligible(node, config, placement, state.node_counts_as_ready(node, now))
        }
        pairs += len(state.nodes)
        if expected != target.eligible:
            raise SystemExit(
                f"cross-check FAILED for {key}: memoised {len(target.eligible)} nodes, "
                f"brute force {len(expected)}; e.g. {sorted(expected ^ target.eligible)[:3]}"
            )
    return pairs


@dataclass(slots=True)
class SyncFigures:
    """Part (a): the timings of every sync, and what the syncs decided."""

    loads: Timing
    decode: Timing
    cold: Timing
    nodes_first: SyncResult
    targets_first: SyncResult
    eligible: list[int]  # eligible nodes per target
    pairs: int  # (node, target) pairs each cross-check compared


def measure_sync(data: Dataset) -> tuple[SyncFigures, ClusterState]:
    """Part (a), cross-checked; also returns the last state, for the events of part (b)."""
    # The cold run comes first, before any projection has interned a string. Only one
    # state is kept alive at a time, so that every run sees the same heap.
    gc.collect()
    cold = initial_sync(data, targets_first=False)
    pairs = cross_check(cold.state, 1000.0)
    cold.state = ClusterState(UNREADY_GRACE)
    loads = best_of(RUNS, lambda: bare_loads(data.node_pages))
    decode = best_of(
        RUNS, lambda: [decode_list_page(p, NODES, REJECTIONS) for p in data.node_pages]
    )
    nodes_first = best_sync(data, targets_first=False)
    eligible = [len(t.eligible) for t in nodes_first.state.targets.values()]
    cross_check(nodes_first.state, 1000.0)
    targets_first = best_sync(data, targets_first=True)
    nodes_first.state = ClusterState(UNREADY_GRACE)
    cross_check(targets_first.state, 1000.0)
    if targets_first.desired != nodes_first.desired or cold.desired != nodes_first.desired:
        raise SystemExit("sanity: desired counts differ between sync orders")
    state, targets_first.state = targets_first.state, ClusterState(UNREADY_GRACE)
    figures = SyncFigures(loads, decode, cold.timing, nodes_first, targets_first, eligible, pairs)
    return figures, state


# --- (b) watch events ----------------------------------------------------------------------


@dataclass(slots=True)
class EventResult:
    cpu_ns: list[int]
    wall_ns: list[int]
    kinds: list[str]
    changed_targets: int
    unchanged_views: int


def apply_events(state: ClusterState, events: list[tuple[str, bytes]]) -> EventResult:
    """Bytes to decision for each event, timed one by one."""
    cpu_clock, wall_clock = time.thread_time_ns, time.perf_counter_ns
    result = EventResult([], [], [], 0, 0)
    now = 2000.0
    for kind, line in events:
        now += EVENT_SPACING
        cpu, wall = cpu_clock(), wall_clock()
        event = parse_watch_line(line)
        NODES.key(event.object)
        view = NODES.view(event.object)
        assert isinstance(view, NodeView)
        changed = state.upsert_node(view, now)
        for key in changed:
            target = state.targets[key]
            if target.view.config is not None:
                desired_replicas(len(target.eligible), target.view.config, REPLICA_CAP)
        result.cpu_ns.append(cpu_clock() - cpu)
        result.wall_ns.append(wall_clock() - wall)
        result.kinds.append(kind)
        result.changed_targets += len(changed)
        # An unchanged view leaves the stored object in place.
        result.unchanged_views += state.nodes[view.name] is not view
    return result


def percentile(values: list[int], q: float) -> float:
    """The q-quantile in milliseconds (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def latency(values: list[int]) -> str:
    return (
        f"p50 {percentile(values, 0.5):.3f} ms, p99 {percentile(values, 0.99):.3f} ms, "
        f"max {max(values) / 1e6:.3f} ms"
    )
