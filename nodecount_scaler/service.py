"""The process: reflectors, controller, leader election, HTTP listeners, signals.

Threads: the main event loop runs the watches, the controller (the leader's work) and both
HTTP listeners; leader election runs on a thread of its own with its own loop and client
(control/lease_thread.py), so no load on the main loop can cost the Lease.

Shutdown order on SIGTERM/SIGINT: stop taking new work and let an in-flight reconcile
finish (its write must not be cut in half), give up leadership (the lease is released so a
successor takes over at once), stop the watches, close the HTTP listeners and the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from typing import Any, Final

import structlog

from nodecount_scaler import __version__, allocator, limits
from nodecount_scaler.assembly import Process, assemble
from nodecount_scaler.http.tls import TlsError
from nodecount_scaler.kube.client import ConfigError, KubeClient
from nodecount_scaler.kube.config import load_configuration
from nodecount_scaler.kube.version import admit, read_server_version
from nodecount_scaler.settings import Settings

log = structlog.get_logger(__name__)

DRAIN_TIMEOUT: Final = 3.0


class Service:
    """Runs the assembled parts (assembly.py) until stopped."""

    def __init__(self, parts: Process) -> None:
        self.parts = parts
        self.settings = parts.settings
        self.controller = parts.controller

    async def _lead(self) -> None:
        watches = self.parts.watches
        await asyncio.gather(*(r.synced.wait() for r in watches.every))
        log.info("caches synced; reconciling", targets=len(self.controller.state.targets))
        # The lists' pages are decoded and dropped: hand their free pages back.
        allocator.trim()
        await self.controller.run_workers(fresh_node_list=watches.nodes.fresh_list)

    async def _leader_loop(self) -> None:
        if self.parts.lease is None:
            await self._lead()
        else:
            await self.parts.lease.run(self._lead)

    async def run(self, stop: asyncio.Event) -> bool:
        """Serve until `stop` is set (returns True) or a task fails (returns False)."""
        parts, settings = self.parts, self.settings
        await parts.endpoints.start(settings.health_addr, settings.metrics_addr)
        log.info(
            "started",
            version=__version__,
            identity=parts.identity,
            api=parts.client.host,
            health_addr=settings.health_addr,
            metrics_addr=settings.metrics_addr,
            metrics_secure=settings.metrics_secure,
            dry_run=settings.dry_run,
            leader_elect=parts.lease is not None,
            namespaces=list(settings.namespaces) or "all",
        )
        background: list[asyncio.Task[None]] = [
            asyncio.create_task(r.run(), name=f"reflector {r.name}") for r in parts.watches.every
        ]
        background.append(asyncio.create_task(self.controller.run_grace_timer(), name="grace"))
        background.append(asyncio.create_task(parts.heartbeat.run(), name="heartbeat"))
        leader_task = asyncio.create_task(self._leader_loop(), name="leader")
        stop_wait = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                [stop_wait, leader_task, *background], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not stop_wait and not task.cancelled() and task.exception():
                    log.error("task failed", task=task.get_name(), error=repr(task.exception()))
        finally:
            log.info("stopping")
            await self.controller.drain(DRAIN_TIMEOUT)
            for task in (leader_task, stop_wait):
                task.cancel()
            # Leadership goes first, so the lease is released while the client still works.
            with contextlib.suppress(asyncio.CancelledError):
                await leader_task
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await parts.endpoints.stop()
            log.info("stopped")
        return stop.is_set()


async def run_service(settings: Settings) -> int:
    allocator.tune()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.set_exception_handler(ThrottledLoopErrors())
    try:
        configuration = await load_configuration(settings.kubeconfig, settings.context)
    except ConfigError as exc:
        log.error("cannot load Kubernetes configuration", error=str(exc))
        return 2
    async with KubeClient(configuration) as client:
        version = await read_server_version(client, stop)
        if version is None:  # stopped before the API server answered
            return 0
        if not admit(version):
            return 2
        try:
            parts = await assemble(settings, configuration, client)
        except (ValueError, TlsError) as exc:
            log.error("invalid settings", error=str(exc))
            return 2
        try:
            stopped_by_signal = await Service(parts).run(stop)
        except TlsError as exc:  # the self-signed certificate could not be made
            log.error("cannot serve the metrics listener", error=str(exc))
            return 2
        finally:
            await parts.close()
    return 0 if stopped_by_signal else 1


class ThrottledLoopErrors:
    """asyncio's exception handler, at most LOOP_ERRORS_LOGGED_PER_MINUTE reports a minute:
    a flood of broken connections must not become a flood of log lines."""

    def __init__(self) -> None:
        self._window = -math.inf
        self._logged = 0
        self._dropped = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._window >= 60.0:
            if self._dropped:
                log.warning("asyncio errors not logged in the last minute", count=self._dropped)
            self._window, self._logged, self._dropped = now, 0, 0
        if self._logged >= limits.LOOP_ERRORS_LOGGED_PER_MINUTE:
            self._dropped += 1
            return
        self._logged += 1
        loop.default_exception_handler(context)
