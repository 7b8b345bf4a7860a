"""What the integration tests share: applying objects, the service's writes in the audit
log, log timestamps, `plan` (the article's Deployment is testkit/workloads.py's;
observations of Deployments and pods live in devcluster/workloads.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import Any

import yaml

from devcluster import Cluster
from devcluster.scaler import scaler_executable


def apply(cluster: Cluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def replica_writes(
    cluster: Cluster, namespace: str, name: str | None = None
) -> list[dict[str, Any]]:
    """The service's replica writes, from the audit log: patches of the workload itself
    (never /scale) sent with the user agent nodecount-scaler/..."""
    return [
        e
        for e in cluster.audit_events(namespace=namespace, name=name)
        if e.get("verb") == "patch"
        and (e.get("objectRef") or {}).get("resource")
        in ("deployments", "statefulsets", "replicasets")
        and not (e.get("objectRef") or {}).get("subresource")
        and str(e.get("userAgent", "")).startswith("nodecount-scaler")
    ]


def log_time(line: dict[str, Any]) -> float:
    """Wall-clock seconds of a scaler JSON log line."""
    stamp = str(line["timestamp"]).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(stamp).timestamp()


def plan(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    """`nodecount-scaler plan --output json` with these flags, on the cluster: its targets."""
    command = [scaler_executable(), "plan", "--kubeconfig", str(cluster.kubeconfig)]
    done = subprocess.run(
        [*command, "--output", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found
