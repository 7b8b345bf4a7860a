"""`kubectl nodecount plan` through the real kubectl: kubectl finds the kubectl-nodecount
console script on PATH and hands it its usual flags (--kubeconfig, --context, -n), and the
answer is nodecount-scaler plan's, exit code included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import Cluster
from devcluster.testing import NodeFactory
from testkit.workloads import nginx_everywhere
from tests.integration.monitored import BAD, HEALTHY, SELECTOR_KEY
from tests.integration.workloads import apply

VENV_BIN = Path(sys.executable).parent


def kubectl(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl as a user runs it: the venv's bin on PATH, nothing else of ours in the env."""
    binary = shutil.which("kubectl")
    assert binary is not None, "kubectl is not on PATH"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODECOUNT_SCALER_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("KUBECONFIG", None)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.create_namespace("plugin-other")
    yield name
    cluster.delete_namespace(name, wait=False)


def test_plugin_plan_with_kubectl_flags(
    cluster: Cluster, namespace: str, other_namespace: str, nodes: NodeFactory
) -> None:
    """-n limits to one namespace, --kubeconfig/--context or KUBECONFIG pick the cluster."""
    label = f"plugin-test={namespace}"
    nodes.add_many(3, labels={"plugin-test": namespace})
    apply(cluster, nginx_everywhere(namespace, HEALTHY, **{SELECTOR_KEY: label}))
    apply(
        cluster, nginx_everywhere(other_namespace, BAD, **{"nodecount-scaler.io/min-replicas": "x"})
    )
    listed = kubectl("plugin", "list")
    assert str(VENV_BIN / "kubectl-nodecount") in listed.stdout, listed.stdout + listed.stderr

    config = str(cluster.kubeconfig)
    mine = kubectl("nodecount", "plan", "-n", namespace, "--kubeconfig", config, "-o", "json")
    assert mine.returncode == 0, mine.stderr
    (target,) = json.loads(mine.stdout)
    assert (target["namespace"], target["name"]) == (namespace, HEALTHY)
    assert (target["eligible"], target["desired"], target["valid"]) == (3, 3, True)

    # KUBECONFIG and the context by name; the other namespace's target is invalid: exit 1.
    context = json.loads(cluster.kubeconfig.read_text())["current-context"]
    other = kubectl(
        "nodecount",
        "plan",
        f"--namespace={other_namespace}",
        f"--context={context}",
        kubeconfig=cluster.kubeconfig,
    )
    assert other.returncode == 1, other.stderr
    assert other.stdout.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    (row,) = other.stdout.splitlines()[1:]
    assert row.split()[:2] == [other_namespace, BAD]

    # Without -n: both namespaces (and whatever else the cluster holds).
    everything = kubectl("nodecount", "plan", "-o", "json", kubeconfig=cluster.kubeconfig)
    names = {(t["namespace"], t["name"]) for t in json.loads(everything.stdout)}
    assert {(namespace, HEALTHY), (other_namespace, BAD)} <= names

    wrong = kubectl("nodecount", "plan", "--context", "nope", kubeconfig=cluster.kubeconfig)
    assert wrong.returncode == 2
    assert "nope" in wrong.stderr


def test_plugin_plan_kind_and_workload(
    cluster: Cluster, namespace: str, nodes: NodeFactory
) -> None:
    """--kind picks the built-in kinds plan reads and --workload adds a custom resource, as
    for `nodecount-scaler plan`; a bad one is plan's usage error, exit code 2."""
    label = f"plugin-kinds={namespace}"
    nodes.add_many(2, labels={"plugin-kinds": namespace})
    deployment = nginx_everywhere(namespace, "web", **{SELECTOR_KEY: label})
    statefulset = nginx_everywhere(namespace, "db", **{SELECTOR_KEY: label})
    statefulset["kind"] = "StatefulSet"
    statefulset["spec"].pop("strategy", None)
    statefulset["spec"]["serviceName"] = "db"
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": [deployment, statefulset]})
    config = str(cluster.kubeconfig)

    def kinds(*flags: str) -> set[tuple[str, str]]:
        done = kubectl(
            "nodecount", "plan", "-n", namespace, "--kubeconfig", config, "-o", "json", *flags
        )
        assert done.returncode == 0, done.stderr
        return {(t["kind"], t["name"]) for t in json.loads(done.stdout)}

    assert kinds() == {("Deployment", "web"), ("StatefulSet", "db")}
    assert kinds("--kind", "StatefulSet") == {("StatefulSet", "db")}
    assert kinds("--kind=Deployment") == {("Deployment", "web")}
    # A custom resource the API server does not serve is logged and not watched.
    assert kinds("--kind", "Deployment", "--workload", "example.com/v1/widgets") == {
        ("Deployment", "web")
    }
    bad = kubectl("nodecount", "plan", "--kubeconfig", config, "--kind", "DaemonSet")
    assert bad.returncode == 2
    assert "--kind" in bad.stderr
