"""Every query of the Grafana dashboard, run against a real Prometheus that scrapes the
running service, returns data: each panel's expression at least one finite sample, each
template variable the values the board's dropdowns need.

The service runs with leader election (its watch-restart counters are exported at 0 from the
start, so that panel has data without a restart); the namespace holds the healthy,
invalid and stuck targets of tests/integration/monitored.py, and one node is added once
Prometheus scrapes, so a reaction (watch event -> write) is timed. /metrics is read as
shipped: HTTPS, with the token of a ServiceAccount bound to nodecount-scaler-metrics-reader.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.prometheus import JOB, Prometheus, scrape_job
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from tests.integration.monitored import BAD, HEALTHY, STUCK, create_targets, denied_scale_writes
from tests.monitoring import dashboard
from tests.promql import dashboard_expressions, read, substitute

RATE_WINDOW = "1m"


def variable_values(prom: Prometheus, query: str) -> set[str]:
    """What Grafana's label_values(selector, label) lists, through the same HTTP API."""
    usage = read(query)
    (label,) = usage.label_values
    selector = query.split("(", 1)[1].rsplit(",", 1)[0]
    return set(prom.api(f"label/{label}/values", **{"match[]": selector}))


def test_every_dashboard_query_returns_data(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    prometheus: Callable[..., Prometheus],
    metrics_token: Path,
) -> None:
    """No panel stays empty and every dropdown lists the job, namespace and targets."""
    targets = create_targets(cluster, namespace, nodes)
    values = {"job": JOB, "namespace": namespace, "target": ".*", "__rate_interval": RATE_WINDOW}
    with denied_scale_writes(cluster, namespace, STUCK):
        scaler = scalers.start(
            "--namespace",
            namespace,
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            secure=True,
        )
        prom = prometheus([scrape_job(scaler.metrics_address, metrics_token)])
        wait_until(prom.targets_up, timeout=30, describe="prometheus scraping the service")
        nodes.add_many(1, labels=dict([targets.label]))
        # Read through Prometheus: the listener answers only callers with a credential.
        wait_until(
            lambda: [v for _, v in prom.query("nodecount_scaler_reaction_seconds_count") if v],
            timeout=30,
            describe="a timed reaction to the new node",
        )
        queries = dict(dashboard_expressions(dashboard()))
        deadline = time.monotonic() + 60
        for where, query in queries.items():
            if where.startswith("variable "):
                continue
            expr = substitute(query, values)
            found = wait_until(
                functools.partial(prom.finite, expr),
                timeout=max(1.0, deadline - time.monotonic()),
                interval=0.5,
                describe=f"data for {where}: {expr}",
            )
            assert found
        dropdowns = {
            where.removeprefix("variable "): variable_values(prom, substitute(q, values))
            for where, q in queries.items()
            if where.startswith("variable ")
        }
        assert JOB in dropdowns["job"]
        assert namespace in dropdowns["namespace"]
        assert {HEALTHY, STUCK, BAD} <= dropdowns["target"]
