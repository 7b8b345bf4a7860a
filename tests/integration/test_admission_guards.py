"""Least power: with a TokenRequest token of the shipped service account and the shipped
RBAC and admission policies, every abuse of its write verbs is refused, and the writes the
service makes still go through.

Each request is sent raw, as an attacker holding the token would send it; the answer
names the guard that refused it: a ValidatingAdmissionPolicy by name, or RBAC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.workloads import deployment, pods
from tests.integration.as_service_account import STRATEGIC, Answer, TokenApi, request_token
from tests.integration.shipped import NS, SA, event, installed
from tests.integration.workloads import apply, nginx_everywhere
from tests.manifests import BASE

COST = "controller.kubernetes.io/pod-deletion-cost"
ON, OFF = "opted-in", "not-opted-in"
REPLICAS = "ValidatingAdmissionPolicy 'nodecount-scaler-replicas'"
POD = "ValidatingAdmissionPolicy 'nodecount-scaler-pod-deletion-cost'"
EVENTS = "ValidatingAdmissionPolicy 'nodecount-scaler-events'"
RBAC = "cannot "  # "User ... cannot patch resource ..."


@dataclass(frozen=True)
class Victims:
    """Objects in a namespace of their own: an opted-in Deployment, one that is not, a pod
    of the latter (owned by its ReplicaSet), and an Event by another component."""

    namespace: str
    pod: str
    foreign_event: str

    def deployment(self, name: str, tail: str = "") -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}{tail}"

    @property
    def pod_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}"

    @property
    def events(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/events"


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[TokenApi]:
    """The shipped permissions in force; the service account's token."""
    with installed(cluster, BASE):
        yield TokenApi(cluster, request_token(cluster, SA, NS))


@pytest.fixture(scope="module")
def victims(cluster: Cluster, api: TokenApi) -> Iterator[Victims]:
    namespace = cluster.create_namespace("guards")
    for name, enabled in ((ON, "true"), (OFF, "false")):
        obj = nginx_everywhere(namespace, name, **{"nodecount-scaler.io/enabled": enabled})
        obj["metadata"]["labels"] = {"team": "a"}
        obj["spec"]["replicas"] = 1
        # Never scheduled: the pod's spec stays exactly as created.
        obj["spec"]["template"]["spec"]["nodeSelector"] = {"nodecount-test": "nowhere"}
        apply(cluster, obj)
    pod = wait_until(lambda: pods(cluster, namespace, OFF), timeout=30, describe="a pod")[0]
    assert pod["metadata"]["ownerReferences"]
    foreign = cluster.api.post(
        f"/api/v1/namespaces/{namespace}/events", event(namespace, component="kubelet")
    )
    yield Victims(namespace, pod["metadata"]["name"], foreign["metadata"]["name"])
    cluster.delete_namespace(namespace, wait=False)


def image_patch(container: str = "nginx") -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": "x"}]}}}}


