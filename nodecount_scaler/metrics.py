"""Prometheus metrics. One registry for the process, served at /metrics.

Names mirror controller-runtime where a convention exists (workqueue_*, rest_client_*,
leader_election_master_status); the service's own metrics carry the nodecount_scaler_ prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

REGISTRY: Final = CollectorRegistry(auto_describe=True)

# A target is named by its namespace, its kind (Deployment, ...) and its name.
TARGET_LABELS: Final = ("namespace", "kind", "name")

# The gauges with a series per target, rendered from one table of values (TargetFamilies)
# rather than kept as prometheus-client children: at 2,000 targets those were 10,000
# objects with a lock each, and formatting them took most of a /metrics rendering.
TARGET_FAMILIES: Final = (
    (
        "nodecount_scaler_eligible_nodes",
        "Nodes where one pod of the target can run (docs/eligibility.md).",
    ),
    ("nodecount_scaler_desired_replicas", "Replicas the target should have."),
    ("nodecount_scaler_current_replicas", "spec.replicas of the target as last observed."),
    (
        "nodecount_scaler_target_invalid",
        "1 while the target's annotations or pod template are invalid (it is left untouched), "
        "else 0.",
    ),
    (
        "nodecount_scaler_conflicting_autoscalers",
        "HorizontalPodAutoscalers that scale the target; while above 0 nothing is written to it.",
    ),
)
ELIGIBLE, DESIRED, CURRENT, INVALID, CONFLICTS = range(len(TARGET_FAMILIES))
Labels = tuple[str, str, str]


def _escape(value: str) -> str:
    """A label value or help text in the text format: backslash, newline, double quote."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class TargetFamilies(Collector):
    """Every target's values of the per-target gauges: labels -> one value per family (None:
    no series). `render` writes the families in the text format straight from the table;
    `collect` serves prometheus-client's own readers (get_sample_value, describe)."""

    def __init__(self) -> None:
        self._rows: dict[Labels, list[float | None]] = {}

    def set(self, labels: Labels, family: int, value: float) -> None:
        row = self._rows.get(labels)
        if row is None:
            row = self._rows[labels] = [None] * len(TARGET_FAMILIES)
        row[family] = float(value)

    def clear(self, labels: Labels, families: tuple[int, ...] | None = None) -> None:
        row = self._rows.get(labels)
        if row is None:
            return
        for family in range(len(row)) if families is None else families:
            row[family] = None
        if all(value is None for value in row):
            del self._rows[labels]

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(n, h, labels=TARGET_LABELS) for n, h in TARGET_FAMILIES]

    def collect(self) -> Iterator[Metric]:
        for family, (name, help_text) in enumerate(TARGET_FAMILIES):
            gauge = GaugeMetricFamily(name, help_text, labels=TARGET_LABELS)
            for labels, row in self._rows.items():
                value = row[family]
                if value is not None:
                    gauge.add_metric(labels, value)
            yield gauge

    def render(self) -> bytes:
        series = [
            (f'{{namespace="{_escape(a)}",kind="{_escape(b)}",name="{_escape(c)}"}} ', row)
            for (a, b, c), row in self._rows.items()
        ]
        lines: list[str] = []
        for family, (name, help_text) in enumerate(TARGET_FAMILIES):
            lines.append(f"# HELP {name} {_escape(help_text)}\n# TYPE {name} gauge\n")
            for labels, row in series:
                value = row[family]
                if value is not None:
                    lines.append(f"{name}{labels}{_number(value)}\n")
        return "".join(lines).encode()


def _number(value: float) -> str:
    """A sample value as prometheus-client writes it (Go's float formatting)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


TARGETS: Final = TargetFamilies()
REGISTRY.register(TARGETS)
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
LEASE_OVERLONG: Final = Counter(
    "nodecount_scaler_lease_overlong",
    "Lease records seen whose holder declares a longer leaseDurationSeconds than this "
    "instance honours (limits.LEASE_HOLDER_DURATION_FACTOR times its own): not written by "
    "an instance of nodecount-scaler.",
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


class _Value:
    """One family's series of one target."""

    __slots__ = ("_family", "_labels")

    def __init__(self, labels: Labels, family: int) -> None:
        self._labels, self._family = labels, family

    def set(self, value: float) -> None:
        TARGETS.set(self._labels, self._family, value)


class TargetGauges:
    """One target's series of the per-target gauges."""

    __slots__ = ("_labels", "conflicts", "current", "invalid")

    def __init__(self, labels: Labels) -> None:
        self._labels = labels
        self.current = _Value(labels, CURRENT)
        self.invalid = _Value(labels, INVALID)
        self.conflicts = _Value(labels, CONFLICTS)

    def set_counts(self, eligible: int, desired: int) -> None:
        TARGETS.set(self._labels, ELIGIBLE, eligible)
        TARGETS.set(self._labels, DESIRED, desired)

    def remove_counts(self) -> None:
        """No eligible or desired count exists (an invalid target): no stale series."""
        TARGETS.clear(self._labels, (ELIGIBLE, DESIRED))

    def remove(self) -> None:
        """The target is gone: every series of it."""
        TARGETS.clear(self._labels)


def metrics_bytes() -> bytes:
    """The exposition of every metric: the registry's, with the per-target families
    rendered from their table."""
    return generate_latest(_OTHERS) + TARGETS.render()


def catalog() -> dict[str, tuple[str, ...]]:
    """Every metric this process exports, by exposed name, with its label names: what the
    README's metrics table must list."""
    found: dict[str, tuple[str, ...]] = {name: TARGET_LABELS for name, _ in TARGET_FAMILIES}
    for value in globals().values():
        if isinstance(value, MetricWrapperBase):
            # prometheus-client keeps names and labels on the wrapper; the exposition adds
            # "_total" to a counter's name.
            name = value._name + ("_total" if value._type == "counter" else "")
            found[name] = tuple(value._labelnames)
    return found


# Every family but the per-target ones, for the exposition (metrics_bytes).
_OTHERS: Final = REGISTRY.restricted_registry(
    [
        sample
        for collector in list(REGISTRY._collector_to_names)
        if collector is not TARGETS
        for sample in REGISTRY._collector_to_names[collector]
    ]
)
