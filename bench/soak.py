"""Soak: the service under everything issue 13 threw at it at once, for a given time, on
the local control plane (not a test, not in CI; see bench/README.md).

    flock /tmp/nodecount-heavy.lock \\
        .venv/bin/python -m bench.soak --minutes 30 --out /tmp/soak.json

Two real `nodecount-scaler run` replicas with leader election (lease 4 s) watch a namespace
of well-behaved targets and one of hostile ones, while, concurrently:
- an HTTP flood of /metrics and /status on both replicas and slow-loris connections on all
  four listeners (devcluster/load.py, as tests/integration/test_http_hostile_load.py);
- a hostile tenant re-applies the 32,000-requirement node selector and a fresh 200 KB invalid
  value every few seconds;
- node churn over a few hundred kwok nodes: added, deleted, cordoned, uncordoned, tainted
  with Cluster Autoscaler's ToBeDeletedByClusterAutoscaler=<timestamp> and untainted.
Every interval it records both replicas' RSS and log bytes, the Lease's holder and
transitions, /healthz latency and which targets have their expected replicas; after each
churn step, the time each affected target takes to converge. It prints a summary table and
writes everything as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.soak_cluster import Soak, set_up
from bench.soak_load import Churn, Loop, Tenant
from bench.soak_report import Recorder, summarise, table
from devcluster import ApiError, Cluster, load
from devcluster.sampling import HealthSampler
from devcluster.workloads import events


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    add = parser.add_argument
    add("--minutes", type=float, default=30.0, help="how long the load runs (default 30)")
    add("--out", type=Path, help="write the samples, steps and summary here as JSON")
    add("--nodes", type=int, default=300, help="kwok nodes at the start (default 300)")
    add("--record-every", type=float, default=10.0, help="seconds between samples")
    add("--churn-every", type=float, default=10.0, help="seconds between churn steps")
    add("--tenant-every", type=float, default=5.0, help="seconds between hostile edits")
    add("--flood-clients", type=int, default=100, help="authenticated /metrics,/status readers")
    add("--bogus", type=int, default=50, help="more readers with random bearer tokens")
    add("--filler", type=int, default=2000, help="targets that select no node (default 2,000)")
    add("--huge", type=int, default=20, help="legal Deployments of about 1.4 MB (default 20)")
    add("--slowloris", type=int, default=300, help="slow-loris connections in all")
    return parser.parse_args(argv)


def start_http_load(soak: Soak, seconds: float, args: argparse.Namespace) -> list[Any]:
    """The flood on both replicas' /metrics and /status (authenticated readers and ones
    with random tokens), slow-loris on all four listeners."""
    urls = [f"{s.metrics_url}{p}" for s in soak.scalers for p in ("/metrics", "/status")]
    ports = [str(p) for s in soak.scalers for p in (s.port, s.metrics_port)]
    connections = args.slowloris
    flood = load.start(
        "flood", *[a for u in urls for a in ("--url", u)],
        *("--token-file", str(soak.token_file), "--bogus", str(args.bogus)),
        *("--clients", str(args.flood_clients), "--seconds", str(seconds)),
    )  # fmt: skip
    loris = load.start(
        "slowloris", *[a for p in ports for a in ("--port", p)],
        *("--connections", str(connections), "--seconds", str(seconds)),
    )  # fmt: skip
    return [flood, loris]


def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    with Cluster() as cluster, ExitStack() as stack:
        workdir = cluster.workdir / "soak"
        workdir.mkdir()
        started = time.monotonic()
        soak = set_up(cluster, args.nodes, workdir, args.filler)
        for scaler in soak.scalers:
            stack.callback(scaler.stop)
        print(
            f"set up in {time.monotonic() - started:.0f} s; load for {args.minutes:g} min",
            flush=True,
        )
        tenant, churn = Tenant(soak, args.huge), Churn(soak, timeout=3 * args.churn_every)
        tenant.create()
        health = [stack.enter_context(HealthSampler(s.url, interval=0.5)) for s in soak.scalers]
        recorder = Recorder(soak, health)
        http = start_http_load(soak, seconds, args)
        for process in http:
            stack.callback(process.kill)  # when the run ends early; a no-op after finish
        loops = [
            Loop("tenant", args.tenant_every, tenant.step).start(),
            Loop("churn", args.churn_every, churn.step).start(),
        ]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                recorder.tick()
                print(recorder.progress(), flush=True)
            except (ApiError, OSError) as exc:
                print(f"sample skipped: {exc}"[:300], file=sys.stderr)
            dead = [s.exit_reason() for s in soak.scalers if s.exit_reason()]
            if dead:
                print("a replica exited:", *dead, sep="\n", file=sys.stderr)
                break
            time.sleep(min(args.record_every, max(0.0, deadline - time.monotonic())))
        recorder.tick()
        for loop in loops:
            loop.stop()
        flood, loris = (load.finish(p, timeout=120) for p in http)
        hostile_events = events(cluster, soak.hostile, "InvalidAnnotation")
        summary = summarise(
            recorder,
            churn.steps,
            {
                "tenant_edits": tenant.edits,
                "invalid_annotation_events": len(hostile_events),
                # Full node lists of each replica (its `listed` lines): 1 at start, plus
                # any relist; the toggling tenant's scale-downs must add none.
                "node_lists": [
                    sum(e.get("resource") == "nodes" for e in s.log_events("listed"))
                    for s in soak.scalers
                ],
                "flood": flood,
                "slowloris": loris,
                "errors": {loop.name: loop.errors for loop in loops if loop.errors},
            },
        )
        return {"summary": summary, "samples": recorder.samples, "steps": churn.steps}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    command = "python -m bench.soak " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": command, "settings": {k: str(v) for k, v in vars(args).items()}, **result}
    print(table(result["summary"]))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