def abuses(v: Victims) -> dict[str, tuple[Any, ...]]:
    """id -> (what is sent, by a call on the API, the guard that must refuse it)."""

    def pod_meta(**metadata: Any) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", v.pod_path, {"metadata": metadata}

    secret = {"apiVersion": "v1", "kind": "Secret", "namespace": v.namespace, "name": "s"}
    kube_system = event("kube-system", component="kubelet")
    return {
        "pod-image-change": ("SMP", (v.pod_path, {"spec": {"containers": [
            {"name": "nginx", "image": "evil"}]}}), POD),
        "pod-relabel": (*pod_meta(labels={"app": "stolen"}), POD),
        "pod-owner-references-removed": (*pod_meta(ownerReferences=None), POD),
        "pod-finalizer-added": (*pod_meta(finalizers=["example.com/hold"]), POD),
        "pod-other-annotation": (*pod_meta(annotations={"example.com/x": "y"}), POD),
        "pod-cost-raised": (*pod_meta(annotations={COST: "100000"}), POD),
        "pod-status": ("PATCH", v.pod_path + "/status", {"status": {"phase": "Failed"}}, RBAC),
        "pod-delete": ("DELETE", v.pod_path, None, RBAC),
        "replicas-not-opted-in-patch": (
            "PATCH", v.deployment(OFF), {"spec": {"replicas": 0}}, REPLICAS),
        "replicas-not-opted-in-scale": (
            "PATCH", v.deployment(OFF, "/scale"), {"spec": {"replicas": 0}}, RBAC),
        "replicas-opted-in-scale": (
            "PATCH", v.deployment(ON, "/scale"), {"spec": {"replicas": 0}}, RBAC),
        "opted-in-image-change": ("SMP", (v.deployment(ON), image_patch()), REPLICAS),
        "opted-in-relabel": (
            "PATCH", v.deployment(ON), {"metadata": {"labels": {"team": "b"}}}, REPLICAS),
        "opted-in-opt-out": ("PATCH", v.deployment(ON), {"metadata": {"annotations": {
            "nodecount-scaler.io/enabled": None}}}, REPLICAS),
        "opted-in-paused": ("PATCH", v.deployment(ON), {"spec": {"paused": True}}, REPLICAS),
        "opted-in-delete": ("DELETE", v.deployment(ON), None, RBAC),
        "event-as-kubelet-in-kube-system": (
            "POST", "/api/v1/namespaces/kube-system/events", kube_system, EVENTS),
        "event-about-a-secret": ("POST", v.events, event(v.namespace, involved=secret), EVENTS),
        "event-related-to-a-secret": (
            "POST", v.events, event(v.namespace, related=secret), EVENTS),
        "event-of-another-component-patched": (
            "PATCH", f"{v.events}/{v.foreign_event}", {"count": 7}, EVENTS),
    }  # fmt: skip


ABUSES = list(abuses(Victims("n", "p", "e")))


def send(api: TokenApi, method: str, path_or_pair: Any, body: Any = None) -> Answer:
    if method == "SMP":
        path, patch = path_or_pair
        return api.patch(path, patch, STRATEGIC)
    if method == "PATCH":
        return api.patch(path_or_pair, body)
    return api.call(method, path_or_pair, body)


def guarded(cluster: Cluster, v: Victims) -> list[Any]:
    """What the abuses aim at: the pod's spec and metadata, both Deployments' spec and
    metadata (without the fields the server itself moves)."""
    out = []
    for obj in (
        cluster.api.get(v.pod_path),
        deployment(cluster, v.namespace, ON),
        deployment(cluster, v.namespace, OFF),
    ):
        meta = {k: obj["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
        out.append((obj["spec"], meta, obj["metadata"].get("finalizers")))
    return out


@pytest.mark.parametrize("abuse", ABUSES)
def test_abuse_is_refused(cluster: Cluster, api: TokenApi, victims: Victims, abuse: str) -> None:
    """403, named by the guard that refuses it; the object is left as it was."""
    method, *rest, guard = abuses(victims)[abuse]
    before = guarded(cluster, victims)
    answer = send(api, method, *rest)
    assert (answer.status, guard in answer.message) == (403, True), answer.message
    assert guarded(cluster, victims) == before


def test_the_service_writes_still_go_through(
    cluster: Cluster, api: TokenApi, victims: Victims
) -> None:
    """Replicas of an opted-in Deployment, the pod-deletion-cost annotation set and
    removed, an Event created and its count patched."""
    assert api.patch(victims.deployment(ON), {"spec": {"replicas": 0}}).status == 200
    assert deployment(cluster, victims.namespace, ON)["spec"]["replicas"] == 0
    for cost in ("-1000", None):
        answer = api.patch(victims.pod_path, {"metadata": {"annotations": {COST: cost}}})
        assert answer.status == 200, answer.message
        assert answer.body["metadata"].get("annotations", {}).get(COST) == cost
    involved = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": victims.namespace,
                "name": ON}  # fmt: skip
    created = api.post(victims.events, event(victims.namespace, involved=involved))
    assert created.status == 201, created.message
    name = created.body["metadata"]["name"]
    patched = api.patch(f"{victims.events}/{name}", {"count": 2, "message": "again"})
    assert (patched.status, patched.body.get("count")) == (200, 2), patched.message


def test_the_cluster_wide_install_still_reads_every_pod(api: TokenApi) -> None:
    """The power docs/install.md lists as left in the cluster-wide install (the namespaced
    overlay and --no-pod-deletion-cost remove it): RBAC cannot narrow a read by selector."""
    assert api.get("/api/v1/pods").status == 200
    assert api.get("/api/v1/secrets").status == 403
