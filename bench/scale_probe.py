"""Figures the scale benchmark takes from outside the scaler after the churn: the size and
time of a /metrics and a /status answer, and the bare PATCH loop (bench/patch_floor.py)
that CPU per write is measured against."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.scale_cluster import NAMESPACE
from bench.scale_mix import deployment_body
from devcluster.api import ApiError
from devcluster.controlplane import ControlPlane

FLOOR_DEPLOYMENT = "patch-floor"
REPO = Path(__file__).resolve().parent.parent


def endpoint_figures(base_url: str, tries: int = 5) -> dict[str, Any]:
    """Bytes and the median seconds of a GET of /metrics and of /status, one a second (each
    a fresh rendering: the render budget saves up more than `tries`)."""
    out: dict[str, Any] = {}
    for path in ("/metrics", "/status"):
        seconds, size = [], 0
        for _ in range(tries):
            started = time.perf_counter()
            with urllib.request.urlopen(base_url + path, timeout=30) as answer:
                size = len(answer.read())
            seconds.append(time.perf_counter() - started)
            time.sleep(1.0)
        name = path.strip("/")
        out[f"{name}_bytes"] = size
        out[f"{name}_ms"] = round(statistics.median(seconds) * 1000, 1)
        out[f"{name}_max_ms"] = round(max(seconds) * 1000, 1)
    return out


def patch_floor(plane: ControlPlane, venv: Path, kubeconfig: Path, count: int) -> dict[str, Any]:
    """CPU and wall per PATCH of the bare loop, through the venv under test, on a
    Deployment that has not opted in (the scaler still decodes its watch events)."""
    body = deployment_body(FLOOR_DEPLOYMENT, NAMESPACE, {}, {})
    body["metadata"]["annotations"] = {}
    body["metadata"]["labels"] = {}
    try:
        plane.api.post(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", body)
    except ApiError as exc:
        if exc.status != 409:
            raise
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{FLOOR_DEPLOYMENT}"
    # -I: the venv's package, not this checkout's (the script's folder is not searched).
    script = str(REPO / "bench" / "patch_floor.py")
    command = [str(venv / "bin" / "python"), "-I", script, str(kubeconfig), path, str(count)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
