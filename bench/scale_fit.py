"""RSS per node and per target, from a fit over sizes: how to size the memory limit.

    .venv/bin/python -m bench.scale_fit --venv V [--nodes 1000 2500 5000] \
        [--targets 2000 1000 250] [--workload mix]

One local control plane (bench.scale_cluster), the mix's Nodes and targets grown to each
size in turn; at each (nodes, targets) a fresh `V/bin/nodecount-scaler run` is started,
waits until every target is answered, idles `--idle` seconds, and its RSS (and its
high-water mark, the start-up peak) is read from /proc. A least-squares fit
RSS = base + per_node * nodes + per_target * targets over every point gives what an
operator needs for a cluster of another size; the residuals say how well it fits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.scale_bench import converged
from bench.scale_cluster import (
    bench_control_plane,
    create_nodes,
    create_targets,
    scaler_kubeconfig,
    target_bodies,
)
from bench.scale_mix import Profile
from bench.scale_proc import memory_kib, mib
from devcluster.controlplane import ControlPlane
from devcluster.polling import wait_until
from devcluster.scaler import ScalerProcess


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_fit", description=__doc__)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--targets", type=int, nargs="+", default=[2000, 1000, 250])
    parser.add_argument("--workload", choices=("mix", "all"), default="mix")
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def measure(
    args: argparse.Namespace, plane: ControlPlane, kubeconfig: Path, log: Path, targets: int
) -> dict[str, float]:
    scaler = ScalerProcess(
        kubeconfig=kubeconfig,
        log_path=log,
        executable=str(args.venv / "bin" / "nodecount-scaler"),
        args=("--replica-cap=10000",),
    )
    scaler.start(wait_ready=False)
    assert scaler.proc is not None
    try:
        wait_until(
            lambda: converged(scaler, plane, targets),
            600,
            interval=1.0,
            describe="every target answered",
            abort=scaler.exit_reason,
            retry_on=(OSError, ValueError, AssertionError),
        )
        time.sleep(args.idle)
        memory = memory_kib(scaler.proc.pid)
    finally:
        scaler.stop()
    return {"rss_mib": mib(memory["VmRSS"]), "hwm_mib": mib(memory["VmHWM"])}


def fit(points: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Least squares of points[key] = base + per_node * nodes + per_target * targets."""
    rows = [(1.0, float(p["nodes"]), float(p["targets"])) for p in points]
    values = [float(p[key]) for p in points]
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    right = [sum(r[i] * v for r, v in zip(rows, values, strict=True)) for i in range(3)]
    base, per_node, per_target = _solve(normal, right)
    residuals = [
        v - (base + per_node * r[1] + per_target * r[2]) for r, v in zip(rows, values, strict=True)
    ]
    return {
        "base_mib": round(base, 1),
        "per_node_kib": round(per_node * 1024, 2),
        "per_target_kib": round(per_target * 1024, 2),
        "max_residual_mib": round(max(map(abs, residuals)), 1),
    }


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (3 unknowns)."""
    n = len(b)
    m = [[*row, value] for row, value in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            m[r] = [x - factor * y for x, y in zip(m[r], m[col], strict=True)]
    out = [0.0] * n
    for r in reversed(range(n)):
        out[r] = (m[r][n] - sum(m[r][c] * out[c] for c in range(r + 1, n))) / m[r][r]
    return out


def run(args: argparse.Namespace, workdir: Path, plane: ControlPlane) -> dict[str, Any]:
    profile = Profile(args.workload)
    kubeconfig = scaler_kubeconfig(plane, workdir / "scaler.kubeconfig")
    bodies = target_bodies(max(args.targets), profile)
    present: list[dict[str, Any]] = []
    nodes = 0
    points = []
    for node_count in sorted(args.nodes):
        create_nodes(plane, node_count - nodes, profile, start=nodes)
        nodes = node_count
        for target_count in sorted(args.targets, reverse=True):
            _resize_targets(plane, bodies, present, target_count)
            log = workdir / f"scaler-{node_count}-{target_count}.log"
            point = {"nodes": node_count, "targets": target_count}
            point |= measure(args, plane, kubeconfig, log, target_count)
            print(f"  {point}", flush=True)
            points.append(point)
    return {"points": points, "rss": fit(points, "rss_mib"), "hwm": fit(points, "hwm_mib")}


def _resize_targets(
    plane: ControlPlane, bodies: list[dict[str, Any]], present: list[dict[str, Any]], count: int
) -> None:
    if len(present) < count:
        create_targets(plane, bodies[len(present) : count])
        present[:] = bodies[:count]
        return
    for body in present[count:]:
        meta = body["metadata"]
        plane.api.delete(f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}")
    del present[count:]


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    args.venv = args.venv.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="scale-fit-"))
    plane = bench_control_plane(workdir, pods=False)
    try:
        with plane:
            result = run(args, workdir, plane)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"RSS idle = {result['rss']}")
    print(f"RSS high-water mark (start-up peak) = {result['hwm']}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
