"""Where a target's pods are: which of them a scale-down removes, and whether every topology
domain it counts still holds one.

Pods are read only here, by the leader, with steering on (--pod-deletion-cost, and not a
dry run): from the target's pod cache (control/podcache.py) while it has one or there is
room for one; else, for a scale-down of a target that counts nodes and knows the few nodes
it moved on since its pods were last steered, from the lists of those nodes' pods, shared by
every target the same change scales down (control/nodepods.py); else by one LIST with the
target's selector, made then (control/podlist.py). A target that counts domains reads all
its pods: a relabel doubles a domain whose other pod sits on a node that did not move.

- Before a scale-down (`before_scale_down`) the workload's controller is made to remove the
  right pods (model/pods.py). A ReplicaSet honours pod-deletion-cost, so the surplus pods
  (on nodes that no longer count; counting domains, all but one of a domain that holds
  several) get a lower one; a StatefulSet removes its highest ordinals whatever the cost,
  so a stranded pod is reported instead; a custom controller is left alone. Best effort: a
  failure is logged and the scale-down still happens (the count is right either way; only
  the choice of pod is at stake).
- A target that counts domains is looked at once more DOMAIN_CHECK_DELAY after the set of
  domains it counts moved (and after this instance first saw it): by then its controller
  and the scheduler have acted, and a counted domain with no pod while another holds
  several stays so for good, since the scheduler never moves a running pod. That is a
  Warning DomainWithoutPod and a finding in /status. Pods still pending or being deleted are
  looked at again, at most limits.DOMAIN_CHECK_TRIES times per move.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog

from nodecount_scaler import limits, metrics
from nodecount_scaler.control.events import EventRecorder
from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.control.podlist import list_target_pods
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.kube.watch import StreamError
from nodecount_scaler.model.kinds import Removal
from nodecount_scaler.model.pods import (
    DELETION_COST_ANNOTATION,
    DomainOf,
    PodView,
    deletion_cost_patches,
    domain_check,
    ordinal_scale_down_problem,
)
from nodecount_scaler.model.state import ClusterState, TargetState
from nodecount_scaler.model.targets import Finding, FindingKind, TargetKey, TargetView

log = structlog.get_logger(__name__)

# Seconds after the counted domains moved before the pods are looked at: a scale write's
# pods have been created or removed and scheduled by then.
DOMAIN_CHECK_DELAY: Final = 10.0


@dataclass(slots=True)
class Coverage:
    """What the domain check remembers of one target between reconciles."""

    domains: frozenset[str] | None = None
    # Monotonic time of the next look at the pods; None: none is due.
    due: float | None = None
    tries: int = 0
    findings: tuple[Finding, ...] = ()


@dataclass(slots=True)
class Steering:
    client: KubeClient
    state: ClusterState
    events: EventRecorder
    # False: no pod is read or written (--no-pod-deletion-cost, or a dry run).
    enabled: bool
    pod_caches: PodCaches | None
    # Pods listed by node for the targets past the pod caches' room; None: those list their
    # own pods.
    node_pods: NodePods | None
    clock: Callable[[], float] = time.monotonic

    def note_domains(self, view: TargetView, coverage: Coverage) -> None:
        """Remember the domains the target counts; when they moved since the last reconcile
        (or it is the first), a look at its pods is due DOMAIN_CHECK_DELAY from now."""
        domains = self.state.domains(view.key)
        removal = view.workload.removal
        if (
            not self.enabled
            or domains is None
            or view.pod_selector is None
            or removal is Removal.UNKNOWN
        ):
            coverage.due = None
        elif domains.counted != coverage.domains:
            coverage.domains = domains.counted
            coverage.due, coverage.tries = self.clock() + DOMAIN_CHECK_DELAY, 0

    def due_in(self, coverage: Coverage) -> float | None:
        """Seconds until the next look at the pods; None when none is due."""
        return None if coverage.due is None else max(0.0, coverage.due - self.clock())

    async def check_domains(self, view: TargetView, coverage: Coverage) -> float | None:
        """Look at the pods if a look is due (the target is at rest); the seconds until the
        next look, None when none is due."""
        now = self.clock()
        domains = self.state.domains(view.key)
        if coverage.due is None or domains is None:
            return None
        if now < coverage.due:
            return coverage.due - now
        pods = await self._pods(view, None, "check the counted domains")
        keeps = functools.partial(self.state.keeps, view.key)
        found = None
        if pods is not None:
            found = domain_check(
                pods, view.replicas, keeps, domains.label, domains.counted, domains.of
            )
        if found is None or not found.settled:
            coverage.tries += 1
            if coverage.tries < limits.DOMAIN_CHECK_TRIES:
                coverage.due = now + DOMAIN_CHECK_DELAY
                return DOMAIN_CHECK_DELAY
            coverage.due = None
            return None
        coverage.due = None
        if found.problem is None:
            coverage.findings = ()
            return None
        problem, kind = found.problem, FindingKind.DOMAIN_WITHOUT_POD
        coverage.findings = (Finding(kind, problem),)
        if await self.events.warn_once(view.key, view.uid, kind, problem, topic=problem):
            log.warning("counted domain without a pod", problem=problem)
        return None

    async def before_scale_down(self, target: TargetState, desired: int) -> None:
        """Make the workload's controller remove the surplus pods (see the module docstring)."""
        view = target.view
        removal = view.workload.removal
        if not self.enabled or view.pod_selector is None or removal is Removal.UNKNOWN:
            return
        domains = self.state.domains(view.key)
        moved = target.moved if domains is None else None
        pods = await self._pods(view, moved, "steer the scale-down")
        if pods is None:
            return
        # What moved before this list is in it; what moves after is noted afresh.
        target.moved = set()
        keeps = functools.partial(self.state.keeps, view.key)
        if removal is Removal.HIGHEST_ORDINAL:
            problem = ordinal_scale_down_problem(view.key.name, pods, keeps, desired)
            if problem is not None:
                kind = FindingKind.SCALE_DOWN_BY_ORDINAL
                if await self.events.warn_once(view.key, view.uid, kind, problem):
                    log.warning("statefulset scale-down keeps a stranded pod", problem=problem)
            return
        await self._mark(view.key, pods, keeps, None if domains is None else domains.of)

    async def _pods(
        self, view: TargetView, moved: set[str] | None, purpose: str
    ) -> list[PodView] | None:
        """The target's pods (see the module docstring); `moved`: the nodes whose pods are
        enough (None: every pod of the target is needed)."""
        assert view.pod_selector is not None
        selector = str(view.pod_selector)
        caches, node_pods = self.pod_caches, self.node_pods
        try:
            if caches is not None and (node_pods is None or caches.can_hold(view.key)):
                cached = await caches.pods(view.key, selector)
                if cached is not None:
                    return cached
            elif node_pods is not None and moved is not None:
                return await node_pods.pods(view.key.namespace, view.pod_selector, moved)
            return await list_target_pods(self.client, view.key, selector)
        except ApiError as exc:
            metrics.DELETION_COST_PATCHES.labels("error").inc()
            log.error(
                f"could not list pods to {purpose}",
                error=str(exc),
                hint="the service account needs list on pods" if exc.forbidden else None,
            )
        except StreamError as exc:
            metrics.DELETION_COST_PATCHES.labels("error").inc()
            log.error(f"could not list pods to {purpose}", error=str(exc))
        return None

    async def _mark(
        self,
        key: TargetKey,
        pods: list[PodView],
        keeps: Callable[[str], bool],
        domain_of: DomainOf | None,
    ) -> None:
        for pod, cost in deletion_cost_patches(pods, keeps, domain_of).items():
            try:
                await self.client.merge_patch(
                    resources.pod_path(key.namespace, pod),
                    {"metadata": {"annotations": {DELETION_COST_ANNOTATION: cost}}},
                    field_manager=resources.FIELD_MANAGER,
                )
            except ApiError as exc:
                metrics.DELETION_COST_PATCHES.labels("error").inc()
                log.error(
                    "could not set pod-deletion-cost",
                    pod=pod,
                    error=str(exc),
                    hint=write_hint(exc, "pods"),
                )
                continue
            metrics.DELETION_COST_PATCHES.labels("success").inc()
            log.info("set pod-deletion-cost", pod=pod, cost=cost)


def write_hint(exc: ApiError, resource: str) -> str | None:
    """What a refused write means: a missing RBAC verb, or an admission policy that saw a
    change it does not allow (the message names the policy)."""
    if not exc.forbidden:
        return None
    if "ValidatingAdmissionPolicy" in exc.message:
        return "an admission policy of manifests/base/policies/ refused the change"
    return f"the service account needs patch on {resource}"
