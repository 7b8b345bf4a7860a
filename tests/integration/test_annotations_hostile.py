"""A hostile tenant on the real control plane, 300 kwok nodes, the real `nodecount-scaler run`
(issue 13, reproductions 1 and 2). The 32,000-requirement node selector (under the API's
256 KiB) is refused as InvalidAnnotation, with RSS and /healthz bounded and the other targets
converging; 200 edits, each a new invalid 200 KB value, cost bounded RSS and log bytes and
one aggregated Event."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.sampling import HealthSampler, RssSampler
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from testkit.builders import absent_keys_selector
from testkit.workloads import nginx_everywhere

NODE_SELECTOR = "nodecount-scaler.io/node-selector"
NODES = 300
POOL = 3  # nodes labelled pool=a at the start
# RSS the hostile input may add to the process (it went 88 -> 494 MB before the limits),
# and the most it may have: half the shipped manifest's 256 Mi memory limit.
RSS_GROWTH_MIB = 25.0
RSS_MIB = 128.0
EDITS = 200
EDIT_BYTES = 200_000
# New log bytes per edit, on average: at most one line per value, quoting 64 characters of
# it (before: the value in full, 218 MB over the repro).
LOG_BYTES_PER_EDIT = 1024
INVALID_LOGGED = "invalid annotation, target left untouched"


@dataclass
class Tenancy:
    cluster: Cluster
    namespace: str
    scaler: ScalerProcess
    # A Ready node of the suite outside pool a, for a test to move into it.
    spare: str

    @property
    def collection(self) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/deployments"

    def create(self, name: str, annotations: dict[str, str]) -> None:
        """An opted-in Deployment at one replica with these annotations besides."""
        obj = nginx_everywhere(self.namespace, name, **annotations)
        obj["spec"]["replicas"] = 1
        self.cluster.api.post(self.collection, obj)

    def wait_replicas(self, name: str, count: int) -> None:
        wait_until(
            lambda: replicas(self.cluster, self.namespace, name) == count,
            timeout=60,
            describe=f"{name}: {count} replicas",
        )

    def warnings(self, name: str) -> list[dict[str, Any]]:
        return [
            e
            for e in events(self.cluster, self.namespace, "InvalidAnnotation")
            if e["involvedObject"]["name"] == name
        ]

    def log_bytes(self) -> int:
        return self.scaler.log_path.stat().st_size

    def rss(self) -> RssSampler:
        pid = self.scaler.proc.pid if self.scaler.proc else 0
        return RssSampler(lambda: [pid])


def invalid_value(edit: int) -> str:
    """A node selector of EDIT_BYTES that does not parse, a different one for each edit."""
    return f"v{edit:03d}-{'x' * EDIT_BYTES}"


def invalid_logged(scaler: ScalerProcess) -> list[dict[str, Any]]:
    return [line for line in scaler.log_events(INVALID_LOGGED) if line.get("key") == NODE_SELECTOR]


def reported(scaler: ScalerProcess) -> float:
    """Invalid values of the node selector reported so far (one Event occurrence each)."""
    return scaler.metric_sum("nodecount_scaler_invalid_annotations_total", key=NODE_SELECTOR)


@pytest.fixture(scope="module")
def tenancy(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenancy]:
    """300 nodes of this suite: 3 Ready in pool a and a Ready spare first, then the rest
    without waiting (kwok readies about 5 a second: they turn Ready during the tests, node
    events the service answers meanwhile); `pool-a` follows the pool; one scaler."""
    namespace = cluster.create_namespace("hostile-notes")
    nodes = NodeFactory(cluster, "hostile")
    factory = ScalerFactory(cluster.kubeconfig, tmp_path_factory.mktemp("hostile-notes"))
    try:
        suite = {"suite": namespace}
        nodes.add_many(POOL, labels={**suite, "pool": "a"})
        spare = nodes.add(labels=suite)
        nodes.add_many(NODES - POOL - 1, labels=suite, ready_wait=False)
        scaler = factory.start("--namespace", namespace)
        tenancy = Tenancy(cluster, namespace, scaler, spare)
        tenancy.create("pool-a", {NODE_SELECTOR: f"suite={namespace},pool=a"})
        tenancy.wait_replicas("pool-a", POOL)
        yield tenancy
    finally:
        bad = [(p.log_path, code) for p, code in factory.stop_all() if code not in (0, None)]
        nodes.cleanup()
        cluster.delete_namespace(namespace, wait=False)
        assert not bad, f"nodecount-scaler did not exit 0 on SIGTERM: {bad}"


def test_selector_of_32000_requirements_is_refused_within_bounds(tenancy: Tenancy) -> None:
    """InvalidAnnotation (Event, metric, /status), replicas untouched, RSS within 25 MiB of
    before and under 128 MiB, /healthz within 2 s, a node joining pool a meanwhile followed."""
    scaler, namespace = tenancy.scaler, tenancy.namespace
    huge = absent_keys_selector(32_000)
    log_before = tenancy.log_bytes()
    before = scaler.rss_mib()
    with HealthSampler(scaler.url, interval=0.1) as health, tenancy.rss() as memory:
        started = time.monotonic()
        tenancy.create("hostile", {NODE_SELECTOR: huge})
        (warning,) = wait_until(
            lambda: tenancy.warnings("hostile"), timeout=30, describe="InvalidAnnotation"
        )
        refused = time.monotonic() - started
        tenancy.cluster.api.merge_patch(
            f"/api/v1/nodes/{tenancy.spare}", {"metadata": {"labels": {"pool": "a"}}}
        )
        tenancy.wait_replicas("pool-a", POOL + 1)
        time.sleep(3)  # a window in which a cost of the hostile target would show
    status = scaler.target(namespace, "hostile")
    labels = {"namespace": namespace, "kind": "Deployment", "name": "hostile"}
    print(
        f"\n32,000 requirements ({len(huge)} characters): refused in {refused:.2f} s; RSS "
        f"{before:.0f} -> peak {memory.peak():.0f} MiB; {health.figures()}; "
        f"log +{tenancy.log_bytes() - log_before} bytes"
    )
    assert warning["type"] == "Warning"
    assert "longer than 4096 characters" in warning["message"]
    assert len(warning["message"]) < 400
    assert scaler.metric("nodecount_scaler_target_invalid", **labels) == 1
    assert scaler.metric_sum("nodecount_scaler_invalid_annotations_total", key=NODE_SELECTOR) >= 1
    assert status is not None
    assert status["valid"] is False
    assert all(len(e) < 400 for e in status["errors"]), status["errors"]
    assert replicas(tenancy.cluster, namespace, "hostile") == 1
    assert memory.peak() - before < RSS_GROWTH_MIB
    assert memory.peak() < RSS_MIB
    health.assert_always_answered()
    assert tenancy.log_bytes() - log_before < 8 * 1024


def edit_every_time(tenancy: Tenancy, path: str) -> float:
    """EDITS merge patches of the node selector, each a new invalid value; the seconds they
    took. Returns once the service has reported the last value (it caught up)."""
    started = time.monotonic()
    for edit in range(EDITS):
        notes = {NODE_SELECTOR: invalid_value(edit)}
        tenancy.cluster.api.merge_patch(path, {"metadata": {"annotations": notes}})
    edited_in = time.monotonic() - started
    last = invalid_value(EDITS - 1)[:16]
    wait_until(
        lambda: any(line["value"].startswith(last) for line in invalid_logged(tenancy.scaler)),
        timeout=30,
        describe="the last value reported",
    )
    return edited_in


def test_invalid_value_edited_200_times_costs_bounded_memory_logs_and_events(
    tenancy: Tenancy,
) -> None:
    """200 edits, each a new 200 KB invalid value: RSS within 25 MiB of before and under
    128 MiB, under 1 KiB of log per edit, one InvalidAnnotation Event, replicas untouched."""
    cluster, scaler, namespace = tenancy.cluster, tenancy.scaler, tenancy.namespace
    tenancy.create("edited", {NODE_SELECTOR: invalid_value(EDITS)})
    wait_until(lambda: tenancy.warnings("edited"), timeout=30, describe="InvalidAnnotation")
    path = f"{tenancy.collection}/edited"
    log_before, reported_before = tenancy.log_bytes(), reported(scaler)
    before = scaler.rss_mib()
    with tenancy.rss() as memory:
        edited_in = edit_every_time(tenancy, path)
    warnings = tenancy.warnings("edited")
    logged = tenancy.log_bytes() - log_before
    seen = reported(scaler) - reported_before
    longest = max(len(line) for line in scaler.log_path.read_text().splitlines())
    print(
        f"\n{EDITS} edits of {EDIT_BYTES // 1000} KB in {edited_in:.1f} s, {seen:.0f} values "
        f"reported: RSS {before:.0f} -> peak {memory.peak():.0f} MiB; log +{logged} bytes "
        f"({logged / EDITS:.0f} per edit, longest line {longest}); Events "
        f"{[(e['count'], e['message'][:60]) for e in warnings]}"
    )
    # Sensitivity: the values the service took in would, if kept, be past the RSS bound,
    # and if logged in full, hundreds of times the log bound.
    assert seen * EDIT_BYTES / 2**20 > RSS_GROWTH_MIB, f"only {seen} values reported"
    assert memory.peak() - before < RSS_GROWTH_MIB
    assert memory.peak() < RSS_MIB
    assert logged / EDITS < LOG_BYTES_PER_EDIT
    assert longest < 1024
    # Events are aggregated like client-go's EventCorrelator (control/events.py): every
    # invalid value of one annotation key joins one Event series, and the target's write
    # budget (one write per 5 minutes) holds the later occurrences in memory, counted, for
    # the flusher. So the whole run is one Event, still at the count it was created with;
    # the occurrences are in the metric and the log, one per reported value.
    (event,) = warnings
    assert event["count"] == 1, event
    assert NODE_SELECTOR in event["message"]
    assert len(event["message"]) < 400
    emitted = "nodecount_scaler_events_total"
    assert scaler.metric_sum(emitted, type="Warning", reason="InvalidAnnotation") >= seen
    assert replicas(cluster, namespace, "edited") == 1
    status = scaler.target(namespace, "edited")
    assert status is not None
    assert status["valid"] is False
