"""Least power: with a TokenRequest token of the shipped service account and the shipped
RBAC and admission policies, every abuse of its write verbs is refused, and the writes the
service makes still go through.

Each request is sent raw, as an attacker holding the token would send it; the answer
names the guard that refused it: a ValidatingAdmissionPolicy by name, or RBAC. The abuses
include a Deployment's own ReplicaSet scaled (it copies the opt-in), managedFields
rewritten on a target and on a pod, and Events with foreign reasons, a 1,000,000-character
message, timestamps in 2099 and a count of 999999; the stage at which the API server
records the writer in managedFields (before validating admission, which the managedFields
rules rely on) is shown on the server itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.api import ApiError
from devcluster.polling import wait_until
from devcluster.workloads import deployment, pods
from nodecount_scaler.http.server import DISCOVERY, JWKS, JWKS_MEDIA_TYPE
from nodecount_scaler.http.tokens import parse_issuer, signed_by
from testkit.workloads import nginx_everywhere
from tests.integration.as_service_account import STRATEGIC, Answer, TokenApi, request_token
from tests.integration.shipped import NS, SA, event, installed
from tests.integration.workloads import apply
from tests.manifests import BASE

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


COST = "controller.kubernetes.io/pod-deletion-cost"
ON, OFF = "opted-in", "not-opted-in"
REPLICAS = "ValidatingAdmissionPolicy 'nodecount-scaler-replicas'"
REPLICASETS = "ValidatingAdmissionPolicy 'nodecount-scaler-replicas-replicasets'"
POD = "ValidatingAdmissionPolicy 'nodecount-scaler-pod-deletion-cost'"
EVENTS = "ValidatingAdmissionPolicy 'nodecount-scaler-events'"
RBAC = "cannot "  # "User ... cannot patch resource ..."
# Which rule of a policy refused (a part of its message).
MANAGED = "metadata.managedFields"
STAMPS = "must have a firstTimestamp and a lastTimestamp"
COUNT = "counts at least 1"
# Every write is sent as the service sends it, under its field manager (the name a holder of
# the token would use to pass the managedFields rules), unless the abuse names another.
OURS = "fieldManager=nodecount-scaler"


@dataclass(frozen=True)
class Victims:
    """Objects in a namespace of their own: an opted-in Deployment, one that is not, a pod
    of the latter (owned by its ReplicaSet), the opted-in one's ReplicaSet (which carries
    a copy of the opt-in), an Event by another component and one by this service."""

    namespace: str
    pod: str
    foreign_event: str
    replicaset: str = "rs"
    own_event: str = "own"

    @property
    def replicaset_path(self) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/replicasets/{self.replicaset}"

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
    owned = wait_until(
        lambda: cluster.api.get(
            f"/apis/apps/v1/namespaces/{namespace}/replicasets?labelSelector=app%3D{ON}"
        )["items"],
        timeout=30,
        describe="the opted-in Deployment's ReplicaSet",
    )[0]
    assert owned["metadata"]["annotations"]["nodecount-scaler.io/enabled"] == "true"
    events = f"/api/v1/namespaces/{namespace}/events"
    foreign = cluster.api.post(events, event(namespace, component="kubelet"))
    own = api.post(f"{events}?{OURS}", event(namespace, involved=involved(namespace)))
    assert own.status == 201, own.message
    yield Victims(
        namespace,
        pod["metadata"]["name"],
        foreign["metadata"]["name"],
        owned["metadata"]["name"],
        own.body["metadata"]["name"],
    )
    cluster.delete_namespace(namespace, wait=False)


def involved(namespace: str) -> dict[str, str]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": ON}


def managed_by(manager: str, fields: dict[str, Any], operation: str = "Update") -> dict[str, Any]:
    """One managedFields entry, as an attacker would write it."""
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": fields}  # fmt: skip


# The container image, as fieldsV1 names it (what the managedFields attack claimed).
IMAGE_FIELDS: dict[str, Any] = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
    'k:{"name":"nginx"}': {".": {}, "f:image": {}}}}}}}  # fmt: skip
REPLICAS_FIELDS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
COST_FIELDS: dict[str, Any] = {"f:metadata": {"f:annotations": {f"f:{COST}": {}}}}


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
        # A Deployment's ReplicaSet carries the opt-in; scaling an old revision's runs pods
        # of the old image.
        "owned-replicaset-scaled": (
            "PATCH", v.replicaset_path, {"spec": {"replicas": 5}},
            (REPLICASETS, "another object controls")),
        # managedFields: replaced by one entry owning the image (the owner's next
        # server-side apply then conflicts), claimed under this service's own name,
        # other managers' entries dropped, a replicas write under the owner's name.
        "opted-in-managed-fields-replaced": ("PATCH", v.deployment(ON), {"metadata": {
            "managedFields": [managed_by("gitops", IMAGE_FIELDS, "Apply")]}}, (REPLICAS, MANAGED)),
        "opted-in-managed-fields-claimed-as-ours": ("PATCH", v.deployment(ON), {"metadata": {
            "managedFields": [managed_by("nodecount-scaler", IMAGE_FIELDS)]}}, (REPLICAS, MANAGED)),
        "opted-in-managed-fields-dropped": ("PATCH", v.deployment(ON), {"spec": {"replicas": 3},
            "metadata": {"managedFields": [managed_by("nodecount-scaler", REPLICAS_FIELDS)]}},
            (REPLICAS, MANAGED)),
        "opted-in-replicas-as-another-manager": (
            "PATCH", v.deployment(ON, "?fieldManager=kubectl-client-side-apply"),
            {"spec": {"replicas": 4}}, (REPLICAS, MANAGED)),
        "pod-managed-fields-replaced": (*pod_meta(managedFields=[
            managed_by("gitops", {"f:spec": {"f:containers": {}}}, "Apply")]), (POD, MANAGED)),
        "pod-cost-and-managed-fields-claimed": (*pod_meta(
            annotations={COST: "-1000"},
            managedFields=[managed_by("nodecount-scaler", {**COST_FIELDS, **IMAGE_FIELDS})]),
            (POD, MANAGED)),
        # Events: only the service's own reasons, bounded message, sane timestamps and count.
        "event-foreign-reason": ("POST", v.events, event(
            v.namespace, involved=involved(v.namespace), type="Warning",
            reason="NodeCompromised"), (EVENTS, "its own reasons")),
        "event-huge-message": ("POST", v.events, event(
            v.namespace, involved=involved(v.namespace), message="x" * 1_000_000),
            (EVENTS, "a message of at most 1024")),
        "event-from-2099": ("POST", v.events, event(
            v.namespace, involved=involved(v.namespace), firstTimestamp=FAR,
            lastTimestamp=FAR), (EVENTS, STAMPS)),
        "event-count-999999": ("POST", v.events, event(
            v.namespace, involved=involved(v.namespace), count=999999), (EVENTS, COUNT)),
        "event-about-a-pod": ("POST", v.events, event(v.namespace, involved={
            "apiVersion": "v1", "kind": "Pod", "namespace": v.namespace, "name": v.pod}),
            (EVENTS, "must be about a Deployment")),
        "event-series-count": ("POST", v.events, event(
            v.namespace, involved=involved(v.namespace),
            series={"count": 999999, "lastObservedTime": "2099-01-01T00:00:00.000000Z"}),
            (EVENTS, "no source.host, action, series")),
        "event-under-another-manager": (
            "POST", f"{v.events}?fieldManager=kubelet",
            event(v.namespace, involved=involved(v.namespace)), (EVENTS, "its field manager")),
        "own-event-moved-to-2099": ("PATCH", f"{v.events}/{v.own_event}",
            {"lastTimestamp": FAR, "count": 2}, (EVENTS, STAMPS)),
        "own-event-count-999999": (
            "PATCH", f"{v.events}/{v.own_event}", {"count": 999999}, (EVENTS, COUNT)),
        "own-event-message-grown": (
            "PATCH", f"{v.events}/{v.own_event}", {"message": "x" * 100_000},
            (EVENTS, "a message of at most 1024")),
        "own-event-first-moved": ("PATCH", f"{v.events}/{v.own_event}",
            {"firstTimestamp": "2000-01-01T00:00:00Z"}, (EVENTS, STAMPS)),
        "own-event-count-lowered": (
            "PATCH", f"{v.events}/{v.own_event}", {"count": 0}, (EVENTS, COUNT)),
    }  # fmt: skip


FAR = "2099-01-01T00:00:00Z"
ABUSES = list(abuses(Victims("n", "p", "e")))


def as_ours(path: str) -> str:
    return path if "fieldManager=" in path else f"{path}{'&' if '?' in path else '?'}{OURS}"


def send(api: TokenApi, method: str, path_or_pair: Any, body: Any = None) -> Answer:
    if method == "SMP":
        path, patch = path_or_pair
        return api.patch(as_ours(path), patch, STRATEGIC)
    if method == "PATCH":
        return api.patch(as_ours(path_or_pair), body)
    if method == "POST":
        return api.call(method, as_ours(path_or_pair), body)
    return api.call(method, path_or_pair, body)


def managers(obj: dict[str, Any]) -> list[Any]:
    """managedFields but the status writers' entries (their times move with the status)."""
    return sorted(
        (e["manager"], e["operation"], e.get("time"), repr(e.get("fieldsV1")))
        for e in obj["metadata"].get("managedFields", [])
        if e.get("subresource") != "status"
    )


