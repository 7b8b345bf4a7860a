"""The process: reflectors, controller, leader election, HTTP endpoint, signals.

Shutdown order on SIGTERM/SIGINT: stop taking new work and let an in-flight reconcile
finish (its write must not be cut in half), give up leadership (the lease is released so a
successor takes over at once), stop the watches, close the HTTP server and the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from nodecount_scaler import __version__, metrics
from nodecount_scaler.control.leader import (
    LeaderElector,
    default_identity,
    default_lease_namespace,
)
from nodecount_scaler.http import Check, Probes, make_app, start_server
from nodecount_scaler.kube.client import ConfigError, KubeClient
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


class Service:
    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        kinds: Sequence[WorkloadKind] = (DEPLOYMENT,),
    ) -> None:
        self.settings = settings
        self.client = client
        self.elector: LeaderElector | None = None
        identity = default_identity()
        if settings.leader_elect:
            config = LeaderElectionConfig(
                namespace=settings.leader_election_namespace or default_lease_namespace(),
                name=settings.leader_election_id,
                identity=identity,
                lease_duration=settings.leader_election_lease_duration,
                renew_deadline=settings.leader_election_renew_deadline,
                retry_period=settings.leader_election_retry_period,
            )
            self.elector = LeaderElector(client, config)
        self.identity = identity
        state = build_state(settings)
        self.controller = build_controller(client, state, settings, identity, kinds)
        self.reflectors = build_reflectors(client, self.controller.sinks, settings, kinds)
        self.heartbeat = Heartbeat()

    @property
    def leading(self) -> bool:
        return self.elector.is_leader if self.elector is not None else True

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
            "leader_election": self.elector is not None,
            "leading": self.leading,
            "leader": self.elector.leader_identity if self.elector else self.identity,
            "dry_run": self.settings.dry_run,
            "synced": all(r.synced.is_set() for r in self.reflectors),
            "nodes": len(self.controller.state.nodes),
            "targets": [status_json(s) for s in self.controller.status()],
        }

    async def _lead(self) -> None:
        await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
        log.info("caches synced; reconciling", targets=len(self.controller.state.targets))
        # The first reflector watches the nodes (wiring.build_reflectors).
        await self.controller.run_workers(fresh_node_list=self.reflectors[0].fresh_list)

    async def _leader_loop(self) -> None:
        if self.elector is None:
            await self._lead()
        else:
            await self.elector.run(self._lead)

    async def run(self, stop: asyncio.Event) -> bool:
        """Serve until `stop` is set (returns True) or a task fails (returns False)."""
        runner = await start_server(
            make_app(Probes(self.health, self.ready, self.status)), self.settings.health_addr
        )
        log.info(
            "started",
            version=__version__,
            identity=self.identity,
            api=self.client.host,
            health_addr=self.settings.health_addr,
            dry_run=self.settings.dry_run,
            leader_elect=self.elector is not None,
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
            await runner.cleanup()
            log.info("stopped")
        return stop.is_set()


async def run_service(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await KubeClient.connect(settings.kubeconfig, settings.context)
    except ConfigError as exc:
        log.error("cannot load Kubernetes configuration", error=str(exc))
        return 2
    async with client:
        try:
            service = Service(client, settings, await workloads(client, settings))
        except ValueError as exc:
            log.error("invalid settings", error=str(exc))
            return 2
        stopped_by_signal = await service.run(stop)
    return 0 if stopped_by_signal else 1
