"""The controller: watch sinks feed the cluster state, changed targets go to the work queue,
workers reconcile them.

The state is kept current on every instance, leader or not, so a new leader acts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import structlog

from nodecount_scaler import metrics
from nodecount_scaler.control.queue import WorkQueue
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.control.sinks import Hooks, Sinks
from nodecount_scaler.kube.client import ApiError
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.status import TargetStatus
from nodecount_scaler.model.targets import TargetKey

log = structlog.get_logger(__name__)

QUEUE_NAME: Final = "targets"
# Seconds after leadership starts before the caches are frozen (see _freeze_caches).
FREEZE_AFTER: Final = 2.0
CONTROLLER_NAME: Final = "nodecount-scaler"
# This controller's series, looked up once (labels() is not free on the hot path).
RECONCILE_TIME: Final = metrics.RECONCILE_TIME.labels(CONTROLLER_NAME)
RECONCILE_RESULTS: Final = {
    result: metrics.RECONCILE_TOTAL.labels(CONTROLLER_NAME, result)
    for result in ("success", "error", "requeue")
}


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
        self.workers = workers
        self._clock = clock
        self._grace_changed = asyncio.Event()
        # Wakes the blast-radius guard's confirmation when a target is held.
        self._held = asyncio.Event()
        self._stopping = False
        self._leading = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Target -> when a watch event first changed it since its last reconcile.
        self._changed_at: dict[TargetKey, float] = {}
        self.sinks = Sinks(
            state,
            clock,
            Hooks(
                targets_changed=self._targets_changed,
                target_seen=reconciler.observe,
                nodes_stored=self._nodes_stored,
                targets_stored=self._targets_stored,
                target_removed=_log_unmanaged,
            ),
        )

    def enqueue(self, keys: Iterable[TargetKey]) -> None:
        for key in keys:
            self.queue.add(key)

    def _targets_changed(self, keys: Iterable[TargetKey]) -> None:
        """A watch event moved these targets: remember when, for the reaction metric (the
        first unanswered change counts), and queue them."""
        now = self._clock()
        for key in keys:
            self._changed_at.setdefault(key, now)
            self.queue.add(key)

    def enqueue_all(self) -> None:
        self.enqueue(list(self.state.targets))

    def _nodes_stored(self) -> None:
        metrics.CACHED_NODES.set(len(self.state.nodes))
        # A node may have entered or left its NotReady grace: re-arm the timer.
        self._grace_changed.set()

    async def run_guard(self, fresh_node_list: Callable[[], Awaitable[None]]) -> None:
        """Confirm held scale-downs (model/guard.py): once the hold has lasted the guard's
        delay, ask for a fresh list of nodes, wait until it has been applied, then decide
        the held targets again from it."""
        guard = self.reconciler.guard
        if guard is None:
            return
        while True:
            due = guard.confirmation_due()
            if due is None:
                self._held.clear()
                await self._held.wait()
                continue
            await asyncio.sleep(max(0.0, due - self._clock()))
            await fresh_node_list()
            released = guard.confirmed()
            metrics.SCALE_DOWNS_HELD.set(len(guard.held))
            log.info("node list confirmed; held scale-downs decided again", targets=len(released))
            self.enqueue(released)

    def _targets_stored(self) -> None:
        metrics.MANAGED_TARGETS.set(len(self.state.targets))
        metrics.INVALID_TARGETS.set(len(self.state.invalid))

    async def run_grace_timer(self) -> None:
        """Re-evaluate nodes whose NotReady grace ran out (no event marks that moment)."""
        while True:
            deadline = self.state.next_grace_expiry()
            self._grace_changed.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._grace_changed.wait(), timeout)
            self.enqueue(self.state.expire_grace(self._clock()))

    async def run_workers(
        self, fresh_node_list: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Reconcile queued targets until cancelled (the leader's work); `fresh_node_list`
        makes the node reflector list afresh (the blast-radius guard's confirmation)."""
        # Everything may have changed while another instance led: look at every target. The
        # changes it already answered are not this instance's reactions.
        self._changed_at.clear()
        self.enqueue_all()
        self._leading = True
        try:
            await self._run_leader_tasks(fresh_node_list)
        finally:
            self._leading = False

    @staticmethod
    async def _freeze_caches() -> None:
        """The synced caches (every Node and target view) live until the next relist and
        hold no reference cycles: out of the cyclic collector's full passes, which otherwise
        stop the loop for tens of milliseconds every few seconds of churn. A collection
        first (cyclic garbage frozen with them would never be freed), once the first writes
        are out: at 5,000 nodes and 2,000 targets it takes about 0.15 s."""
        await asyncio.sleep(FREEZE_AFTER)
        gc.collect()
        gc.freeze()

    async def _run_leader_tasks(
        self, fresh_node_list: Callable[[], Awaitable[None]] | None
    ) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._freeze_caches(), name="freeze")
            # Event series over their write budget are written by the leader only.
            group.create_task(self.reconciler.events.run(), name="events")
            # Pods are read only to steer the leader's scale-downs: a follower watches none.
            if self.reconciler.pod_caches is not None:
                group.create_task(self.reconciler.pod_caches.run(), name="pod caches")
            for _ in range(self.workers):
                group.create_task(self._worker())
            if fresh_node_list is not None:
                group.create_task(self.run_guard(fresh_node_list))

    async def drain(self, timeout: float) -> None:
        """Take no new keys and wait (bounded) for the reconciles in flight to finish."""
        self._stopping = True
        deadline = self._clock() + timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
            if not self._leading:
                return
            # The occurrences still held back by the Events' rate limit, in what time is left.
            await asyncio.wait_for(
                self.reconciler.events.flush_due(everything=True),
                max(0.0, deadline - self._clock()),
            )

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
                await self._process(key)
            finally:
                self._active -= 1
                if not self._active:
                    self._idle.set()
                self.queue.done(key)
                RECONCILE_TIME.observe(time.perf_counter() - started)

    async def _process(self, key: TargetKey) -> None:
        """One reconcile and what its outcome means for the queue (controller-runtime's
        processNextWorkItem): error -> back off, requeue_after -> look again later."""
        try:
            result = await self.reconciler.reconcile(key)
        except ApiError as exc:
            # A 429 or 503 says how long to stay away: at least that long, then.
            delay = self.queue.retry(key, exc.retry_after or 0.0)
            RECONCILE_RESULTS["error"].inc()
            log.warning(
                "reconcile failed, will retry", target=str(key), error=str(exc), retry_in=delay
            )
            return
        except Exception:
            # A bug must not take the worker (and with it every target) down.
            delay = self.queue.retry(key)
            RECONCILE_RESULTS["error"].inc()
            log.exception("reconcile crashed", target=str(key), retry_in=round(delay, 3))
            return
        self.queue.forget(key)
        if result.held:
            self._held.set()
        changed_at = self._changed_at.pop(key, None)
        if result.wrote_at is not None and changed_at is not None:
            metrics.REACTION_TIME.observe(max(0.0, result.wrote_at - changed_at))
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
            RECONCILE_RESULTS["requeue"].inc()
        else:
            RECONCILE_RESULTS["success"].inc()

    def status(self) -> list[TargetStatus]:
        """Every target's status, as `/status` shows it."""
        return [self.reconciler.status(key) for key in sorted(self.state.targets)]


def _log_unmanaged(key: TargetKey) -> None:
    log.info("target no longer managed; replicas left as they are", target=str(key))
