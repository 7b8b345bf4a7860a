"""The demo: nodecount-scaler on a local control plane, narrated.

    python -m devcluster.demo [--pause SECONDS] [--keep] [--image REF]

Starts a cluster with three simulated nodes, applies the example Deployment from
manifests/examples (nginx on every node, annotated), runs the real `nodecount-scaler run`
process, then adds, cordons, taints and removes nodes, printing after each step the nodes,
the eligible count, the replicas and where the pods run, and at the end the service's
memory. Everything is torn down at the end.

With --image, the service runs from the container image instead of the venv, as a pod of
the shipped Deployment (devcluster/container.py): in-cluster configuration, the shipped
ServiceAccount with the shipped RBAC and admission policies, the Deployment's security
settings; only its args are the demo's (plain-HTTP metrics, a short NotReady grace).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import yaml

from devcluster import shipped
from devcluster.cluster import Cluster
from devcluster.container import ContainerScaler, PodNetwork, deployment_pod
from devcluster.polling import WaitAborted, WaitTimeout, wait_until
from devcluster.prometheus import (
    ALERTS,
    Prometheus,
    PrometheusError,
    rules_with_short_for,
    scrape_job,
)
from devcluster.sampling import RssSampler
from devcluster.scaler import ScalerProcess, scaler_executable
from devcluster.versions import REPO_ROOT
from devcluster.workloads import replicas, running

EXAMPLE = REPO_ROOT / "manifests" / "examples" / "nginx-everywhere.yaml"
NAMESPACE = "default"
APP = "nginx-everywhere"
ALERT_HOLD = "2s"
# A NotReady grace shorter than the shipped one, so the demo need not wait.
UNREADY_GRACE = ("--unready-grace", "10")
BOLD, DIM, GREEN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[0m") if sys.stdout.isatty() else ("", "", "", "")
)


def say(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


class Demo:
    def __init__(
        self, cluster: Cluster, pause: float, scaler: ScalerProcess | ContainerScaler
    ) -> None:
        self.cluster = cluster
        self.pause = pause
        self.scaler = scaler
        self.prom: Prometheus | None = None
        self._log_offset = 0
        self.rss_idle = 0.0

    # -- the service --------------------------------------------------------------------

    def start_scaler(self) -> None:
        print(f"{DIM}$ {' '.join(self.scaler.command)}{RESET}")
        try:
            self.scaler.start(timeout=30)
        except (WaitTimeout, WaitAborted) as e:
            raise SystemExit(f"nodecount-scaler did not become ready: {e}") from None

    def stop_scaler(self) -> None:
        if not self.scaler.running():
            return
        started = time.monotonic()
        code = self.scaler.stop(10)
        print(f"nodecount-scaler exited {code} {time.monotonic() - started:.2f} s after SIGTERM")

    def print_new_decisions(self) -> None:
        """The scaler's own account of what it did since the last step."""
        with self.scaler.log_path.open("rb") as log:
            log.seek(self._log_offset)
            chunk = log.read()
            self._log_offset += len(chunk)
        for raw in chunk.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            event = line.get("event")
            if event == "rescaled":
                print(
                    f"  {GREEN}scaler: rescaled {line['from']} -> {line['to']} "
                    f"({line['eligible']} eligible nodes: {line['reason']}){RESET}"
                )
            elif event == "set pod-deletion-cost":
                print(f"  {GREEN}scaler: pod-deletion-cost {line['cost']} on {line['pod']}{RESET}")
            elif line.get("level") in ("warning", "error"):
                print(f"  scaler {line['level']}: {event}")

    # -- observation --------------------------------------------------------------------

    def start_prometheus(self) -> None:
        """A real Prometheus scraping the service and evaluating monitoring/alerts.yaml, with
        every `for:` cut to ALERT_HOLD so the demo need not wait minutes. Started early: its
        first scrape comes some seconds after it starts."""
        rules = rules_with_short_for(ALERTS, self.cluster.workdir / "alerts.yaml", ALERT_HOLD)
        # The demo's process serves /metrics in plain HTTP (--no-metrics-secure), as its
        # /status reads do; the tests scrape the secure listener with a reader's token.
        scrape = [scrape_job(self.scaler.metrics_address, None)]
        try:
            self.prom = Prometheus(self.cluster.workdir / "prometheus", scrape, [rules]).start()
        except PrometheusError as e:
            print(f"  (no alerts in this demo: {e})")

    def stop_prometheus(self) -> None:
        if self.prom is not None:
            self.prom.stop()

    def alert_on_bad_annotation(self) -> None:
        """Break the target's annotation; print when Prometheus says the alert fires."""
        edited = time.monotonic()
        self.cluster.kubectl(
            "annotate", "deployment", APP, "nodecount-scaler.io/min-replicas=-1", "--overwrite"
        )
        time.sleep(0.5)  # let the scaler's log line reach the file
        self.print_new_decisions()
        prom = self.prom
        if prom is None:
            return
        (alert, *_) = wait_until(
            lambda: [
                a for a in prom.alerts("NodecountScalerTargetInvalid") if a["state"] == "firing"
            ],
            30,
            describe="the alert NodecountScalerTargetInvalid",
        )
        labels = alert["labels"]
        print(
            f"  {GREEN}Prometheus: alert NodecountScalerTargetInvalid firing for "
            f"{labels['namespace']}/{labels['name']}, {time.monotonic() - edited:.1f} s after "
            f"the edit (for: {ALERT_HOLD} in this demo, 5m as shipped){RESET}"
        )

    def replicas(self) -> int:
        return replicas(self.cluster, NAMESPACE, APP)

    def pods_by_node(self) -> dict[str, str]:
        pods = running(self.cluster, NAMESPACE, APP)
        return {p["spec"].get("nodeName", "?"): p["metadata"]["name"] for p in pods}

    def eligible(self) -> object:
        """The eligible-node count the scaler reports on /status (None if it cannot say)."""
        try:
            status = self.scaler.get("/status")[1]
        except (OSError, ValueError):
            return None
        targets = status.get("targets", []) if isinstance(status, dict) else []
        return next((t.get("eligible") for t in targets if t["name"] == APP), None)

    def show(self, expect: int) -> None:
        """Wait until the scaler has written `expect` replicas and the pods have settled."""

        def settled() -> bool:
            nodes = {_name(n) for n in self.cluster.api.get("/api/v1/nodes")["items"]}
            on_nodes = [n for n in self.pods_by_node() if n in nodes]
            return self.replicas() == expect and len(on_nodes) == expect

        try:
            wait_until(settled, 60, interval=0.2, describe=f"{expect} replicas")
        except WaitTimeout:
            print(f"  (not settled at {expect} replicas after 60 s)")
        time.sleep(0.3)  # let the scaler's log lines for this step reach the file
        self.print_new_decisions()
        nodes = sorted(self.cluster.api.get("/api/v1/nodes")["items"], key=_name)
        pods = {n: p for n, p in self.pods_by_node().items() if n in {_name(x) for x in nodes}}
        print(f"  {'NODE':<10} {'STATE':<32} POD")
        for node in nodes:
            name = _name(node)
            print(f"  {name:<10} {_state(node):<32} {pods.get(name, '-')}")
        print(
            f"  eligible nodes: {self.eligible()}   replicas: {self.replicas()}   "
            f"running pods: {len(pods)}"
        )
        time.sleep(self.pause)

    # -- the story ----------------------------------------------------------------------

    def run(self) -> None:
        say("Three nodes, and the example Deployment (nginx on every node, annotated)")
        self.cluster.add_nodes(["node-1", "node-2", "node-3"])
        self.cluster.kubectl("apply", "-f", str(EXAMPLE))
        print(f"  replicas before nodecount-scaler runs: {self.replicas()}")

        say("Start nodecount-scaler (and a Prometheus that scrapes it)")
        self.start_scaler()
        self.start_prometheus()
        self.show(3)
        self.rss_idle = self.scaler.rss_mib()
        with RssSampler(lambda: [self.scaler.pid()]) as rss:
            self.node_changes()
        print(
            f"\n  nodecount-scaler RSS: {self.rss_idle:.1f} MiB idle after the first sync, "
            f"peak {rss.peak():.1f} MiB during the node changes"
        )

        say("Set min-replicas=-1: the target is invalid, left untouched, and the alert fires")
        self.alert_on_bad_annotation()

        self.show_plan_and_events()

        say("Stop nodecount-scaler (SIGTERM) and tear the cluster down")
        self.stop_scaler()

    def node_changes(self) -> None:
        say("Add node-4: one more eligible node, one more replica, placed on it")
        self.cluster.add_node("node-4")
        self.show(4)

        say("Cordon node-2: it leaves at once, and the pod removed is the one on node-2")
        self.cluster.kubectl("cordon", "node-2")
        self.show(3)

        say("Taint node-3 dedicated=db:NoSchedule (the template does not tolerate it)")
        self.cluster.kubectl("taint", "node", "node-3", "dedicated=db:NoSchedule")
        self.show(2)

        say("Uncordon node-2 and remove the taint from node-3: back to four")
        self.cluster.kubectl("uncordon", "node-2")
        self.cluster.kubectl("taint", "node", "node-3", "dedicated=db:NoSchedule-")
        self.show(4)

        say("Delete node-4")
        self.cluster.delete_node("node-4")
        self.show(3)

    def show_plan_and_events(self) -> None:
        say("What `nodecount-scaler plan` says (one-shot, writes nothing)")
        plan = [scaler_executable(), "plan", "--kubeconfig", str(self.cluster.kubeconfig)]
        subprocess.run([*plan, "--log-level", "warning"], check=False)
        say("Events on the Deployment (kubectl describe deployment nginx-everywhere)")
        events = self.cluster.kubectl(
            *("get", "events", "-n", NAMESPACE),
            *("--field-selector", f"involvedObject.name={APP}"),
            *("-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"),
            check=False,
        )
        print(events.stdout if isinstance(events.stdout, str) else events.stdout.decode())


