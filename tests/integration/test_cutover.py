"""`migrate-daemonset` and `cutover` on the real control plane, with agents that hold a
host port (two cannot share a node) and pods that go Running (kwok's pod stages).

A sampler lists the agent pods every 50 ms and records, per node, how long it had no Ready
agent pod; the cutover must keep every node's longest gap under GAP_BOUND, the figure
docs/migrating-from-daemonset.md gives (measured by bench/cutover_gap.py).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from devcluster import Cluster
from devcluster.agents import GapSampler, hostport_daemonset, run_cli, serving_nodes
from devcluster.agents import agent_pods as pods_of
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, scaler_executable
from devcluster.testing import NodeFactory

GATE_VALUE = "daemonset"
APP = "agent"
POOL = "cutover.test/pool"
NODES = 20
# Seconds a node may be without a Ready agent during the cutover (docs: measured figure
# plus margin for a loaded 2-core machine).
GAP_BOUND = 5.0


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(cluster, *args, timeout=300)


def agent_pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return pods_of(cluster, namespace, APP)


def by_kind(cluster: Cluster, namespace: str) -> dict[str, dict[str, str]]:
    """node -> pod name, for the DaemonSet's pods and for the Deployment's."""
    found: dict[str, dict[str, str]] = {"DaemonSet": {}, "ReplicaSet": {}}
    for pod in agent_pods(cluster, namespace):
        owner = (pod["metadata"].get("ownerReferences") or [{}])[0].get("kind", "")
        found.setdefault(owner, {})[pod["spec"].get("nodeName", "")] = pod["metadata"]["name"]
    return found


def gated(cluster: Cluster, names: list[str], key: str) -> set[str]:
    return {
        n for n in names if (cluster.get_node(n) or {})["metadata"]["labels"].get(key) == GATE_VALUE
    }


def start(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> tuple[list[str], Path, str]:
    """20 nodes running the DaemonSet's agent, the scaler, and migrate-daemonset's file."""
    pool = nodes.prefix[-20:]
    names = nodes.add_many(NODES, labels={POOL: pool})
    daemonset = hostport_daemonset(namespace, APP, (POOL, pool))
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/daemonsets", daemonset)
    wait_until(
        lambda: serving_nodes(agent_pods(cluster, namespace)) == set(names) or None,
        timeout=60,
        interval=0.5,
        describe="the DaemonSet's agent on every node",
    )
    scalers.start("--namespace", namespace)
    printed = cli(cluster, "migrate-daemonset", "--daemonset", f"{namespace}/{APP}")
    assert printed.returncode == 0, printed.stderr
    manifest = tmp_path / "agent.yaml"
    manifest.write_text(printed.stdout)
    return names, manifest, f"cutover.nodecount-scaler.io/{namespace}.{APP}"


def cutover(cluster: Cluster, namespace: str, manifest: Path, *extra: str) -> str:
    done = cli(cluster, "cutover", "--daemonset", f"{namespace}/{APP}", "-f", str(manifest), *extra)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def interrupted_cutover(cluster: Cluster, namespace: str, manifest: Path) -> str:
    """A cutover stopped by Ctrl-C once it has moved a node."""
    command = [scaler_executable(), "cutover", "--daemonset", f"{namespace}/{APP}"]
    command += ["-f", str(manifest), "--kubeconfig", str(cluster.kubeconfig)]
    # Ctrl-C as at a terminal: a shell that starts this run in the background (nohup, CI
    # runners) hands its children SIGINT ignored, and Python then keeps it ignored.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("["):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, f"{''.join(lines)}{out}\n{err}"
    assert "run the same command again" in err
    return "".join(lines) + out


def test_cutover_interrupted_and_resumed(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> None:
    """Dry run writes nothing; 7 nodes, then Ctrl-C after one more, then the rest: every
    node on the Deployment, none without its agent longer than GAP_BOUND."""
    names, manifest, key = start(cluster, namespace, nodes, scalers, tmp_path)
    ds_path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{APP}"
    before = cluster.api.get(ds_path)["metadata"]["resourceVersion"]
    plan = cutover(cluster, namespace, manifest, "--dry-run")
    total = len(cluster.api.get("/api/v1/nodes")["items"])
    assert f"would label {total} of {total} nodes" in plan, plan
    assert sum(line.startswith("would move ") and "without" not in line
               for line in plan.splitlines()) == NODES, plan  # fmt: skip
    assert cluster.api.get(ds_path)["metadata"]["resourceVersion"] == before
    assert not gated(cluster, names, key)
    deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert cluster.api.get(deployments)["items"] == []

    sampler = GapSampler(cluster, namespace, f"app={APP}", frozenset(names)).start()
    try:
        first = cutover(cluster, namespace, manifest, "--max-nodes", "7")
        assert "stopped as asked" in first, first
        assert len(gated(cluster, names, key)) == NODES - 7
        pods = by_kind(cluster, namespace)
        assert (len(pods["ReplicaSet"]), len(pods["DaemonSet"])) == (7, NODES - 7), pods
        interrupted_cutover(cluster, namespace, manifest)
        last = cutover(cluster, namespace, manifest)
        assert "every node is on the Deployment" in last, last
    finally:
        sampler.stop()
    print(f"\ncutover of {NODES} nodes: {sampler.summary()}")
    pods = by_kind(cluster, namespace)
    assert (set(pods["ReplicaSet"]), pods["DaemonSet"]) == (set(names), {}), pods
    assert not gated(cluster, names, key)
    deployment = cluster.api.get(f"{deployments}/{APP}")
    assert deployment["spec"]["replicas"] == NODES
    longest = sampler.longest()
    assert max(longest.values()) <= GAP_BOUND, sorted(longest.items(), key=lambda kv: -kv[1])[:5]


def test_cutover_reversed_half_way(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> None:
    """Half the nodes moved, then --reverse: the DaemonSet exactly as before (template and
    strategy), the pods of the nodes never moved untouched, the Deployment and the labels
    gone, no node without its agent longer than GAP_BOUND during the cutover."""
    names, manifest, key = start(cluster, namespace, nodes, scalers, tmp_path)
    ds_path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{APP}"
    original = cluster.api.get(ds_path)
    sampler = GapSampler(cluster, namespace, f"app={APP}", frozenset(names)).start()
    try:
        cutover(cluster, namespace, manifest, "--max-nodes", str(NODES // 2), "--batch", "2")
        kept = by_kind(cluster, namespace)["DaemonSet"]
        assert len(kept) == NODES // 2, kept
        back = cutover(cluster, namespace, manifest, "--reverse")
        assert "the DaemonSet is as before" in back, back
    finally:
        sampler.stop()
    print(f"\ncutover and reverse of {NODES // 2} of {NODES} nodes: {sampler.summary()}")
    longest = sampler.longest()
    assert max(longest.values()) <= GAP_BOUND, sorted(longest.items(), key=lambda kv: -kv[1])[:5]
    restored = cluster.api.get(ds_path)
    assert restored["spec"]["template"] == original["spec"]["template"]
    assert restored["spec"]["updateStrategy"] == original["spec"]["updateStrategy"]
    assert "nodecount-scaler.io/cutover" not in (restored["metadata"].get("annotations") or {})
    assert not gated(cluster, names, key)
    assert (
        cluster.api.get_or_none(f"/apis/apps/v1/namespaces/{namespace}/deployments/{APP}") is None
    )
    pods = by_kind(cluster, namespace)
    assert not pods.get("ReplicaSet"), pods
    # The nodes never moved keep the very pods they had.
    assert all(pods["DaemonSet"].get(node) == pod for node, pod in kept.items()), (kept, pods)

    def rolled_out() -> bool | None:
        ds = cluster.api.get(ds_path)
        status = ds.get("status") or {}
        done = status.get("observedGeneration") == ds["metadata"]["generation"] and all(
            status.get(f) == NODES for f in ("updatedNumberScheduled", "numberAvailable")
        )
        return done or None

    # The pods the reverse created carry the gated template: the DaemonSet's own rolling
    # update replaces them once, as after any template change.
    started = time.monotonic()
    wait_until(rolled_out, timeout=120, interval=0.5, describe="the DaemonSet's own rollout")
    print(
        f"the DaemonSet's rollout of the reversed nodes' pods: {time.monotonic() - started:.1f} s"
    )
    assert serving_nodes(agent_pods(cluster, namespace)) == set(names)


def test_cutover_refuses_what_would_put_pods_side_by_side(
    cluster: Cluster, namespace: str, nodes: NodeFactory, tmp_path: Path
) -> None:
    """Exit 2 and nothing written: --reverse on a DaemonSet that is not gated; a Deployment
    file without the gate; a Deployment of that name already there without the gate."""
    pool = nodes.prefix[-20:]
    names = nodes.add_many(2, labels={POOL: pool})
    daemonset = hostport_daemonset(namespace, APP, (POOL, pool))
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/daemonsets", daemonset)
    printed = cli(cluster, "migrate-daemonset", "--daemonset", f"{namespace}/{APP}")
    assert printed.returncode == 0, printed.stderr
    good = tmp_path / "agent.yaml"
    good.write_text(printed.stdout)
    # The printed file, comments and all, is what kubectl applies.
    applied = cluster.kubectl("apply", "--dry-run=server", "-f", str(good))
    assert f"deployment.apps/{APP} created (server dry run)" in applied.stdout, applied
    ungated = yaml.safe_load_all(printed.stdout)
    deployment = next(d for d in ungated if d and d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["affinity"].pop("nodeAffinity")
    bad = tmp_path / "ungated.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    ds_path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{APP}"
    before = cluster.api.get(ds_path)["metadata"]["resourceVersion"]

    base = ("cutover", "--daemonset", f"{namespace}/{APP}")
    refused = cli(cluster, *base, "-f", str(good), "--reverse")
    assert (refused.returncode, refused.stdout) == (2, ""), refused
    assert "is not gated: there is nothing to reverse" in refused.stderr
    refused = cli(cluster, *base, "-f", str(bad))
    assert refused.returncode == 2, refused
    assert "lacks the cutover gate" in refused.stderr
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)
    refused = cli(cluster, *base, "-f", str(good))
    assert refused.returncode == 2, refused
    assert "exists without" in refused.stderr
    assert cluster.api.get(ds_path)["metadata"]["resourceVersion"] == before
    assert not gated(cluster, names, f"cutover.nodecount-scaler.io/{namespace}.{APP}")
