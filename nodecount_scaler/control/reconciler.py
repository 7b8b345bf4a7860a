"""One reconcile of one target: read the cached state, decide (model.policy), write.

Level-triggered like sample-controller's syncHandler: whatever event queued the key, the
reconcile recomputes from the caches, so coalesced or missed events cannot leave a target
wrong. The only writes are a merge patch of spec.replicas on the Deployment, the
pod-deletion-cost annotation before a scale-down, and Events; the admission policies in
manifests/base/policies/ let this service account make no other change with them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import structlog
from structlog.contextvars import bound_contextvars

from nodecount_scaler import metrics
from nodecount_scaler.control.events import EventRecorder, Reason
from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.control.steering import Coverage, Steering, write_hint
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.guard import ScaleDownGuard
from nodecount_scaler.model.policy import Action, Cause, ScalePlan, caused_by_nodes, plan_scale
from nodecount_scaler.model.state import ClusterState, TargetState
from nodecount_scaler.model.status import Change, TargetStatus, target_status, topology_findings
from nodecount_scaler.model.targets import TargetKey, TargetView

log = structlog.get_logger(__name__)

# How long a written replica count is trusted over an older observed one: the watch
# delivers our own write shortly after it lands, in order with every other change.
EXPECTATION_TTL: Final = 30.0


@dataclass(slots=True)
class TargetRecord:
    """What the controller remembers of a target between reconciles."""

    last_applied: int | None = None
    # What `last_applied` was decided from (config, placement, topology): a later count
    # decided from other settings is the owner's doing, not the nodes'.
    settings: tuple[object, ...] | None = None
    # An HPA blocked it since `last_applied`: the takeover when the HPA goes is an owner's act.
    blocked: bool = False
    expected: int | None = None
    expected_until: float = 0.0
    last_change: Change | None = None
    last_error: str | None = None
    gauges: metrics.TargetGauges | None = None
    coverage: Coverage = field(default_factory=Coverage)


@dataclass(frozen=True, slots=True)
class Result:
    """What the queue should do with the key after a successful reconcile
    (controller-runtime's reconcile.Result): nothing, or look again after a delay; and when
    the reconcile's replica write was answered, if it wrote one (for the reaction metric)."""

    requeue_after: float | None = None
    wrote_at: float | None = None
    # A scale-down the blast-radius guard holds until a fresh list of nodes confirms it.
    held: bool = False


DONE: Final = Result()


@dataclass(slots=True)
class Reconciler:
    client: KubeClient
    state: ClusterState
    events: EventRecorder
    replica_cap: int
    dry_run: bool
    # False: pod-deletion-cost steering is off (--no-pod-deletion-cost, or a dry run); no
    # pod is read or written.
    steer_pods: bool = False
    # The targets' pod caches (leader only; control/podcache.py); None: every scale-down
    # lists the target's pods once (--pod-watches 0, or steering off).
    pod_caches: PodCaches | None = None
    clock: Callable[[], float] = time.monotonic
    records: dict[TargetKey, TargetRecord] = field(default_factory=dict)
    # None: no blast-radius guard (the command line always sets one).
    guard: ScaleDownGuard | None = None
    # Pods listed by node for the targets past the pod caches' room (control/nodepods.py);
    # None: those list their own pods.
    node_pods: NodePods | None = None
    steering: Steering = field(init=False)

    def __post_init__(self) -> None:
        self.steering = Steering(
            self.client,
            self.state,
            self.events,
            self.steer_pods,
            self.pod_caches,
            self.node_pods,
            self.clock,
        )

    async def reconcile(self, key: TargetKey) -> Result:
        """Raises ApiError on a retryable failure; the caller requeues with backoff."""
        target = self.state.targets.get(key)
        if target is None:
            self._forget(key)
            return DONE
        record = self.records.setdefault(key, TargetRecord())
        with bound_contextvars(target=key.name, namespace=key.namespace):
            try:
                result = await self._reconcile(target, record)
            except ApiError as exc:
                record.last_error = str(exc)
                raise
        record.last_error = None
        return result

    def observe(self, view: TargetView) -> bool:
        """The watch delivered a version of the target (call for every one, in order).

        An expectation is met when the cache shows the written count, as client-go's
        ControllerExpectations are lowered by the informer's handlers: checking only at the
        next reconcile would miss our write when a later change (a hand edit) arrives
        before that reconcile runs, and then the edit would be taken for our stale write.
        Returns True when this version shows the expected write (its echo).
        """
        record = self.records.get(view.key)
        if record is None or record.expected != view.replicas:
            return False
        record.expected = None
        if record.gauges is not None:
            record.gauges.current.set(view.replicas)
        return True

    def _forget(self, key: TargetKey) -> None:
        record = self.records.pop(key, None)
        if self.pod_caches is not None:
            self.pod_caches.retain(key, None)
        if self.guard is not None:
            self.guard.forget(key)
        self.events.forget(key)
        gauges = record.gauges if record is not None else None
        (gauges or metrics.TargetGauges(metric_labels(key))).remove()

    async def _reconcile(self, target: TargetState, record: TargetRecord) -> Result:
        view = target.view
        key = view.key
        if record.gauges is None:
            record.gauges = metrics.TargetGauges(metric_labels(key))
        gauges = record.gauges
        gauges.current.set(view.replicas)
        gauges.invalid.set(0 if view.valid else 1)
        if self.pod_caches is not None:
            self.pod_caches.retain(key, view)
        if not view.valid or view.config is None or view.placement is None:
            # No eligible or desired count exists for an invalid target: no stale value either.
            gauges.remove_counts()
            await self._report_invalid(view)
            return DONE
        for finding in (*view.findings, *topology_findings(target)):
            await self.events.warn_once(key, view.uid, finding.kind, finding.message)

        current, result = self._believed_replicas(view, record)
        settings = (view.config, view.placement, view.topology)
        plan = plan_scale(
            eligible=target.count,
            cores=target.cores,
            current=current,
            config=view.config,
            replica_cap=self.replica_cap,
            last_applied=record.last_applied,
            hpas=self.state.hpas_for(key),
            settings_changed=not _same(record.settings, settings),
        )
        gauges.set_counts(len(target.eligible), plan.desired)
        gauges.conflicts.set(len(plan.hpas))
        self.steering.note_domains(view, record.coverage)

        if plan.action is Action.NONE:
            record.last_applied, record.settings, record.blocked = plan.desired, settings, False
            await self._held(target, record, plan)  # releases a hold whose nodes came back
            return _sooner(result, await self.steering.check_domains(view, record.coverage))
        # At rest later: the pods are looked at then, if a look is due.
        result = _sooner(result, self.steering.due_in(record.coverage))
        if plan.action is Action.BLOCKED_BY_HPA:
            # Ours again only when the HPA goes; that first write is a takeover, not drift.
            record.last_applied, record.blocked = None, True
            await self._report_conflict(target, plan)
            return result
        settling = target.settles_at - self.clock()
        if settling > 0:
            # Too new to write: an HPA applied with it may still be on its way
            # (model/state.py NEW_TARGET_SETTLE). Looked at again once it has settled.
            return _sooner(result, settling)
        if await self._held(target, record, plan):
            return Result(result.requeue_after, held=True)
        wrote_at = await self._scale(target, record, plan)
        return Result(result.requeue_after, wrote_at)

    def _believed_replicas(self, view: TargetView, record: TargetRecord) -> tuple[int, Result]:
        """The replicas to plan from, and the result to return if nothing else requeues."""
        if record.expected is None:
            return view.replicas, DONE
        now = self.clock()
        if view.replicas == record.expected or now >= record.expected_until:
            record.expected = None
            return view.replicas, DONE
        # Our write is not in the cache yet; acting on the older value would write the same
        # change twice. Look again when the expectation lapses, in case a relist skipped our
        # write's version and nothing else wakes us.
        return record.expected, Result(requeue_after=record.expected_until - now)

    async def _report_conflict(self, target: TargetState, plan: ScalePlan) -> None:
        view = target.view
        names = ", ".join(plan.hpas)
        message = (
            f"HorizontalPodAutoscaler {names} also scales this {view.key.kind}; nodecount-scaler "
            f"writes nothing while it does (it would set {plan.desired} replicas for "
            f"{counted(target, plan.eligible)})"
        )
        if await self.events.warn_once(
            view.key, view.uid, Reason.CONFLICTING_AUTOSCALER, message, topic=names
        ):
            log.warning("conflicting autoscaler", hpas=list(plan.hpas), desired=plan.desired)

    async def _held(self, target: TargetState, record: TargetRecord, plan: ScalePlan) -> bool:
        """Ask the blast-radius guard (model/guard.py) whether this write must wait."""
        if self.guard is None:
            return False
        view = target.view
        verdict = self.guard.judge(
            view.key,
            current=plan.current,
            desired=plan.desired,
            node_caused=plan.scaling_down
            and caused_by_nodes(plan.cause, live=target.live, blocked=record.blocked),
            now=self.clock(),
            hand_edit=plan.cause is Cause.DRIFT,
        )
        metrics.SCALE_DOWNS_HELD.set(len(self.guard.held))
        if not verdict.held:
            return False
        if verdict.newly_held:
            policy = self.guard.policy
            peak = self.guard.peak(view.key, plan.current, self.clock())
            message = (
                f"scale-down from {plan.current} to {plan.desired} replicas held: from the "
                f"{peak} the target had within the last {policy.window:g} s it would remove "
                f"more than {policy.share:.0%} ({counted(target, plan.eligible)}); it goes "
                f"ahead if a fresh list of nodes, taken {policy.confirm_delay:g} s after the "
                "first hold, says the same (an empty or broken node list, or deletions "
                "replayed one by one, look like nodes gone)"
            )
            log.warning(
                "scale-down held", **{"from": plan.current, "to": plan.desired, "peak": peak}
            )
            await self.events.warn_once(view.key, view.uid, Reason.SCALE_DOWN_HELD, message)
        return True

    async def _report_invalid(self, view: TargetView) -> None:
        for error in view.annotation_errors:
            message = f"annotation {error.key}={error.value!r} is invalid: {error.problem}"
            if await self.events.warn_once(
                view.key,
                view.uid,
                Reason.INVALID_ANNOTATION,
                message,
                topic=f"{error.key}={error.digest}",
                # One Event per annotation key: a new bad value of it raises its count.
                series=error.key,
            ):
                metrics.INVALID_ANNOTATIONS.labels(error.key).inc()
                log.error(
                    "invalid annotation, target left untouched",
                    key=error.key,
                    value=error.value,
                    problem=error.problem,
                )
        if view.template_error is not None:
            message = f"pod template cannot be evaluated: {view.template_error}"
            if await self.events.warn_once(
                view.key, view.uid, Reason.INVALID_TEMPLATE, message, topic=view.template_error
            ):
                log.error(
                    "invalid pod template, target left untouched", problem=view.template_error
                )

    async def _scale(
        self, target: TargetState, record: TargetRecord, plan: ScalePlan
    ) -> float | None:
        """Write the plan's replicas; the monotonic time the write was answered, or None
        when nothing was written (dry run, target gone)."""
        view = target.view
        key = view.key
        fields: dict[str, object] = {
            "from": plan.current,
            "to": plan.desired,
            "eligible": len(target.eligible),
            "reason": str(plan.cause),
        }
        if not view.topology.per_node:
            fields["domains"] = plan.eligible
        if self.dry_run:
            metrics.PATCHES.labels("dry_run").inc()
            log.info("would rescale (dry run)", **fields)
            return None
        if plan.scaling_down:
            await self.steering.before_scale_down(target, plan.desired)
        path = view.workload.write_path(key.namespace, key.name)
        # Expected before it is sent: the watch may deliver the write before the response.
        record.expected = plan.desired
        record.expected_until = self.clock() + EXPECTATION_TTL
        try:
            await self.client.merge_patch(
                path, {"spec": {"replicas": plan.desired}}, field_manager=resources.FIELD_MANAGER
            )
        except ApiError as exc:
            record.expected = None
            if _write_failed(exc, view, fields):
                return None
            raise
        wrote_at = self.clock()
        metrics.PATCHES.labels("success").inc()
        record.last_applied, record.blocked = plan.desired, False
        record.settings = (view.config, view.placement, view.topology)
        record.last_change = Change(
            from_replicas=plan.current,
            to_replicas=plan.desired,
            eligible=plan.eligible,
            reason=str(plan.cause),
            at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )
        log.info("rescaled", **fields)
        reason = Reason.DRIFT_CORRECTED if plan.cause is Cause.DRIFT else Reason.RESCALED
        await self.events.emit(
            key,
            view.uid,
            "Normal",
            reason,
            f"Scaled from {plan.current} to {plan.desired} replicas: "
            f"{counted(target, plan.eligible)} ({plan.cause})",
        )
        return wrote_at

    def status(self, key: TargetKey) -> TargetStatus:
        """What /status shows for one stored target."""
        record = self.records.get(key) or TargetRecord()
        return target_status(
            self.state,
            key,
            self.replica_cap,
            last_change=record.last_change,
            last_error=record.last_error,
            found=record.coverage.findings,
        )


def _same(before: tuple[object, ...] | None, now: tuple[object, ...]) -> bool:
    """Whether the settings a count was decided from are these (None: no count yet). The
    projection's memo hands back the same objects while they are unchanged."""
    return before is None or all(a is b or a == b for a, b in zip(before, now, strict=True))


def _sooner(result: Result, seconds: float | None) -> Result:
    """The result, looked at again within `seconds` if that is sooner."""
    if seconds is None or (result.requeue_after is not None and result.requeue_after <= seconds):
        return result
    return Result(seconds, result.wrote_at, result.held)


def counted(target: TargetState, count: int) -> str:
    """What the count is of, for people: "3 eligible nodes", "2 eligible zone domains"."""
    keys = target.view.topology.keys
    if not keys:
        return f"{count} eligible nodes"
    return f"{count} eligible {'/'.join(keys)} domains"


def metric_labels(key: TargetKey) -> tuple[str, str, str]:
    """The target's labels on every per-target metric (metrics.TARGET_LABELS)."""
    return key.namespace, key.kind, key.name


def _write_failed(exc: ApiError, view: TargetView, fields: dict[str, object]) -> bool:
    """Count and log a failed scale write; True when it needs no retry (the target was
    deleted meanwhile and the watch will tell us)."""
    result = "forbidden" if exc.forbidden else "conflict" if exc.status == 409 else "error"
    metrics.PATCHES.labels(result).inc()
    if exc.status == 404:
        return True
    log.error(
        "scale write failed",
        error=str(exc),
        hint=write_hint(exc, view.workload.written_resource),
        **fields,
    )
    return False