def _name(node: dict[str, Any]) -> str:
    return str(node["metadata"]["name"])


def _state(node: dict[str, Any]) -> str:
    parts = []
    ready = next(
        (c["status"] for c in node.get("status", {}).get("conditions", []) if c["type"] == "Ready"),
        "?",
    )
    parts.append("Ready" if ready == "True" else f"Ready={ready}")
    if node.get("spec", {}).get("unschedulable"):
        parts.append("cordoned")
    for taint in node.get("spec", {}).get("taints", []):
        if not taint["key"].startswith("node.kubernetes.io/"):
            parts.append(f"{taint['key']}={taint.get('value', '')}:{taint['effect']}")
    return ", ".join(parts)


@contextlib.contextmanager
def image_scaler(cluster: Cluster, image: str) -> Iterator[ContainerScaler]:
    """The service as a pod of the shipped Deployment, from `image`, with the shipped
    permissions applied; its args the demo's: metrics in plain HTTP (the demo reads /status
    without credentials), the short NotReady grace."""
    docs = shipped.render_kustomize()
    objects = shipped.permission_objects(docs)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    deployment = shipped.the_deployment(docs)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    args = ["run", "--no-metrics-secure", *UNREADY_GRACE]
    with PodNetwork(cluster.ports.apiserver).start(image) as network:
        yield deployment_pod(cluster, deployment, network, cluster.workdir, args)


def venv_scaler(cluster: Cluster) -> contextlib.AbstractContextManager[ScalerProcess]:
    return contextlib.nullcontext(
        ScalerProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=cluster.workdir / "nodecount-scaler.log",
            args=UNREADY_GRACE,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.demo", description=__doc__)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds to pause after each step")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's workdir (logs)")
    parser.add_argument("--image", help="run the service from this image (hack/build-image.sh)")
    args = parser.parse_args(argv)
    os.environ.pop("KUBECONFIG", None)

    say("Start a local control plane (etcd, kube-apiserver, controller manager, scheduler, kwok)")
    started = time.monotonic()
    with Cluster(keep=args.keep, watch_cache=True) as cluster:
        print(f"  up in {time.monotonic() - started:.1f} s; kubeconfig {cluster.kubeconfig}")
        service = image_scaler(cluster, args.image) if args.image else venv_scaler(cluster)
        with service as scaler:
            demo = Demo(cluster, args.pause, scaler)
            try:
                demo.run()
            finally:
                demo.stop_prometheus()
                demo.stop_scaler()
    print("\nDone: no process left behind.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