def guarded(cluster: Cluster, v: Victims) -> list[Any]:
    """What the abuses aim at: the pod's spec and metadata, both Deployments' and the
    ReplicaSet's spec and metadata (without the fields the server itself moves), managed
    fields included, and this service's own Event."""
    out: list[Any] = []
    for obj in (
        cluster.api.get(v.pod_path),
        deployment(cluster, v.namespace, ON),
        deployment(cluster, v.namespace, OFF),
        cluster.api.get(v.replicaset_path),
    ):
        meta = {k: obj["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
        out.append((obj["spec"], meta, obj["metadata"].get("finalizers"), managers(obj)))
    own = cluster.api.get(f"{v.events}/{v.own_event}")
    out.append([own.get(k) for k in ("count", "message", "firstTimestamp", "lastTimestamp")])
    return out


@pytest.mark.parametrize("abuse", ABUSES)
def test_abuse_is_refused(cluster: Cluster, api: TokenApi, victims: Victims, abuse: str) -> None:
    """403, named by the guard that refuses it (and the rule, where one policy has
    several); the object is left as it was."""
    method, *rest, guard = abuses(victims)[abuse]
    before = guarded(cluster, victims)
    answer = send(api, method, *rest)
    named = (guard,) if isinstance(guard, str) else guard
    assert (answer.status, all(n in answer.message for n in named)) == (403, True), answer.message
    assert guarded(cluster, victims) == before


def test_the_service_writes_still_go_through(
    cluster: Cluster, api: TokenApi, victims: Victims
) -> None:
    """Replicas of an opted-in Deployment, the pod-deletion-cost annotation set and
    removed, an Event created and its count patched: as the service sends them (its field
    manager). The server moves spec.replicas from the Deployment's applier to this
    service's managedFields entry, and the policy lets that through."""
    before = deployment(cluster, victims.namespace, ON)
    ours = f"?{OURS}"
    answer = api.patch(victims.deployment(ON) + ours, {"spec": {"replicas": 0}})
    assert answer.status == 200, answer.message
    after = answer.body
    assert after["spec"]["replicas"] == 0
    assert owners_of(before, "f:replicas") == ["kubectl-client-side-apply"]
    assert owners_of(after, "f:replicas") == ["nodecount-scaler"]
    for cost in ("-1000", None):
        answer = api.patch(victims.pod_path + ours, {"metadata": {"annotations": {COST: cost}}})
        assert answer.status == 200, answer.message
        assert answer.body["metadata"].get("annotations", {}).get(COST) == cost
    events = victims.events + ours
    created = api.post(events, event(victims.namespace, involved=involved(victims.namespace)))
    assert created.status == 201, created.message
    name = created.body["metadata"]["name"]
    patched = api.patch(f"{victims.events}/{name}{ours}", {"count": 2, "message": "again"})
    assert (patched.status, patched.body.get("count")) == (200, 2), patched.message


def owners_of(obj: dict[str, Any], field: str) -> list[str]:
    """The managers whose managedFields entry holds spec.<field>."""
    return [
        e["manager"]
        for e in obj["metadata"].get("managedFields", [])
        if field in e.get("fieldsV1", {}).get("f:spec", {})
    ]


# A policy that refuses every update in namespaces labelled for it, quoting the managers
# of spec.replicas as validating admission sees them, in the object and as stored.
STAGE_PROBE = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "managed-fields-stage-probe"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchLabels": {"managed-fields-stage-probe": "yes"}},
            "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                               "operations": ["UPDATE"], "resources": ["deployments"]}],
        },
        "validations": [{
            "expression": "false",
            "messageExpression": (
                "'replicas held by: ' + object.metadata.managedFields.filter(e, "
                "'f:replicas' in e.fieldsV1[?'f:spec'].orValue({})).map(e, e.manager)"
                ".join(',') + '; stored: ' + oldObject.metadata.managedFields.filter(e, "
                "'f:replicas' in e.fieldsV1[?'f:spec'].orValue({})).map(e, e.manager)"
                ".join(',')"
            ),
        }],
    },
}  # fmt: skip


