"""The two variants of the install, each applied for real and run with a TokenRequest token
of the shipped service account: without pod-deletion-cost (no pod permission at all, a
scale-down still happens) and namespaced (its namespaces managed, every other one out of
sight and out of reach)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import pods, replicas
from nodecount_scaler.cli import parse_settings
from testkit.workloads import nginx_everywhere
from tests.integration.as_service_account import TokenApi, request_token
from tests.integration.shipped import (
    NS,
    SA,
    Objects,
    Perm,
    event,
    installed,
    service_account_kubeconfig,
    wait_authorized,
)
from tests.integration.workloads import apply
from tests.manifests import NAMESPACED, NO_POD_DELETION_COST, one, render

COST = "controller.kubernetes.io/pod-deletion-cost"
APP = "nginx-everywhere"


def manifest_env(directory: Path) -> dict[str, str]:
    """The NODECOUNT_SCALER_* variables the variant's Deployment sets (plain values)."""
    container = one(render(directory), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {
        e["name"]: e["value"]
        for e in container["env"]
        if "value" in e and e["name"].startswith("NODECOUNT_SCALER_")
        and e["name"] != "NODECOUNT_SCALER_LOG_FORMAT"
    }  # fmt: skip


def target(cluster: Cluster, namespace: str, label: dict[str, str], count: int) -> None:
    """nginx-everywhere with `count` replicas, on the nodes carrying `label` only."""
    obj = nginx_everywhere(namespace)
    obj["spec"]["replicas"] = count
    obj["spec"]["template"]["spec"]["nodeSelector"] = label
    apply(cluster, obj)


def bound(cluster: Cluster, namespace: str) -> dict[str, str]:
    """node -> pod of the target's pods that are bound."""
    found = pods(cluster, namespace, APP)
    return {
        p["spec"]["nodeName"]: p["metadata"]["name"] for p in found if p["spec"].get("nodeName")
    }


def cordon(cluster: Cluster, node: str) -> None:
    cluster.api.merge_patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}})


def start(
    scalers: ScalerFactory, kubeconfig: Path, env: dict[str, str], *args: str
) -> ScalerProcess:
    return scalers.start(*args, kubeconfig=kubeconfig, env=env, wait_ready=True)


def errors(scaler: ScalerProcess) -> list[dict[str, Any]]:
    return [line for line in scaler.logs() if line.get("level") == "error"]


# --------------------------------------------------------------------------- no pod steering


@pytest.fixture
def without_pods(cluster: Cluster) -> Iterator[Objects]:
    with installed(cluster, NO_POD_DELETION_COST) as objects:
        yield objects


def test_without_pod_deletion_cost_a_scale_down_touches_no_pod(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    without_pods: Objects,
    tmp_path: Path,
) -> None:
    """No pod permission at all; the service lists no pod, writes no pod, and the
    scale-down on a cordon still happens."""
    pod_perms = {Perm(verb, "pods", namespace=namespace): False for verb in ("list", "watch")}
    pod_perms[Perm("patch", "pods", namespace=namespace, name="any")] = False
    pod_perms[Perm("patch", "deployments", "apps", namespace=namespace)] = True
    wait_authorized(cluster, pod_perms)
    env = manifest_env(NO_POD_DELETION_COST)
    assert env == {"NODECOUNT_SCALER_POD_DELETION_COST": "false"}

    label = {"nodecount-test": namespace}
    names = nodes.add_many(2, labels=label)
    target(cluster, namespace, label, 2)
    wait_until(lambda: len(bound(cluster, namespace)) == 2, timeout=30, describe="two pods bound")
    # This test's namespace only: targets other tests left behind are none of its business.
    kubeconfig = service_account_kubeconfig(cluster, tmp_path)
    scaler = start(scalers, kubeconfig, env, "--namespace", namespace)
    wait_until(lambda: scaler.target(namespace, APP), timeout=10, describe="target known")
    cordon(cluster, names[0])
    wait_until(lambda: replicas(cluster, namespace, APP) == 1, timeout=20, describe="2 -> 1")
    assert [(r["from"], r["to"]) for r in scaler.wait_log("rescaled", 1)] == [(2, 1)]
    assert scaler.log_events("watching pods") == []
    assert scaler.log_events("set pod-deletion-cost") == []
    assert all(
        COST not in (p["metadata"].get("annotations") or {}) for p in pods(cluster, namespace, APP)
    )
    assert errors(scaler) == []


