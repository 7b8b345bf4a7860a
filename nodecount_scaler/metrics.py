"""Prometheus metrics. One registry for the process, served at /metrics.

Names mirror controller-runtime where a convention exists (workqueue_*, rest_client_*,
leader_election_master_status); the service's own metrics carry the nodecount_scaler_ prefix.
"""

from __future__ import annotations

import contextlib
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

REGISTRY: Final = CollectorRegistry(auto_describe=True)

# A target is named by its namespace, its kind (Deployment, ...) and its name.
TARGET_LABELS: Final = ("namespace", "kind", "name")

ELIGIBLE_NODES: Final = Gauge(
    "nodecount_scaler_eligible_nodes",
    "Nodes where one pod of the target can run (docs/eligibility.md).",
    TARGET_LABELS,
    registry=REGISTRY,
)
DESIRED_REPLICAS: Final = Gauge(
    "nodecount_scaler_desired_replicas",
    "Replicas the target should have.",
    TARGET_LABELS,
    registry=REGISTRY,
)
CURRENT_REPLICAS: Final = Gauge(
    "nodecount_scaler_current_replicas",
    "spec.replicas of the target as last observed.",
    TARGET_LABELS,
    registry=REGISTRY,
)
TARGET_INVALID: Final = Gauge(
    "nodecount_scaler_target_invalid",
    "1 while the target's annotations or pod template are invalid (it is left untouched), else 0.",
    TARGET_LABELS,
    registry=REGISTRY,
)
CONFLICTING_AUTOSCALERS: Final = Gauge(
    "nodecount_scaler_conflicting_autoscalers",
    "HorizontalPodAutoscalers that scale the target; while above 0 nothing is written to it.",
    TARGET_LABELS,
    registry=REGISTRY,
)
SCALE_DOWNS_HELD: Final = Gauge(
    "nodecount_scaler_scale_downs_held",
    "Targets whose large node-caused scale-down waits for a fresh list of nodes (the "
    "blast-radius guard).",
    registry=REGISTRY,
)
INVALID_TARGETS: Final = Gauge(
    "nodecount_scaler_invalid_targets",
    "Opted-in targets whose annotations or pod template are invalid; they are left untouched.",
    registry=REGISTRY,
)
# Every gauge with a series per target, removed when the target goes.
PER_TARGET: Final = (
    ELIGIBLE_NODES,
    DESIRED_REPLICAS,
    CURRENT_REPLICAS,
    TARGET_INVALID,
    CONFLICTING_AUTOSCALERS,
)
INVALID_ANNOTATIONS: Final = Counter(
    "nodecount_scaler_invalid_annotations_total",
    "Invalid annotation values seen, by annotation key.",
    ("key",),
    registry=REGISTRY,
)
MANAGED_TARGETS: Final = Gauge(
    "nodecount_scaler_managed_targets",
    "Workloads that opted in.",
    registry=REGISTRY,
)
CACHED_NODES: Final = Gauge(
    "nodecount_scaler_nodes",
    "Nodes in the cache.",
    registry=REGISTRY,
)
PATCHES: Final = Counter(
    "nodecount_scaler_scale_patches_total",
    "Writes of spec.replicas, by result (success, conflict, forbidden, error, dry_run).",
    ("result",),
    registry=REGISTRY,
)
DELETION_COST_PATCHES: Final = Counter(
    "nodecount_scaler_pod_deletion_cost_patches_total",
    "Pod annotations written to steer which pod a scale-down removes, by result.",
    ("result",),
    registry=REGISTRY,
)
POD_WATCHES: Final = Gauge(
    "nodecount_scaler_pod_watches",
    "Targets whose pods are cached (list+watch) for pod-deletion-cost, at most --pod-watches.",
    registry=REGISTRY,
)
EVENTS_EMITTED: Final = Counter(
    "nodecount_scaler_events_total",
    "Kubernetes Events emitted, by type and reason.",
    ("type", "reason"),
    registry=REGISTRY,
)
RECONCILE_TOTAL: Final = Counter(
    "controller_runtime_reconcile_total",
    "Reconciles by result (success, error, requeue).",
    ("controller", "result"),
    registry=REGISTRY,
)
RECONCILE_TIME: Final = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Time one reconcile took, from dequeue to done.",
    ("controller",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
REACTION_TIME: Final = Histogram(
    "nodecount_scaler_reaction_seconds",
    "From the watch event that changed a target's desired count to the answer of the replica "
    "write it caused.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
WORKQUEUE_DEPTH: Final = Gauge(
    "workqueue_depth", "Keys waiting in the work queue.", ("name",), registry=REGISTRY
)
WORKQUEUE_ADDS: Final = Counter(
    "workqueue_adds_total", "Keys added to the work queue.", ("name",), registry=REGISTRY
)
WORKQUEUE_RETRIES: Final = Counter(
    "workqueue_retries_total", "Keys re-added after a failure.", ("name",), registry=REGISTRY
)
WORKQUEUE_QUEUE_DURATION: Final = Histogram(
    "workqueue_queue_duration_seconds",
    "Time a key waited in the queue before a worker took it.",
    ("name",),
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10),
    registry=REGISTRY,
)
WATCH_EVENTS: Final = Counter(
    "nodecount_scaler_watch_events_total",
    "Watch events received, by resource and type.",
    ("resource", "type"),
    registry=REGISTRY,
)
WATCH_RESTARTS: Final = Counter(
    "nodecount_scaler_watch_restarts_total",
    "Watch streams re-opened, by resource and reason.",
    ("resource", "reason"),
    registry=REGISTRY,
)
REJECTED_OBJECTS: Final = Counter(
    "nodecount_scaler_rejected_objects_total",
    "Listed or watched objects and events ignored because they are not valid objects of the "
    "resource (wrong kind, no name, malformed fields, unknown event type), by resource and reason.",
    ("resource", "reason"),
    registry=REGISTRY,
)
WATCH_RELISTS: Final = Counter(
    "nodecount_scaler_watch_relists_total",
    "Full relists, by resource and reason (initial, expired, error).",
    ("resource", "reason"),
    registry=REGISTRY,
)
LIMIT_EXCEEDED: Final = Counter(
    "nodecount_scaler_limit_exceeded_total",
    "Responses, watch events and lists dropped for passing a bound of limits.py, by limit "
    "(response_bytes, watch_event_bytes, list_items, list_pages).",
    ("limit",),
    registry=REGISTRY,
)
LIST_FALLBACKS: Final = Counter(
    "nodecount_scaler_list_fallbacks_total",
    "Paged lists whose continue token expired (410 Gone) and that were redone as one "
    "unpaged list, by resource.",
    ("resource",),
    registry=REGISTRY,
)
API_REQUESTS: Final = Counter(
    "rest_client_requests_total",
    "HTTP requests to the API server, by method and status code.",
    ("method", "code"),
    registry=REGISTRY,
)
API_LATENCY: Final = Histogram(
    "rest_client_request_duration_seconds",
    "Latency of non-streaming API requests.",
    ("method",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LEADER: Final = Gauge(
    "leader_election_master_status",
    "1 while this instance holds the lease, else 0.",
    ("name",),
    registry=REGISTRY,
)
HTTP_CONNECTIONS: Final = Gauge(
    "nodecount_scaler_http_connections",
    "Open connections of an HTTP listener (probes, metrics), TLS handshakes included.",
    ("listener",),
    registry=REGISTRY,
)
HTTP_REJECTED: Final = Counter(
    "nodecount_scaler_http_rejected_total",
    "Connections closed and requests refused by an HTTP listener's bounds, by reason.",
    ("listener", "reason"),
    registry=REGISTRY,
)
AUTH_REVIEWS: Final = Counter(
    "nodecount_scaler_auth_reviews_total",
    "TokenReviews and SubjectAccessReviews sent for the metrics listener, by result.",
    ("kind", "result"),
    registry=REGISTRY,
)
RENDER_SECONDS: Final = Gauge(
    "nodecount_scaler_render_seconds",
    "CPU seconds the last fresh rendering of /metrics or /status took (renderings are "
    "shared within a budget: RENDER_CPU_SHARE).",
    ("endpoint",),
    registry=REGISTRY,
)
EVENT_LOOP_LAG: Final = Gauge(
    "nodecount_scaler_event_loop_lag_seconds",
    "How late the last event-loop heartbeat ran.",
    registry=REGISTRY,
)


class TargetGauges:
    """One target's series of the per-target gauges, looked up once: `labels()` costs a
    lock, a tuple and a dict lookup per call, and a reconcile sets five of them.

    A removed series is looked up again when next set (prometheus-client's child of a
    removed series is no longer exported)."""

    __slots__ = ("_labels", "conflicts", "current", "desired", "eligible", "invalid")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self._labels = labels
        self.current = CURRENT_REPLICAS.labels(*labels)
        self.invalid = TARGET_INVALID.labels(*labels)
        self.conflicts = CONFLICTING_AUTOSCALERS.labels(*labels)
        self.eligible: Gauge | None = None
        self.desired: Gauge | None = None

    def set_counts(self, eligible: int, desired: int) -> None:
        if self.eligible is None or self.desired is None:
            self.eligible = ELIGIBLE_NODES.labels(*self._labels)
            self.desired = DESIRED_REPLICAS.labels(*self._labels)
        self.eligible.set(eligible)
        self.desired.set(desired)

    def remove_counts(self) -> None:
        """No eligible or desired count exists (an invalid target): no stale series."""
        if self.eligible is None:
            return
        for gauge in (ELIGIBLE_NODES, DESIRED_REPLICAS):
            with contextlib.suppress(KeyError):
                gauge.remove(*self._labels)
        self.eligible = self.desired = None

    def remove(self) -> None:
        """The target is gone: every series of it."""
        for gauge in PER_TARGET:
            with contextlib.suppress(KeyError):
                gauge.remove(*self._labels)
        self.eligible = self.desired = None


def catalog() -> dict[str, tuple[str, ...]]:
    """Every metric this process exports, by exposed name, with its label names: what the
    README's metrics table must list."""
    found: dict[str, tuple[str, ...]] = {}
    for value in globals().values():
        if isinstance(value, MetricWrapperBase):
            # prometheus-client keeps names and labels on the wrapper; the exposition adds
            # "_total" to a counter's name.
            name = value._name + ("_total" if value._type == "counter" else "")
            found[name] = tuple(value._labelnames)
    return found
