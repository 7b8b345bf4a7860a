"""How the parts are put together from the settings: the reflectors for every watched
collection, and the controller with its reconciler and event recorder. Shared by the
running service and the one-shot `plan`, so both watch and decide exactly alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.events import EventRecorder
from nodecount_scaler.control.nodepods import NodePods
from nodecount_scaler.control.podcache import PodCaches
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.control.sinks import Sinks
from nodecount_scaler.kube import discovery, resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.guard import GuardPolicy, ScaleDownGuard
from nodecount_scaler.model.kinds import BUILTIN, DEPLOYMENT, WorkloadKind
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.settings import Settings


def build_state(settings: Settings) -> ClusterState:
    return ClusterState(settings.unready_grace)


def build_reflectors(
    client: KubeClient,
    sinks: Sinks,
    settings: Settings,
    workloads: Sequence[WorkloadKind] = (DEPLOYMENT,),
) -> list[Reflector[Any, Any]]:
    """Nodes cluster-wide; every workload kind and HPAs in every watched namespace (all:
    None). `workloads` are the kinds to watch, custom ones resolved by discovery."""
    timeout = settings.watch_inactivity_timeout
    reflectors: list[Reflector[Any, Any]] = [
        Reflector(
            client,
            "nodes",
            resources.NODES_PATH,
            resources.NODE_PROJECTION,
            sinks.nodes(),
            inactivity_timeout=timeout,
        )
    ]
    hpas = resources.hpa_projection(workloads)
    for namespace in settings.namespaces or (None,):
        suffix = "" if namespace is None else f"/{namespace}"
        for workload in workloads:
            name = (
                workload.resource if workload.builtin else f"{workload.resource}.{workload.group}"
            )
            reflectors.append(
                Reflector(
                    client,
                    name + suffix,
                    workload.collection_path(namespace),
                    resources.target_projection(workload),
                    sinks.targets(namespace, workload.kind),
                    inactivity_timeout=timeout,
                )
            )
        reflectors.append(
            Reflector(
                client,
                "horizontalpodautoscalers" + suffix,
                resources.hpas_path(namespace),
                hpas,
                sinks.hpas(namespace),
                inactivity_timeout=timeout,
            )
        )
    return reflectors


async def workloads(client: KubeClient, settings: Settings) -> list[WorkloadKind]:
    """The apps/v1 kinds the settings ask to watch, then the custom ones discovery found."""
    builtin = [w for w in BUILTIN if w.kind in settings.kinds]
    return builtin + await discovery.resolve(client, settings.workloads)


def build_controller(
    client: KubeClient,
    state: ClusterState,
    settings: Settings,
    identity: str,
    kinds: Sequence[WorkloadKind] = (),
) -> Controller:
    events = EventRecorder(client, instance=identity, dry_run=settings.dry_run)
    events.api_versions.update({w.kind: w.api_version for w in kinds})
    guard = ScaleDownGuard(
        GuardPolicy(settings.guard_share, settings.guard_min_drop, settings.guard_delay)
    )
    # A dry run writes no pod annotation, so it reads no pod either.
    steer = settings.pod_deletion_cost and not settings.dry_run
    pod_caches = (
        PodCaches.beside(
            client, settings.pod_watches, inactivity_timeout=settings.watch_inactivity_timeout
        )
        if steer and settings.pod_watches
        else None
    )
    reconciler = Reconciler(
        client,
        state,
        events,
        settings.replica_cap,
        settings.dry_run,
        steer_pods=steer,
        pod_caches=pod_caches,
        guard=guard,
        node_pods=NodePods(client, all_namespaces=not settings.namespaces) if steer else None,
    )
    return Controller(state, reconciler, workers=settings.workers)