# --------------------------------------------------------------------------- namespaced


@pytest.fixture(scope="module")
def namespaced(cluster: Cluster) -> Iterator[tuple[str, ...]]:
    """The namespaced overlay installed; its namespaces (created by the install)."""
    env = manifest_env(NAMESPACED)
    with mock.patch.dict(os.environ, env, clear=True):
        watched = parse_settings(["run"])[1].namespaces
    with installed(cluster, NAMESPACED):
        grants = {Perm("list", "pods"): False, Perm("list", "deployments", "apps"): False}
        grants |= {Perm("list", "pods", namespace=name): True for name in watched}
        wait_authorized(cluster, grants)
        yield watched
        for name in watched:
            cluster.kubectl("delete", "deployments", "--all", "-n", name, "--wait=false")


def test_namespaced_install_cannot_see_or_touch_other_namespaces(
    cluster: Cluster, namespace: str, namespaced: tuple[str, ...]
) -> None:
    """403 for pods and Deployments cluster-wide and in any namespace it does not watch;
    its own namespaces and the nodes are readable."""
    api = TokenApi(cluster, request_token(cluster, SA, NS))
    target(cluster, namespace, {"nodecount-test": namespace}, 1)
    elsewhere = {
        "GET /api/v1/pods": api.get("/api/v1/pods"),
        "GET /apis/apps/v1/deployments": api.get("/apis/apps/v1/deployments"),
        "GET pods elsewhere": api.get(f"/api/v1/namespaces/{namespace}/pods"),
        "GET deployments elsewhere": api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments"),
        "PATCH a deployment elsewhere": api.patch(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{APP}", {"spec": {"replicas": 0}}
        ),
        "POST an event elsewhere": api.post(
            f"/api/v1/namespaces/{namespace}/events", event(namespace)
        ),
    }
    assert {what: a.status for what, a in elsewhere.items()} == dict.fromkeys(elsewhere, 403)
    assert replicas(cluster, namespace, APP) == 1
    for own in namespaced:
        assert api.get(f"/api/v1/namespaces/{own}/pods").status == 200
        assert api.get(f"/apis/apps/v1/namespaces/{own}/deployments").status == 200
    assert api.get("/api/v1/nodes").status == 200


def test_namespaced_install_manages_targets_in_its_namespaces(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    namespaced: tuple[str, ...],
    tmp_path: Path,
) -> None:
    """A steered scale-down in the first namespace, a scale-up in the second, and an
    opted-in target elsewhere left alone and unseen."""
    first, second = namespaced
    label = {"nodecount-test": namespace}
    names = nodes.add_many(2, labels=label)
    target(cluster, first, label, 2)
    target(cluster, second, label, 1)
    target(cluster, namespace, label, 1)
    wait_until(lambda: len(bound(cluster, first)) == 2, timeout=30, describe="two pods bound")
    leaving = bound(cluster, first)[names[0]]

    scaler = start(scalers, service_account_kubeconfig(cluster, tmp_path), manifest_env(NAMESPACED))
    wait_until(lambda: replicas(cluster, second, APP) == 2, timeout=20, describe="second: 1 -> 2")
    cordon(cluster, names[0])
    wait_until(lambda: replicas(cluster, first, APP) == 1, timeout=20, describe="first: 2 -> 1")
    marks = scaler.log_events("set pod-deletion-cost")
    assert [(m["pod"], m["cost"]) for m in marks if m["namespace"] == first] == [(leaving, "-1000")]

    assert replicas(cluster, namespace, APP) == 1
    assert {(t["namespace"], t["name"]) for t in scaler.status()["targets"]} == {
        (first, APP),
        (second, APP),
    }
    assert errors(scaler) == []
