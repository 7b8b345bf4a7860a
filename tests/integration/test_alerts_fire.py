"""The shipped alert rules, evaluated by a real Prometheus scraping the running service: an
invalid target and a target whose replica writes are denied go pending, then firing; the
healthy target raises nothing.

The rules are monitoring/alerts.yaml with every `for:` cut to HOLD (expressions unchanged),
so the whole cycle takes seconds instead of minutes. The service runs as shipped: /metrics over
HTTPS behind delegated authentication, scraped with the token of a ServiceAccount bound to
nodecount-scaler-metrics-reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.prometheus import ALERTS, Prometheus, rules_with_short_for, scrape_job
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from tests.integration.monitored import BAD, STUCK, create_targets, denied_scale_writes

HOLD = "4s"
# Alerts about one target, and the target they must name.
PER_TARGET = {
    "NodecountScalerTargetInvalid": BAD,
    "NodecountScalerReplicasNotConverging": STUCK,
}


def states(prom: Prometheus, alert: str) -> dict[str, str]:
    """Target name -> state (pending, firing) of each active instance of `alert`."""
    return {a["labels"].get("name", ""): a["state"] for a in prom.alerts(alert)}


def test_invalid_and_stuck_targets_go_pending_then_firing(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    prometheus: Callable[..., Prometheus],
    metrics_token: Path,
    tmp_path: Path,
) -> None:
    """Each per-target alert fires for exactly its target; failing writes fire too."""
    create_targets(cluster, namespace, nodes)
    with denied_scale_writes(cluster, namespace, STUCK):
        scaler = scalers.start(
            "--namespace",
            namespace,
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            secure=True,
        )
        rules = rules_with_short_for(ALERTS, tmp_path / "alerts.yaml", HOLD)
        prom = prometheus([scrape_job(scaler.metrics_address, metrics_token)], [rules])
        started = time.monotonic()
        seen: dict[str, set[str]] = {alert: set() for alert in PER_TARGET}

        def all_firing() -> bool:
            for alert, target in PER_TARGET.items():
                now = states(prom, alert)
                assert set(now) <= {target}, f"{alert} for another target: {now}"
                seen[alert].update(now.values())
            return all("firing" in s for s in seen.values())

        wait_until(all_firing, timeout=60, interval=0.2, describe=f"alerts firing; seen {seen}")
        print(f"\nper-target alerts firing {time.monotonic() - started:.1f} s after start")
        assert all(s == {"pending", "firing"} for s in seen.values()), seen
        failing = wait_until(
            lambda: prom.alerts("NodecountScalerScaleWritesFailing"),
            timeout=30,
            describe="NodecountScalerScaleWritesFailing",
        )
        assert {a["labels"]["result"] for a in failing} == {"forbidden"}
        # The leader is up and leading, its watches are healthy, no HPA: nothing else fires.
        raised = {a["labels"]["alertname"] for a in prom.alerts()}
        assert raised == {*PER_TARGET, "NodecountScalerScaleWritesFailing"}
