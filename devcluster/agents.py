"""How long each node is without a Ready agent pod, sampled while something moves them.

An agent pod serves its node when it is bound there, its Ready condition is True and it is
not being deleted (a pod being deleted may still run, so counting it out makes the
figure an upper bound). The sampler lists the pods of one label selector every `interval`
seconds in a thread and records, per node, every stretch during which no pod served it
(one sample late at most at each end: the figure is exact to `interval` plus one LIST).

Shared by the cutover's integration test and its benchmark (bench/cutover_gap.py), with
the agent DaemonSet both run.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devcluster.controlplane import ControlPlane
from devcluster.scaler import scaler_executable


def serving_nodes(pods: Iterable[Mapping[str, Any]]) -> set[str]:
    """The nodes with a Ready agent pod that is not being deleted."""
    served = set()
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            served.add(pod["spec"].get("nodeName", ""))
    return served


@dataclass
class GapSampler:
    """Start with `start()`, stop with `stop()`; `gaps` holds every finished stretch."""

    cluster: ControlPlane
    namespace: str
    selector: str
    nodes: frozenset[str]
    interval: float = 0.05
    gaps: dict[str, list[float]] = field(default_factory=dict)
    samples: int = 0
    _open: dict[str, float] = field(default_factory=dict)
    _last_seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: Exception | None = None

    def _sample(self) -> None:
        query = urllib.parse.urlencode({"labelSelector": self.selector})
        listing = self.cluster.api.get(f"/api/v1/namespaces/{self.namespace}/pods?{query}")
        now = time.monotonic()
        served = serving_nodes(listing["items"])
        for node in self.nodes:
            if node in served:
                started = self._open.pop(node, None)
                if started is not None:
                    self.gaps.setdefault(node, []).append(now - started)
                self._last_seen[node] = now
            elif node not in self._open and node in self._last_seen:
                # The gap began after the last sample that saw the node served.
                self._open[node] = self._last_seen[node]
        self.samples += 1

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._sample()
                self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - reported by stop(), in the test's thread
            self.error = exc

    def start(self) -> GapSampler:
        self._sample()
        missing = self.nodes - set(self._last_seen)
        if missing:
            raise AssertionError(f"nodes without a Ready agent before sampling: {sorted(missing)}")
        self._thread = threading.Thread(target=self._run, name="gap-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.error is not None:
            raise AssertionError(f"the sampler failed: {self.error!r}") from self.error

    def unserved_now(self) -> dict[str, float]:
        """Nodes in a gap right now, with how long it has lasted."""
        now = time.monotonic()
        return {node: now - started for node, started in self._open.items()}

    def longest(self) -> dict[str, float]:
        """Per node, its longest gap so far (0 for a node that never lost its agent),
        counting a gap still open."""
        result = {node: max(self.gaps.get(node, [0.0])) for node in self.nodes}
        for node, seconds in self.unserved_now().items():
            result[node] = max(result[node], seconds)
        return result

    def summary(self) -> str:
        longest = sorted(self.longest().values())
        if not longest:
            return "no nodes"
        return (
            f"{len(longest)} nodes, {self.samples} samples every {self.interval * 1000:.0f} ms: "
            f"longest gap per node: median {statistics.median(longest):.2f} s, "
            f"max {longest[-1]:.2f} s; gaps counted {sum(len(g) for g in self.gaps.values())}"
        )


PAUSE = "registry.k8s.io/pause:3.10"
AGENT_PORT = 9100


def hostport_daemonset(namespace: str, name: str, node_label: tuple[str, str]) -> dict[str, Any]:
    """An agent DaemonSet on the nodes labelled `node_label`, holding a host port, as node
    exporters and log shippers do: two of its pods cannot share a node."""
    key, value = node_label
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {key: value},
                    "containers": [
                        {
                            "name": "agent",
                            "image": PAUSE,
                            "ports": [{"containerPort": AGENT_PORT, "hostPort": AGENT_PORT}],
                        }
                    ],
                },
            },
        },
    }


def agent_pods(cluster: ControlPlane, namespace: str, app: str) -> list[dict[str, Any]]:
    """The pods labelled app=<app> that are not being deleted."""
    query = urllib.parse.urlencode({"labelSelector": f"app={app}"})
    listing = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?{query}")
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def run_cli(
    cluster: ControlPlane, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`nodecount-scaler ARGS --kubeconfig <the cluster's>`, its output captured."""
    command = [scaler_executable(), *args, "--kubeconfig", str(cluster.kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
