"""The process: reflectors, controller, leader election, HTTP listeners, signals.

Threads: the main event loop runs the watches, the controller (the leader's work) and both
HTTP listeners; leader election runs on a thread of its own with its own loop and client
(control/leadership.py), so no load on the main loop can cost the Lease.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from nodecount_scaler import __version__, allocator, limits, metrics
from nodecount_scaler.control.leader import default_identity, default_lease_namespace
from nodecount_scaler.control.leadership import LeaderOnlyClient, LeaseThread
from nodecount_scaler.http.app import Check, Probes
from nodecount_scaler.http.server import Endpoints
from nodecount_scaler.http.tls import TlsError
from nodecount_scaler.kube.client import ConfigError, KubeClient
from nodecount_scaler.kube.config import load_configuration
from nodecount_scaler.kube.version import admit, read_server_version
from nodecount_scaler.model.kinds import DEPLOYMENT, WorkloadKind
from nodecount_scaler.model.lease import LeaderElectionConfig
from nodecount_scaler.report import status_json
from nodecount_scaler.settings import Settings
from nodecount_scaler.wiring import build_controller, build_reflectors, build_state, workloads

log = structlog.get_logger(__name__)

HEARTBEAT_PERIOD: Final = 0.5
# The event loop counts as stuck when a heartbeat is this late.
LOOP_STALL: Final = 5.0
DRAIN_TIMEOUT: Final = 3.0


@dataclass(slots=True)
class Heartbeat:
    """Measures event-loop lag; a blocked loop delays every watch and lease renewal."""

    last: float = field(default_factory=time.monotonic)
    lag: float = 0.0

    async def run(self) -> None:
        while True:
            expected = time.monotonic() + HEARTBEAT_PERIOD
            await asyncio.sleep(HEARTBEAT_PERIOD)
            now = time.monotonic()
            self.lag = max(0.0, now - expected)
            self.last = now
            metrics.EVENT_LOOP_LAG.set(self.lag)


def election_config(settings: Settings, identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace=settings.leader_election_namespace or default_lease_namespace(),
        name=settings.leader_election_id,
        identity=identity,
        lease_duration=settings.leader_election_lease_duration,
        renew_deadline=settings.leader_election_renew_deadline,
        retry_period=settings.leader_election_retry_period,
    )


class Service:
    """`client` reads (watches, reviews); `writer` writes (scales, pod annotations, Events):
    with leader election a LeaderOnlyClient bound to `lease`, else the same client."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        kinds: Sequence[WorkloadKind] = (DEPLOYMENT,),
        *,
        writer: KubeClient | None = None,
        lease: LeaseThread | None = None,
        identity: str | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.lease = lease
        self.identity = identity or default_identity()
        state = build_state(settings)
        self.controller = build_controller(writer or client, state, settings, self.identity, kinds)
        self.reflectors = build_reflectors(client, self.controller.sinks, settings, kinds)
        self.heartbeat = Heartbeat()
        self.endpoints = Endpoints(
            client,
            Probes(self.health, self.ready, self.status),
            secure=settings.metrics_secure,
            cert_file=settings.tls_cert_file,
            key_file=settings.tls_key_file,
        )

    @property
    def leading(self) -> bool:
        return self.lease.is_leader if self.lease is not None else True

    def health(self) -> Check:
        now = time.monotonic()
        loop_age = now - self.heartbeat.last
        # A reflector is stalled when it shows no sign of life for longer than one full cycle.
        stalled = [r.name for r in self.reflectors if now - r.last_progress > r.max_silence]
        ok = loop_age < LOOP_STALL and self.heartbeat.lag < LOOP_STALL and not stalled
        return Check(
            ok,
            {
                "event_loop_lag_seconds": round(
                    max(loop_age - HEARTBEAT_PERIOD, self.heartbeat.lag), 3
                ),
                "stalled_watches": stalled,
            },
        )

    def ready(self) -> Check:
        # A follower is ready once its caches are synced: it can take over at once.
        waiting = [r.name for r in self.reflectors if not r.synced.is_set()]
        disconnected = [r.name for r in self.reflectors if not r.connected]
        return Check(
            not waiting and not disconnected,
            {"unsynced": waiting, "disconnected": disconnected, "leading": self.leading},
        )

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "identity": self.identity,
            "leader_election": self.lease is not None,
            "leading": self.leading,
            "leader": self.lease.leader_identity if self.lease else self.identity,
            "dry_run": self.settings.dry_run,
            "synced": all(r.synced.is_set() for r in self.reflectors),
            "nodes": len(self.controller.state.nodes),
            "targets": [status_json(s) for s in self.controller.status()],
        }

    async def _lead(self) -> None:
        await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
        log.info("caches synced; reconciling", targets=len(self.controller.state.targets))
        # The lists' pages are decoded and dropped: hand their free pages back.
        allocator.trim()
        # The first reflector watches the nodes (wiring.build_reflectors).
        await self.controller.run_workers(fresh_node_list=self.reflectors[0].fresh_list)

    async def _leader_loop(self) -> None:
        if self.lease is None:
            await self._lead()
        else:
            await self.lease.run(self._lead)

    async def run(self, stop: asyncio.Event) -> bool:
        """Serve until `stop` is set (returns True) or a task fails (returns False)."""
        await self.endpoints.start(self.settings.health_addr, self.settings.metrics_addr)
        log.info(
            "started",
            version=__version__,
            identity=self.identity,
            api=self.client.host,
            health_addr=self.settings.health_addr,
            metrics_addr=self.settings.metrics_addr,
            metrics_secure=self.settings.metrics_secure,
            dry_run=self.settings.dry_run,
            leader_elect=self.lease is not None,
            namespaces=list(self.settings.namespaces) or "all",
        )
        background: list[asyncio.Task[None]] = [
            asyncio.create_task(r.run(), name=f"reflector {r.name}") for r in self.reflectors
        ]
        background.append(asyncio.create_task(self.controller.run_grace_timer(), name="grace"))
        background.append(asyncio.create_task(self.heartbeat.run(), name="heartbeat"))
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
            await self.endpoints.stop()
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
    identity = default_identity()
    try:
        lease = (
            LeaseThread(
                election_config(settings, identity),
                # Its own configuration and connection, made on the lease thread's loop.
                lambda: KubeClient.connect(settings.kubeconfig, settings.context),
            )
            if settings.leader_elect
            else None
        )
    except ValueError as exc:
        log.error("invalid settings", error=str(exc))
        return 2
    writer = LeaderOnlyClient(configuration, term_left=lease.term_left) if lease else None
    try:
        async with KubeClient(configuration) as client:
            version = await read_server_version(client, stop)
            if version is None:  # stopped before the API server answered
                return 0
            if not admit(version):
                return 2
            try:
                kinds = await workloads(client, settings)
                service = Service(
                    client, settings, kinds, writer=writer, lease=lease, identity=identity
                )
            except (ValueError, TlsError) as exc:
                log.error("invalid settings", error=str(exc))
                return 2
            try:
                stopped_by_signal = await service.run(stop)
            except TlsError as exc:  # the self-signed certificate could not be made
                log.error("cannot serve the metrics listener", error=str(exc))
                return 2
    finally:
        if writer is not None:
            await writer.close()
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
