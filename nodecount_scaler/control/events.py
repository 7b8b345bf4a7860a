"""Kubernetes Events on target Deployments (core/v1, as `kubectl describe` shows them).

Warnings about a standing condition (invalid annotation, template finding, conflicting HPA)
repeat at most once per window per target and message, so a long-lived problem does not
flood the namespace's events; every replica change is always recorded.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable
from typing import Final, Literal

import structlog

from nodecount_scaler import metrics
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.kinds import BUILTIN
from nodecount_scaler.model.targets import FindingKind, TargetKey

log = structlog.get_logger(__name__)

COMPONENT: Final = "nodecount-scaler"
EventType = Literal["Normal", "Warning"]


class Reason(enum.StrEnum):
    """The reasons of the Events this service writes (besides template findings)."""

    RESCALED = "Rescaled"
    DRIFT_CORRECTED = "DriftCorrected"
    INVALID_ANNOTATION = "InvalidAnnotation"
    INVALID_TEMPLATE = "InvalidTemplate"
    CONFLICTING_AUTOSCALER = "ConflictingAutoscaler"
    SCALE_DOWN_HELD = "ScaleDownHeld"


EventReason = Reason | FindingKind
# Every reason an Event of this service can carry: the README's Events table lists these.
EVENT_REASONS: Final = frozenset(Reason) | frozenset(FindingKind)


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        *,
        instance: str,
        dry_run: bool,
        repeat_window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.instance = instance
        self.dry_run = dry_run
        self.repeat_window = repeat_window
        self._clock = clock
        self._last: dict[tuple[TargetKey, str, str], float] = {}
        # Kind -> apiVersion of the involved object; custom workloads are added at start-up.
        self.api_versions: dict[str, str] = {w.kind: w.api_version for w in BUILTIN}

    def should_emit(self, target: TargetKey, reason: EventReason, topic: str) -> bool:
        """True unless the same (reason, topic) was emitted for the target within the window."""
        now = self._clock()
        key = (target, reason, topic)
        last = self._last.get(key)
        if last is not None and now - last < self.repeat_window:
            return False
        self._last[key] = now
        return True

    def forget(self, target: TargetKey) -> None:
        for key in [k for k in self._last if k[0] == target]:
            del self._last[key]

    async def warn_once(
        self, target: TargetKey, uid: str, reason: EventReason, message: str, *, topic: str = ""
    ) -> bool:
        """Emit a Warning unless one with the same reason and topic went out within the window.

        The topic tells apart distinct problems of one reason (two invalid annotations); it
        leaves out counts that change, so a standing condition is not re-announced at every
        node change."""
        if not self.should_emit(target, reason, topic):
            return False
        await self.emit(target, uid, "Warning", reason, message)
        return True

    async def emit(
        self, target: TargetKey, uid: str, type_: EventType, reason: EventReason, message: str
    ) -> None:
        if self.dry_run:
            log.info("would emit event", event_type=type_, reason=reason, message=message)
            return
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{target.name}.", "namespace": target.namespace},
            "involvedObject": {
                "apiVersion": self.api_versions.get(target.kind, "apps/v1"),
                "kind": target.kind,
                "namespace": target.namespace,
                "name": target.name,
                "uid": uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.client.request(
                "POST", resources.events_path(target.namespace), body=body, timeout=5.0
            )
        except ApiError as exc:
            # An Event is a report, not the job: log and go on.
            log.error(
                "could not emit event",
                reason=reason,
                error=str(exc),
                hint="the service account needs create on events" if exc.forbidden else None,
            )
            return
        metrics.EVENTS_EMITTED.labels(type_, reason).inc()
