"""How the parts are put together from the settings: the reflectors for every watched
collection, and the controller with its reconciler and event recorder. Shared by the
running service and the one-shot `plan`, so both watch and decide exactly alike."""

from __future__ import annotations

from typing import Any

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.control.events import EventRecorder
from nodecount_scaler.control.reconciler import Reconciler
from nodecount_scaler.control.sinks import Sinks
from nodecount_scaler.kube import resources
from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Reflector
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.settings import Settings


def build_state(settings: Settings) -> ClusterState:
    return ClusterState(settings.unready_grace)


def build_reflectors(
    client: KubeClient, sinks: Sinks, settings: Settings
) -> list[Reflector[Any, Any]]:
    """Nodes cluster-wide; Deployments and HPAs in every watched namespace (all: None)."""
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
    for namespace in settings.namespaces or (None,):
        suffix = "" if namespace is None else f"/{namespace}"
        reflectors.append(
            Reflector(
                client,
                "deployments" + suffix,
                resources.deployments_path(namespace),
                resources.target_projection(),
                sinks.targets(namespace),
                inactivity_timeout=timeout,
            )
        )
        reflectors.append(
            Reflector(
                client,
                "horizontalpodautoscalers" + suffix,
                resources.hpas_path(namespace),
                resources.HPA_PROJECTION,
                sinks.hpas(namespace),
                inactivity_timeout=timeout,
            )
        )
    return reflectors


def build_controller(
    client: KubeClient, state: ClusterState, settings: Settings, identity: str
) -> Controller:
    events = EventRecorder(client, instance=identity, dry_run=settings.dry_run)
    reconciler = Reconciler(client, state, events, settings.replica_cap, settings.dry_run)
    return Controller(state, reconciler, workers=settings.workers)
