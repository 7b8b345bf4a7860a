"""How long each node is without its agent while `nodecount-scaler cutover` moves it from a
DaemonSet to the Deployment that `migrate-daemonset` prints, and back.

    .venv/bin/python -m bench.cutover_gap --nodes 20 [--batch 1] [--nodes 100 ...]

Starts a local control plane (kwok nodes; pods go Running and Ready at once through kwok's
pod stages, and a deleted pod is gone at once: no image pull, no container start, no grace
period), an agent DaemonSet holding a host port on N nodes, and `nodecount-scaler run`;
then runs the two commands as a user would and samples the agent pods every 50 ms
(devcluster/agents.py). Prints, for the forward cutover and for the reverse, the wall time,
the time per node, and each node's longest stretch without a Ready agent pod (median, 90th
percentile, max), with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from devcluster import Cluster
from devcluster.agents import GapSampler, agent_pods, hostport_daemonset, run_cli, serving_nodes
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory

APP = "agent"
POOL = "bench.cutover/pool"


@dataclass(frozen=True)
class Run:
    what: str
    nodes: int
    seconds: float
    longest: list[float]

    def line(self) -> str:
        ordered = sorted(self.longest)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return (
            f"{self.what:8s} {self.nodes:5d} nodes in {self.seconds:6.1f} s "
            f"({self.seconds / self.nodes:4.2f} s/node); longest gap per node: median "
            f"{statistics.median(ordered):.2f} s, p90 {p90:.2f} s, max {ordered[-1]:.2f} s"
        )


def _cutover(cluster: Cluster, namespace: str, manifest: Path, *extra: str) -> None:
    done = run_cli(
        cluster, "cutover", "--daemonset", f"{namespace}/{APP}", "-f", str(manifest), *extra
    )
    if done.returncode != 0:
        raise SystemExit(f"cutover failed:\n{done.stdout}\n{done.stderr}")


def measure(cluster: Cluster, count: int, batch: int, workdir: Path) -> list[Run]:
    namespace = cluster.create_namespace("cutover-bench")
    pool = f"p{count}-{batch}"
    names = NodeFactory(cluster, "cutover").add_many(count, labels={POOL: pool})
    daemonset = hostport_daemonset(namespace, APP, (POOL, pool))
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/daemonsets", daemonset)
    wait_until(
        lambda: serving_nodes(agent_pods(cluster, namespace, APP)) == set(names) or None,
        timeout=300,
        interval=1,
        describe="the DaemonSet on every node",
    )
    scalers = ScalerFactory(cluster.kubeconfig, workdir)
    scalers.start("--namespace", namespace)
    printed = run_cli(cluster, "migrate-daemonset", "--daemonset", f"{namespace}/{APP}")
    manifest = workdir / "agent.yaml"
    manifest.write_text(printed.stdout)
    runs = []
    try:
        for what, extra in (("forward", ()), ("reverse", ("--reverse",))):
            sampler = GapSampler(cluster, namespace, f"app={APP}", frozenset(names)).start()
            started = time.monotonic()
            try:
                _cutover(cluster, namespace, manifest, "--batch", str(batch), *extra)
            finally:
                sampler.stop()
            seconds = time.monotonic() - started
            runs.append(Run(what, count, seconds, list(sampler.longest().values())))
    finally:
        for _process, _code in scalers.stop_all():
            pass
        cluster.delete_namespace(namespace, wait=False)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="repeatable; default 20")
    parser.add_argument("--batch", type=int, default=1, help="nodes moved at a time")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp, Cluster() as cluster:
        for count in args.nodes or [20]:
            load = os.getloadavg()[0]
            for run in measure(cluster, count, args.batch, Path(tmp)):
                print(f"{run.line()}; batch {args.batch}; load before {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
