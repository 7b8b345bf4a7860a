"""The local control plane itself (devcluster) behaves as the other integration tests need."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from devcluster import TAINT_NOT_READY, TAINT_UNREACHABLE, Cluster, read_versions
from devcluster.polling import wait_until
from devcluster.testing import NodeFactory

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


def _ready(node: dict[str, Any]) -> str | None:
    for c in node["status"].get("conditions") or []:
        if c["type"] == "Ready":
            return str(c["status"])
    return None


def _taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}


def _deployment(name: str, replicas: int, node_selector: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "nodeSelector": node_selector,
                        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                    },
                },
            },
        }
    )


def test_apiserver_reports_pinned_version(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == read_versions().kubernetes


def test_added_node_is_ready_and_untainted(cluster: Cluster, nodes: NodeFactory) -> None:
    name = nodes.add(labels={"pool": "a"})
    node = nodes.get(name)
    assert node is not None
    assert _ready(node) == "True"
    assert _taints(node) == set()
    assert node["status"]["allocatable"] == {"cpu": "32", "memory": "256Gi", "pods": "110"}
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == name
    assert labels["type"] == "kwok"
    assert labels["pool"] == "a"


def test_node_with_taints_keeps_them(cluster: Cluster, nodes: NodeFactory) -> None:
    taint = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    name = nodes.add(taints=[taint])
    node = nodes.get(name)
    assert node is not None
    assert _taints(node) == {("dedicated", "NoSchedule")}


def test_deployment_pods_are_scheduled_and_running(
    cluster: Cluster, namespace: str, nodes: NodeFactory
) -> None:
    pool = f"pool-{secrets.token_hex(3)}"
    names = nodes.add_many(2, labels={"pool": pool})
    cluster.kubectl(
        "-n", namespace, "apply", "-f", "-", input=_deployment("web", 2, {"pool": pool})
    )

    def running() -> list[dict[str, Any]] | None:
        pods = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3Dweb")
        items: list[dict[str, Any]] = pods["items"]
        ok = [p for p in items if p["status"].get("phase") == "Running"]
        return ok if len(ok) == 2 else None

    pods = wait_until(running, 60, describe="2 Running pods")
    assert {p["spec"]["nodeName"] for p in pods} <= set(names)
    assert all(p["status"].get("podIP") for p in pods)


def test_audit_log_records_deployment_writes(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=_deployment("d", 1, {"x": "y"}))
    assert cluster.audit_events(namespace=namespace) == []  # create is not recorded
    cluster.kubectl("-n", namespace, "scale", "deployment/d", "--replicas=3")
    cluster.kubectl("-n", namespace, "label", "deployment/d", "touched=yes")

    def two_events() -> list[dict[str, Any]] | None:
        events = cluster.audit_events(namespace=namespace, name="d")
        return events if len(events) >= 2 else None

    events = wait_until(two_events, 10, describe="2 audit events")
    assert {e["verb"] for e in events} <= {"patch", "update"}
    assert {e["objectRef"].get("subresource") for e in events} == {"scale", None}
    assert all(e["level"] == "Metadata" for e in events)


def test_stop_kubelet_makes_node_unreachable_and_start_revives_it(
    cluster: Cluster, nodes: NodeFactory
) -> None:
    # Keep one node alive: with every node of the zone down, the node lifecycle controller
    # enters full disruption and withholds the NoExecute taint.
    dead, alive = nodes.add_many(2)
    t0 = time.monotonic()
    cluster.stop_kubelet(dead, wait=True, timeout=60)
    elapsed = time.monotonic() - t0
    node = cluster.wait_node_not_ready(dead, timeout=30, effects=("NoSchedule", "NoExecute"))
    assert _ready(node) == "Unknown"
    assert {(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")} <= _taints(node)
    assert elapsed < 60
    other = nodes.get(alive)
    assert other is not None
    assert _ready(other) == "True"
    assert _taints(other) == set()

    cluster.start_kubelet(dead, wait=True, timeout=60)
    revived = nodes.get(dead)
    assert revived is not None
    assert _ready(revived) == "True"
    assert not {k for k, _ in _taints(revived)} & {TAINT_UNREACHABLE, TAINT_NOT_READY}


def test_restart_apiserver_keeps_data_and_port(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("-n", namespace, "create", "configmap", "keep", "--from-literal=k=v")
    server = cluster.server
    cluster.restart_apiserver()
    assert cluster.server == server
    out = cluster.kubectl("-n", namespace, "get", "configmap", "keep", "-o", "jsonpath={.data.k}")
    assert out.stdout == "v"
    assert cluster.is_running()


def test_compact_etcd_makes_old_resource_versions_gone(cluster: Cluster, namespace: str) -> None:
    created = json.loads(
        cluster.kubectl(
            "-n", namespace, "create", "configmap", "c", "--from-literal=n=0", "-o", "json"
        ).stdout
    )
    rv = created["metadata"]["resourceVersion"]
    for i in range(1, 4):
        cluster.kubectl(
            "-n", namespace, "patch", "configmap", "c", "-p", f'{{"data":{{"n":"{i}"}}}}'
        )
    path = (
        f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2"
    )

    def watch() -> list[dict[str, Any]]:
        out = cluster.kubectl("get", "--raw", path).stdout
        return [json.loads(line) for line in out.splitlines()]

    before = watch()
    assert [e["type"] for e in before] == ["MODIFIED"] * 3

    cluster.compact_etcd()
    after = watch()
    assert after, "the watch answered nothing"
    assert after[0]["type"] == "ERROR"
    assert after[0]["object"]["code"] == 410
