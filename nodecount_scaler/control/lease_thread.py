"""Leadership that a busy event loop cannot lose: the elector on a thread of its own.

The Lease is renewed from its own thread, on its own event loop, over its own client (its
own connection to the API server), so a flood of HTTP requests or a long relist on the main
loop cannot delay a renewal past the renew deadline. The leader's work (the controller)
stays on the main loop: the elector starts it there and cancels it there through
`MainLoopWork`, and waits until it has really stopped before releasing the Lease.

Writes go through `LeaderOnlyClient`, which asks `is_leader` (computed on the monotonic
clock from the start of the last successful renewal, readable from any thread) right
before each write, and gives the write a timeout no longer than what is left of the term:
a write that has not gone out by the renew deadline is abandoned instead of sent. What
cannot be guaranteed: a request already on the wire cannot be recalled; one sent a moment
before the deadline may reach the API server after it (see election.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog

from nodecount_scaler.control.election import LeaderElector, Work
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.lease import LeaderElectionConfig

log = structlog.get_logger(__name__)

# How long shutdown waits for the lease thread (work stopped, Lease released) to finish.
THREAD_STOP_TIMEOUT: Final = 10.0


class MainLoopWork:
    """The leader's work as a task on another loop (the main one), seen from the elector's
    loop: `finished` settles (result, exception or cancelled) once the task has ended."""

    def __init__(self, main: asyncio.AbstractEventLoop, work: Work) -> None:
        self._home = asyncio.get_running_loop()
        self._main = main
        self._finished: asyncio.Future[None] = self._home.create_future()
        self._task: asyncio.Task[None] | None = None
        self._cancel_requested = False
        main.call_soon_threadsafe(self._start, work)

    @property
    def finished(self) -> asyncio.Future[None]:
        return self._finished

    def cancel(self) -> None:
        self._main.call_soon_threadsafe(self._cancel_on_main)

    # -- on the main loop

    def _start(self, work: Work) -> None:
        self._task = self._main.create_task(_run(work), name="leader-work")
        self._task.add_done_callback(self._ended)
        if self._cancel_requested:
            self._task.cancel()

    def _cancel_on_main(self) -> None:
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()

    def _ended(self, task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        self._home.call_soon_threadsafe(self._settle, task.cancelled(), exc)

    # -- back on the elector's loop

    def _settle(self, cancelled: bool, exc: BaseException | None) -> None:
        if self._finished.done():
            return
        if cancelled:
            self._finished.cancel()
        elif exc is not None:
            self._finished.set_exception(exc)
        else:
            self._finished.set_result(None)


async def _run(work: Work) -> None:
    await work()


class LeaseThread:
    """Runs a LeaderElector on a thread of its own (see the module)."""

    def __init__(
        self,
        config: LeaderElectionConfig,
        connect: Callable[[], Awaitable[KubeClient]],
    ) -> None:
        config.validate()
        self.config = config
        self._connect = connect
        self._elector: LeaderElector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = threading.Lock()

    @property
    def is_leader(self) -> bool:
        elector = self._elector
        return elector is not None and elector.is_leader

    @property
    def leader_identity(self) -> str | None:
        elector = self._elector
        return elector.leader_identity if elector is not None else None

    def term_left(self) -> float:
        """Seconds until the renew deadline; 0 or less when not leading."""
        elector = self._elector
        return elector.term_left() if elector is not None else 0.0

    async def run(self, leader_work: Work) -> None:
        """Elect on the thread, run `leader_work` on this (the main) loop while leading.
        Runs until cancelled; then the work is stopped and the Lease released first."""
        main = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException | None] = main.create_future()

        def report(outcome: BaseException | None) -> None:
            if not ended.done():
                ended.set_result(outcome)

        def thread_main() -> None:
            outcome: BaseException | None = None
            try:
                asyncio.run(self._elect(main, leader_work))
            except BaseException as exc:  # noqa: BLE001 - handed to the main loop
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the main loop is already closed
                main.call_soon_threadsafe(report, outcome)

        thread = threading.Thread(target=thread_main, name="lease", daemon=True)
        thread.start()
        try:
            outcome = await asyncio.shield(ended)
        except asyncio.CancelledError:
            self._stop()
            # The main loop keeps running meanwhile: the work it hosts must unwind here.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ended), THREAD_STOP_TIMEOUT)
            raise
        if outcome is not None and not isinstance(outcome, asyncio.CancelledError):
            raise outcome

    def _stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    async def _elect(self, main: asyncio.AbstractEventLoop, leader_work: Work) -> None:
        with self._lock:
            if self._stopping:
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        async with await self._connect() as client:
            self._elector = LeaderElector(
                client, self.config, spawn=lambda work: MainLoopWork(main, work)
            )
            await self._elector.run(leader_work)


class LeaderOnlyClient(KubeClient):
    """A KubeClient whose writes (any method but GET) go out only while `term_left()` is
    positive, each with a timeout no longer than what is left of the term."""

    def __init__(self, *args: Any, term_left: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._term_left = term_left

    def _timeout_for(self, method: str, path: str, timeout: float | None) -> float:
        seconds = super()._timeout_for(method, path, timeout)
        if method == "GET":
            return seconds
        left = self._term_left()
        if left <= 0:
            raise ApiError(method, path, 0, "NotLeader", "not leading; write not sent")
        return min(seconds, left)
