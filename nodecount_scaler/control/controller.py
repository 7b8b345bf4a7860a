"""The controller: watch sinks feed the cluster state, changed targets go to the work queue,
workers reconcile them.

Event handlers only update the state and enqueue the keys the state says changed
(sample-controller's split); all decisions happen in the reconcile. The state is kept
current on every instance, leader or not, so a new leader acts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final

import structlog

from nodecount_scaler import metrics
from nodecount_scaler.control.queue import WorkQueue
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.kube.client import ApiError
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.state import ClusterState, HpaKey
from nodecount_scaler.model.targets import TargetKey, TargetView

log = structlog.get_logger(__name__)

QUEUE_NAME: Final = "targets"
CONTROLLER_NAME: Final = "nodecount-scaler"


class Controller:
    def __init__(
        self,
        state: ClusterState,
        reconciler: Reconciler,
        *,
        workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.reconciler = reconciler
        self.queue: WorkQueue[TargetKey] = WorkQueue(QUEUE_NAME)
        reconciler.requeue_after = self.queue.add_after
        self.workers = workers
        self._clock = clock
        self._grace_changed = asyncio.Event()
        self._stopping = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.nodes = _NodeSink(self)

    def target_sink(self, namespace: str | None) -> _TargetSink:
        """The sink for one Deployment watch: all namespaces (None) or one."""
        return _TargetSink(self, namespace)

    def hpa_sink(self, namespace: str | None) -> _HpaSink:
        return _HpaSink(self, namespace)

    def enqueue(self, keys: Iterable[TargetKey]) -> None:
        for key in keys:
            self.queue.add(key)

    def enqueue_all(self) -> None:
        self.enqueue(list(self.state.targets))

    def _after_node_change(self, changed: Iterable[TargetKey]) -> None:
        self.enqueue(changed)
        metrics.NODES.set(len(self.state.nodes))
        # A node may have entered or left its NotReady grace: re-arm the timer.
        self._grace_changed.set()

    async def run_grace_timer(self) -> None:
        """Re-evaluate nodes whose NotReady grace ran out (no event marks that moment)."""
        while True:
            deadline = self.state.next_grace_expiry()
            self._grace_changed.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grace_changed.wait(), timeout)
            self.enqueue(self.state.expire_grace(self._clock()))

    async def run_workers(self) -> None:
        """Reconcile queued targets until cancelled (the leader's work)."""
        # Everything may have changed while another instance led: look at every target.
        self.enqueue_all()
        async with asyncio.TaskGroup() as group:
            for _ in range(self.workers):
                group.create_task(self._worker())

    async def drain(self, timeout: float) -> None:
        """Take no new keys and wait (bounded) for the reconciles in flight to finish."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _worker(self) -> None:
        while not self._stopping:
            key = await self.queue.get()
            if self._stopping:
                self.queue.done(key)
                return
            self._active += 1
            self._idle.clear()
            started = time.perf_counter()
            try:
                await self.reconciler.reconcile(key)
            except ApiError as exc:
                delay = self.queue.retry(key)
                metrics.RECONCILE_TOTAL.labels(CONTROLLER_NAME, "error").inc()
                log.warning(
                    "reconcile failed, will retry",
                    target=str(key),
                    error=str(exc),
                    retry_in=round(delay, 3),
                )
            except Exception:
                # A bug must not take the worker (and with it every target) down.
                delay = self.queue.retry(key)
                metrics.RECONCILE_TOTAL.labels(CONTROLLER_NAME, "error").inc()
                log.exception("reconcile crashed", target=str(key), retry_in=round(delay, 3))
            else:
                self.queue.forget(key)
                metrics.RECONCILE_TOTAL.labels(CONTROLLER_NAME, "success").inc()
            finally:
                self._active -= 1
                if not self._active:
                    self._idle.set()
                self.queue.done(key)
                metrics.RECONCILE_TIME.labels(CONTROLLER_NAME).observe(
                    time.perf_counter() - started
                )

    def _after_target_change(self) -> None:
        targets = self.state.targets.values()
        metrics.MANAGED_TARGETS.set(len(targets))
        metrics.INVALID_TARGETS.set(sum(1 for t in targets if not t.view.valid))

    def status(self, *, explain: bool = False) -> list[dict[str, Any]]:
        """Every target's status; `explain` adds why nodes do not count (O(nodes x targets),
        so only for the one-shot `plan`, never for /status on the serving loop)."""
        now = self._clock()
        statuses = []
        for key in sorted(self.state.targets):
            status = self.reconciler.status(key)
            if explain:
                status["excluded"] = dict(
                    sorted(
                        Counter(
                            r.value for r, _ in self.state.excluded_nodes(key, now).values()
                        ).items()
                    )
                )
            statuses.append(status)
        return statuses


class _NodeSink:
    def __init__(self, controller: Controller) -> None:
        self._c = controller

    def replace(self, items: dict[str, NodeView]) -> None:
        c = self._c
        c._after_node_change(c.state.replace_nodes(items.values(), c._clock()))

    def upsert(self, key: str, view: NodeView) -> None:
        c = self._c
        c._after_node_change(c.state.upsert_node(view, c._clock()))

    def delete(self, key: str) -> None:
        c = self._c
        c._after_node_change(c.state.delete_node(key))


class _TargetSink:
    def __init__(self, controller: Controller, namespace: str | None) -> None:
        self._c = controller
        self._namespace = namespace

    def replace(self, items: dict[TargetKey, TargetView]) -> None:
        c = self._c
        for view in items.values():
            c.reconciler.observe(view)
        c.enqueue(c.state.replace_targets(items.values(), c._clock(), self._namespace))
        c._after_target_change()

    def upsert(self, key: TargetKey, view: TargetView) -> None:
        c = self._c
        c.reconciler.observe(view)
        if c.state.upsert_target(view, c._clock()):
            c.enqueue((key,))
        c._after_target_change()

    def delete(self, key: TargetKey) -> None:
        c = self._c
        if c.state.delete_target(key):
            # The reconcile of a missing target drops its records and metrics.
            c.enqueue((key,))
            log.info("target no longer managed; replicas left as they are", target=str(key))
        c._after_target_change()


class _HpaSink:
    def __init__(self, controller: Controller, namespace: str | None) -> None:
        self._c = controller
        self._namespace = namespace

    def replace(self, items: dict[HpaKey, TargetKey]) -> None:
        self._c.enqueue(self._c.state.replace_hpas(items, self._namespace))

    def upsert(self, key: HpaKey, view: TargetKey) -> None:
        self._c.enqueue(self._c.state.upsert_hpa(key, view))

    def delete(self, key: HpaKey) -> None:
        self._c.enqueue(self._c.state.delete_hpa(key))
