"""What the probes and /status say about the running process: the event loop's heartbeat,
the watches' health and sync, leadership, and every target's status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from nodecount_scaler import __version__, metrics
from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.lease_thread import LeaseThread
from nodecount_scaler.http.app import Check, Probes
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.report import status_json

HEARTBEAT_PERIOD: Final = 0.5
# The event loop counts as stuck when a heartbeat is this late.
LOOP_STALL: Final = 5.0


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


@dataclass(frozen=True, slots=True)
class ServiceChecks:
    """The answers of /healthz, /readyz and /status, read from the parts they describe."""

    identity: str
    dry_run: bool
    heartbeat: Heartbeat
    reflectors: Sequence[Reflector[Any, Any]]
    controller: Controller
    # None: no leader election (this instance always leads).
    lease: LeaseThread | None

    @property
    def probes(self) -> Probes:
        return Probes(self.health, self.ready, self.status)

    @property
    def leading(self) -> bool:
        return self.lease.is_leader if self.lease is not None else True

    def health(self) -> Check:
        now = time.monotonic()
        loop_age = now - self.heartbeat.last
        # A reflector is stalled when it shows no sign of life for longer than one full cycle.
        stalled = [r.name for r in self.reflectors if now - r.last_progress > r.max_silence]
        lag = self.heartbeat.lag
        ok = loop_age < LOOP_STALL and lag < LOOP_STALL and not stalled
        return Check(
            ok,
            {
                "event_loop_lag_seconds": round(max(loop_age - HEARTBEAT_PERIOD, lag), 3),
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
            "dry_run": self.dry_run,
            "synced": all(r.synced.is_set() for r in self.reflectors),
            "nodes": len(self.controller.state.nodes),
            "targets": [status_json(s) for s in self.controller.status()],
        }