def refusal(cluster: Cluster, path: str) -> str | None:
    """The probe's refusal of a dry-run replicas patch; None while it is not enforced."""
    try:
        cluster.api.merge_patch(path, {"spec": {"replicas": 3}})
    except ApiError as exc:
        if "replicas held by" in exc.body:
            return exc.body
        raise
    return None


def test_the_writer_is_in_managed_fields_before_validating_admission(
    cluster: Cluster, namespace: str
) -> None:
    """What the managedFields rules rely on, shown on the server: by the time a validating
    admission policy sees a merge patch of spec.replicas, the writer's managedFields
    entry already holds spec.replicas and the previous manager no longer does."""
    cluster.kubectl("label", "namespace", namespace, "managed-fields-stage-probe=yes")
    obj = nginx_everywhere(namespace, "probe")
    apply(cluster, obj)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/probe?fieldManager=writer&dryRun=All"
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "managed-fields-stage-probe"},
        "spec": {"policyName": "managed-fields-stage-probe", "validationActions": ["Deny"]},
    }
    for probe in (STAGE_PROBE, binding):
        apply(cluster, probe)
    try:
        refused = wait_until(
            lambda: refusal(cluster, path), timeout=15, describe="the stage probe enforced"
        )
    finally:
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            cluster.kubectl("delete", kind, "managed-fields-stage-probe", "--ignore-not-found")
    assert "replicas held by: writer; stored: kubectl-client-side-apply" in str(refused)


def test_the_cluster_wide_install_still_reads_every_pod(api: TokenApi) -> None:
    """The power docs/install.md lists as left in the cluster-wide install (the namespaced
    overlay and --no-pod-deletion-cost remove it): RBAC cannot narrow a read by selector."""
    assert api.get("/api/v1/pods").status == 200
    assert api.get("/api/v1/secrets").status == 403


def test_the_service_account_reads_the_keys_that_sign_tokens(
    cluster: Cluster, api: TokenApi
) -> None:
    """With the shipped RBAC (and the cluster's default discovery binding) the token reads
    the issuer and its keys; a service-account token checks out against them locally, the
    same token altered does not: the review lanes of the metrics listener (http/tokens.py)
    on the real API server's keys."""
    discovery = api.get(DISCOVERY)
    jwks = api.call("GET", JWKS, accept=JWKS_MEDIA_TYPE)
    assert (discovery.status, jwks.status) == (200, 200), (discovery.message, jwks.message)
    issuer = parse_issuer(discovery.body, jwks.body)
    assert issuer.keys
    token = request_token(cluster, SA, NS)
    head, claims, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert signed_by(token, issuer, time.time())
    assert not signed_by(f"{head}.{claims}.{flipped}", issuer, time.time())
