"""How the process is put together from its settings: the one place that builds its parts.

`assemble` builds the running service: the watches (nodes; every watched workload kind and
the HPAs in each watched namespace), the state they fill, the controller (reconciler, event
recorder, pod caches, blast-radius guard), the leader election's lease thread and the
leader-only client that writes, and the HTTP endpoints. `observe` builds the read side
alone, for `plan`: the same kinds (the apps/v1 ones of --kind, the custom ones of
--workload, resolved by discovery) and the same watches over the same state, so run and plan
watch and decide alike, and nothing in it can write: no reconciler, no event recorder, no
writing client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.election import default_identity, default_lease_namespace
from nodecount_scaler.control.events import EventRecorder
from nodecount_scaler.control.lease_thread import LeaderOnlyClient, LeaseThread
from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.control.sinks import Hooks, Sinks
from nodecount_scaler.http.server import Endpoints
from nodecount_scaler.kube import discovery, resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.config import Configuration
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.guard import GuardPolicy, ScaleDownGuard
from nodecount_scaler.model.kinds import WorkloadKind, builtin_kinds
from nodecount_scaler.model.lease import LeaderElectionConfig
from nodecount_scaler.model.nodes import NodeView
from nodecount_scaler.model.state import ClusterState, HpaKey
from nodecount_scaler.model.targets import TargetKey, TargetView
from nodecount_scaler.probes import Heartbeat, ServiceChecks
from nodecount_scaler.settings import Settings


@dataclass(frozen=True, slots=True)
class Watches:
    """The reflectors, by what they watch; each keeps one collection in the state."""

    nodes: Reflector[str, NodeView]
    targets: tuple[Reflector[TargetKey, TargetView], ...]
    hpas: tuple[Reflector[HpaKey, TargetKey], ...]

    @property
    def every(self) -> tuple[Reflector[Any, Any], ...]:
        return (self.nodes, *self.targets, *self.hpas)


@dataclass(frozen=True, slots=True)
class Observed:
    """The read side: what `plan` needs, and nothing that writes."""

    kinds: tuple[WorkloadKind, ...]
    state: ClusterState
    watches: Watches


@dataclass(frozen=True, slots=True)
class Process:
    """The running service's parts. `client` reads (watches, reviews); `writer` writes
    (scales, pod annotations, Events): with leader election a LeaderOnlyClient bound to
    `lease`, else `client` itself."""

    settings: Settings
    identity: str
    observed: Observed
    client: KubeClient
    writer: KubeClient
    controller: Controller
    lease: LeaseThread | None
    heartbeat: Heartbeat
    checks: ServiceChecks
    endpoints: Endpoints

    @property
    def watches(self) -> Watches:
        return self.observed.watches

    async def close(self) -> None:
        """Close what the assembly opened besides `client` (the caller's)."""
        if self.writer is not self.client:
            await self.writer.close()


async def watched_kinds(client: KubeClient, settings: Settings) -> tuple[WorkloadKind, ...]:
    """The built-in kinds of --kind (the default ones without it), then the custom ones of
    --workload that discovery found."""
    return (*builtin_kinds(settings.kinds), *await discovery.resolve(client, settings.workloads))


async def observe(client: KubeClient, settings: Settings) -> Observed:
    """The read side alone (`plan`): the state, and the watches that fill it."""
    kinds = await watched_kinds(client, settings)
    state = ClusterState(settings.unready_grace)
    sinks = Sinks(state, time.monotonic, Hooks())
    return Observed(kinds, state, watches(client, sinks, settings, kinds))


async def assemble(settings: Settings, configuration: Configuration, client: KubeClient) -> Process:
    """Every part of the running service. Raises ValueError for settings that cannot work
    together (leader election's timing) and http.tls.TlsError for a serving certificate
    that cannot be had."""
    identity = default_identity()
    kinds = await watched_kinds(client, settings)
    lease = (
        LeaseThread(
            election_config(settings, identity),
            # Its own configuration and connection, made on the lease thread's loop.
            lambda: KubeClient.connect(settings.kubeconfig, settings.context),
        )
        if settings.leader_elect
        else None
    )
    writer = (
        LeaderOnlyClient(configuration, term_left=lease.term_left) if lease is not None else client
    )
    state = ClusterState(settings.unready_grace)
    controller = build_controller(writer, state, settings, identity, kinds)
    observed = Observed(kinds, state, watches(client, controller.sinks, settings, kinds))
    heartbeat = Heartbeat()
    checks = ServiceChecks(
        identity, settings.dry_run, heartbeat, observed.watches.every, controller, lease
    )
    endpoints = Endpoints(
        client,
        checks.probes,
        secure=settings.metrics_secure,
        cert_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
    )
    return Process(
        settings,
        identity,
        observed,
        client,
        writer,
        controller,
        lease,
        heartbeat,
        checks,
        endpoints,
    )


def watches(
    client: KubeClient, sinks: Sinks, settings: Settings, kinds: Sequence[WorkloadKind]
) -> Watches:
    """Nodes cluster-wide; every workload kind and HPAs in every watched namespace (all:
    None)."""
    timeout = settings.watch_inactivity_timeout
    nodes = Reflector(
        client,
        "nodes",
        resources.NODES_PATH,
        resources.NODE_PROJECTION,
        sinks.nodes(),
        inactivity_timeout=timeout,
    )
    targets, hpas = [], []
    hpa_projection = resources.hpa_projection(kinds)
    for namespace in settings.namespaces or (None,):
        suffix = "" if namespace is None else f"/{namespace}"
        for kind in kinds:
            targets.append(
                Reflector(
                    client,
                    kind.watch_name + suffix,
                    kind.collection_path(namespace),
                    resources.target_projection(kind),
                    sinks.targets(namespace, kind.kind),
                    inactivity_timeout=timeout,
                )
            )
        hpa_sink = sinks.hpas(namespace)
        hpa_watch = Reflector(
            client,
            "horizontalpodautoscalers" + suffix,
            resources.hpas_path(namespace),
            hpa_projection,
            hpa_sink,
            inactivity_timeout=timeout,
        )
        # Its lists' snapshot times end the start-up settle of older targets (model/state.py).
        hpa_sink.listed_from = _listed_from(hpa_watch)
        hpas.append(hpa_watch)
    return Watches(nodes, tuple(targets), tuple(hpas))


def _listed_from(watch: Reflector[HpaKey, TargetKey]) -> Callable[[], float | None]:
    return lambda: watch.listed_from


def build_controller(
    writer: KubeClient,
    state: ClusterState,
    settings: Settings,
    identity: str,
    kinds: Sequence[WorkloadKind],
) -> Controller:
    """The controller and what it writes with: reconciler, event recorder, pod caches and
    the blast-radius guard."""
    events = EventRecorder(writer, instance=identity, dry_run=settings.dry_run)
    events.api_versions.update({w.kind: w.api_version for w in kinds})
    guard = ScaleDownGuard(
        GuardPolicy(
            settings.guard_share,
            settings.guard_min_drop,
            settings.guard_delay,
            settings.guard_window,
        )
    )
    # A dry run writes no pod annotation, so it reads no pod either.
    steer = settings.pod_deletion_cost and not settings.dry_run
    pod_caches = (
        PodCaches.beside(
            writer, settings.pod_watches, inactivity_timeout=settings.watch_inactivity_timeout
        )
        if steer and settings.pod_watches
        else None
    )
    reconciler = Reconciler(
        writer,
        state,
        events,
        settings.replica_cap,
        settings.dry_run,
        steer_pods=steer,
        pod_caches=pod_caches,
        guard=guard,
        node_pods=NodePods(writer, all_namespaces=not settings.namespaces) if steer else None,
    )
    return Controller(state, reconciler, workers=settings.workers)


def election_config(settings: Settings, identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace=settings.leader_election_namespace or default_lease_namespace(),
        name=settings.leader_election_id,
        identity=identity,
        lease_duration=settings.leader_election_lease_duration,
        renew_deadline=settings.leader_election_renew_deadline,
        retry_period=settings.leader_election_retry_period,
    )
