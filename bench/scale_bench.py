"""The scale benchmark on the real control plane: what the scaler costs the cluster.

    .venv/bin/python -m bench.scale_bench --venv V --nodes 1000 --targets 50 --minutes 5

Starts a local control plane (bench.scale_cluster), creates N Ready kwok Nodes and T
opted-in Deployments (bench.scale_workload), runs `V/bin/nodecount-scaler run` (a
runtime-only venv, as the image installs it) as its own ServiceAccount, waits until every
target is answered, then churns R node changes a second for D minutes. It prints, from the
API server's audit log and /proc: the scaler's requests by verb and resource per change of
a target's count, Event writes per target per 5 minutes, CPU seconds, RSS, node change ->
scale write latency (server-side timestamps) and start-up (process start -> first write).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import scale_audit as audit
from bench import scale_replay as replay
from bench.scale_cluster import (
    SCALER_USER,
    bench_control_plane,
    create_nodes,
    create_targets,
    deployments,
    generations,
    pods_settled,
    scaler_kubeconfig,
    target_bodies,
)
from bench.scale_mix import Profile
from bench.scale_probe import endpoint_figures, patch_floor
from bench.scale_proc import RssSampler, cpu_seconds, memory_kib, mib
from bench.scale_report import print_report, start_up_phases
from bench.scale_workload import Churn, NodeModel
from devcluster.api import ApiError
from devcluster.controlplane import ControlPlane
from devcluster.polling import wait_until
from devcluster.sampling import HealthSampler, quantile
from devcluster.scaler import ScalerProcess

SETTLE_SECONDS = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_bench", description=__doc__)
    parser.add_argument("--venv", type=Path, required=True, help="runtime venv of the scaler")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1.0, help="node changes a second")
    parser.add_argument("--minutes", type=float, default=5.0, help="churn; 0: idle only")
    parser.add_argument("--pods", action="store_true", help="run the deployment controllers")
    parser.add_argument(
        "--workload",
        choices=("families", "mix", "all"),
        default="families",
        help="bench.scale_mix: the nodes, targets and churn",
    )
    parser.add_argument(
        "--replica-cap",
        type=int,
        default=10_000,
        help="the scaler's --replica-cap (its default, 1,000, would hold every target of a "
        "pool of more nodes still)",
    )
    parser.add_argument(
        "--floor-patches", type=int, default=500, help="PATCHes of the bare loop (0: none)"
    )
    parser.add_argument("--idle", type=float, default=10.0, help="idle seconds before churn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="", help="a name for this run in the output")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (logs, audit)")
    parser.add_argument(
        "--profile", type=Path, help="py-spy samples (collapsed stacks) of the churn window"
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument(
        "--scaler-arg",
        action="append",
        default=[],
        help="an argument for `nodecount-scaler run` (repeatable), e.g. --scaler-arg=--workers=8",
    )
    return parser.parse_args(argv)


def import_seconds(venv: Path) -> dict[str, float]:
    """Best of 3: a bare interpreter, and importing the service's modules in the venv."""
    python = str(venv / "bin" / "python")
    code = (
        "import time; t = time.perf_counter(); import nodecount_scaler.cli, "
        "nodecount_scaler.service; print(time.perf_counter() - t)"
    )
    imports, bare = [], []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([python, "-I", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
        # -I: the venv's package, not this checkout's (the working directory is not searched).
        out = subprocess.run([python, "-I", "-c", code], check=True, capture_output=True, text=True)
        imports.append(float(out.stdout))
    return {"interpreter_s": min(bare), "imports_s": min(imports)}


def converged(scaler: ScalerProcess, plane: ControlPlane, count: int) -> bool:
    """Every target answered: the scaler's desired == its observed == the API's replicas."""
    targets = scaler.status()["targets"]
    if len(targets) != count or any(t["desired"] != t["current"] for t in targets):
        return False
    stored = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"].get("replicas")
        for d in deployments(plane)
    }
    return all(stored.get((t["namespace"], t["name"])) == t["desired"] for t in targets)


def churn(
    plane: ControlPlane, sequence: Churn, rate: float, seconds: float
) -> tuple[Counter[str], list[replay.NodeChange]]:
    """Send one node change every 1/rate seconds for `seconds`; count them by kind, and
    record each as the node it leaves."""
    kinds: Counter[str] = Counter()
    changes: list[replay.NodeChange] = []
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        delay = start + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        op = sequence.next_op()
        changes.append(_change(op.kind, op.path, op.body, sequence.nodes))
        try:
            plane.api.request(op.method, op.path, op.body, content_type=op.content_type)
            kinds[op.kind] += 1
        except ApiError:
            kinds["failed"] += 1
        sent += 1
    return kinds, changes


def _change(
    kind: str, path: str, body: dict[str, Any] | None, nodes: dict[str, NodeModel]
) -> replay.NodeChange:
    name = body["metadata"]["name"] if kind == "add" and body else path.rpartition("/")[2]
    model = nodes.get(name)
    if model is None:
        return replay.NodeChange(kind, name, None)
    labels = dict(model.labels)
    return replay.NodeChange(kind, name, labels, model.cordoned, model.maintenance)


def run(args: argparse.Namespace, workdir: Path, plane: ControlPlane) -> dict[str, Any]:
    kubeconfig = scaler_kubeconfig(plane, workdir / "scaler.kubeconfig")
    profile = Profile(args.workload)
    started = time.monotonic()
    nodes = create_nodes(plane, args.nodes, profile)
    initial = {name: replace(model, labels=dict(model.labels)) for name, model in nodes.items()}
    bodies = target_bodies(args.targets, profile)
    create_targets(plane, bodies)
    setup_s = time.monotonic() - started
    scaler = ScalerProcess(
        kubeconfig=kubeconfig,
        log_path=workdir / "scaler.log",
        executable=str(args.venv / "bin" / "nodecount-scaler"),
        args=(f"--replica-cap={args.replica_cap}", *args.scaler_arg),
    )
    spawned = time.time()
    scaler.start(wait_ready=False)
    assert scaler.proc is not None
    pid = scaler.proc.pid
    try:
        wait_until(
            lambda: converged(scaler, plane, args.targets),
            600,
            interval=1.0,
            describe="every target answered",
            abort=scaler.exit_reason,
            retry_on=(OSError, ValueError, AssertionError),
        )
        if args.pods:
            wait_until(lambda: pods_settled(plane), 900, interval=2, describe="pods settled")
        time.sleep(args.idle)
        idle = memory_kib(pid)
        figures = _churn_window(args, plane, scaler, nodes, pid)
        figures["converged_after"] = converged(scaler, plane, args.targets)
        figures["endpoints"] = endpoint_figures(scaler.metrics_url)
        if args.floor_patches:
            figures["patch_floor"] = patch_floor(plane, args.venv, kubeconfig, args.floor_patches)
    finally:
        scaler.stop()
    time.sleep(1.0)  # the audit log is written when each request (a watch too) ends
    requests = audit.read_requests(plane.audit_log)
    changes = figures.pop("changes")
    return {
        "label": args.label,
        "workload": args.workload,
        "nodes": args.nodes,
        "targets": args.targets,
        "namespaces": len({b["metadata"]["namespace"] for b in bodies}),
        "pods": args.pods,
        "rate": args.rate,
        "minutes": args.minutes,
        "setup_s": round(setup_s, 1),
        "rss_idle_mib": mib(idle["VmRSS"]),
        **figures,
        **_audit_figures(args, figures, requests),
        **_replayed(plane, profile, initial, bodies, changes, requests, args.replica_cap),
        "start_up": start_up_phases(audit.start_up(requests, SCALER_USER), scaler.logs(), spawned),
    }


def _replayed(
    plane: ControlPlane,
    profile: Profile,
    initial: dict[str, NodeModel],
    bodies: list[dict[str, Any]],
    changes: list[replay.NodeChange],
    requests: list[audit.Request],
    replica_cap: int,
) -> dict[str, Any]:
    """Eligible at the API -> written, per (change, target it moves): bench.scale_replay."""
    version = plane.versions.kubernetes
    start = [
        replay.NodeChange("initial", name, m.labels, m.cordoned, m.maintenance)
        for name, m in initial.items()
    ]
    views = [replay.node_view(profile, c, version, not_ready=False) for c in start]
    steps, lags = replay.moments(profile, changes, requests, version)
    moved = replay.replay([v for v in views if v is not None], bodies, steps, replica_cap)
    return {
        "eligible_to_written": replay.latencies(moved, requests, SCALER_USER),
        "add_to_eligible": replay.lag_summary(lags),
    }


def _churn_window(
    args: argparse.Namespace,
    plane: ControlPlane,
    scaler: ScalerProcess,
    nodes: dict[str, NodeModel],
    pid: int,
) -> dict[str, Any]:
    profile = Profile(args.workload)
    sequence = Churn(nodes, args.nodes, plane.versions.kubernetes, args.seed, profile)
    generations_before = generations(plane)
    node_events_before = _node_watch_events(scaler)
    cpu_before = cpu_seconds(pid)
    sampler = RssSampler(pid).start()
    profiler = _profiler(args, pid)
    window_start = time.time()
    with HealthSampler(scaler.url) as health:
        kinds, changes = churn(plane, sequence, args.rate, args.minutes * 60)
    window_end = time.time()
    time.sleep(SETTLE_SECONDS)
    cpu_after = cpu_seconds(pid)
    samples = sampler.stop()
    if profiler is not None:
        profiler.wait()
    end = memory_kib(pid)
    return {
        "window": [window_start, window_end + SETTLE_SECONDS],
        "node_changes": dict(kinds),
        "changes": changes,
        "count_changes": generations(plane) - generations_before,
        # Node watch events the scaler decoded: the churn's, and the other components'.
        "node_watch_events": _node_watch_events(scaler) - node_events_before,
        "cpu_s": round(cpu_after - cpu_before, 2),
        "rss_peak_mib": mib(max(samples, default=end["VmRSS"])),
        "rss_end_mib": mib(end["VmRSS"]),
        "rss_hwm_mib": mib(end["VmHWM"]),
        "healthz": _healthz(health),
    }


def _healthz(health: HealthSampler) -> dict[str, float | int]:
    """/healthz asked every 0.25 s through the churn: how long the loop kept a probe
    waiting."""
    seconds = health.latencies() or [0.0]
    return {
        "n": len(seconds),
        "p50_ms": round(quantile(seconds, 0.5) * 1000, 1),
        "p99_ms": round(quantile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "failed": len(health.late()),
    }


def _node_watch_events(scaler: ScalerProcess) -> float:
    return scaler.metric_sum("nodecount_scaler_watch_events_total", resource="nodes")


def _profiler(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the scaler (100 Hz, without pausing it) for the churn window."""
    if args.profile is None or not args.minutes:
        return None
    seconds = str(int(args.minutes * 60 + SETTLE_SECONDS))
    command = [args.py_spy, "record", "--nonblocking", "--rate", "100", "--pid", str(pid)]
    command += ["--duration", seconds, "--format", "raw", "--output", str(args.profile)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _audit_figures(
    args: argparse.Namespace, figures: dict[str, Any], requests: list[audit.Request]
) -> dict[str, Any]:
    start, end = figures["window"]
    window = audit.in_window(requests, start, end)
    mine = [r for r in window if r.user == SCALER_USER]
    changes = figures["count_changes"]
    events = [r for r in mine if r.resource == "events" and r.verb in audit.EVENT_WRITE_VERBS]
    fives = max((end - start) / 300.0, 1e-9)
    answered = audit.reaction_latencies(window, SCALER_USER)
    latencies = [seconds for seconds, _ in answered]
    p50, p99 = audit.percentile(latencies, 0.50), audit.percentile(latencies, 0.99)
    writes = sum(1 for r in mine if r.is_scale_write)
    per_write = figures["cpu_s"] * 1000 / writes if writes else None
    floor = (figures.get("patch_floor") or {}).get("cpu_ms_per_patch")
    return {
        "scale_writes": writes,
        "cpu_ms_per_write": None if per_write is None else round(per_write, 3),
        "cpu_per_write_over_floor": round(per_write / floor, 2) if per_write and floor else None,
        "requests": len(mine),
        "node_writes_by_agent": dict(
            Counter(
                r.agent.partition("/")[0]
                for r in window
                if r.user != SCALER_USER
                and r.verb in audit.NODE_WRITE_VERBS
                and r.resource.startswith("nodes")
            )
        ),
        "requests_by_verb_resource": audit.by_verb_and_resource(mine),
        "failed_requests_by_code": dict(Counter(r.code for r in mine if r.code >= 300)),
        "requests_per_count_change": round(len(mine) / changes, 3) if changes else None,
        "event_writes": len(events),
        "event_writes_per_target_per_5min": round(len(events) / args.targets / fives, 2),
        "latency_writes": len(latencies),
        "latency_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "latency_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "latency_by_cause": audit.latency_by_cause(answered),
        "cpu_ms_per_node_change": round(
            figures["cpu_s"] * 1000 / max(1, sum(figures["node_changes"].values())), 2
        ),
    }


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (a timeout, ^C from a wrapper) must still stop the scaler and the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    args.venv = args.venv.resolve()
    imports = import_seconds(args.venv)
    workdir = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    plane = bench_control_plane(workdir, pods=args.pods)
    try:
        with plane:
            result = run(args, workdir, plane)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["start_up"].update(imports)
    result["workdir"] = str(workdir) if args.keep else None
    print_report(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result.get("converged_after") else 1


if __name__ == "__main__":
    sys.exit(main())
