"""The shipped permissions installed for real: RBAC and admission policies of one manifest
variant, a TokenRequest token of the shipped service account, and the authorizer's view.

Only the objects that say what the service account may do are applied (the Deployment is
not: the service runs as a local process with the account's token instead).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from devcluster import Cluster
from devcluster.polling import WaitTimeout, wait_until
from nodecount_scaler.model.kinds import BUILTIN
from tests.integration.as_service_account import Answer, TokenApi, request_token
from tests.manifests import BASE, NAMESPACE, PERMISSION_KINDS, SERVICE_ACCOUNT, USERNAME, render

NS = NAMESPACE
SA = SERVICE_ACCOUNT
USER = USERNAME
LEASE = "nodecount-scaler"
GROUPS = ["system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated"]
PROBE = "guard-probe"  # objects the policies are probed on until they are enforced

Objects = list[dict[str, Any]]


def permission_objects(directory: Path) -> Objects:
    return [d for d in render(directory) if d["kind"] in PERMISSION_KINDS]


def kubectl_apply(cluster: Cluster, objects: Objects) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def kind_of(obj: dict[str, Any]) -> str:
    """kind.group as kubectl takes it (`deployment.apps`, `pod`)."""
    return f"{obj['kind']}.{obj['apiVersion'].rpartition('/')[0]}".rstrip(".").lower()


def delete_objects(cluster: Cluster, objects: Objects) -> None:
    """Delete every object but Namespaces (other tests share them), without waiting."""
    for obj in reversed(objects):
        if obj["kind"] == "Namespace":
            continue
        ns = obj["metadata"].get("namespace")
        where = ["-n", ns] if ns else []
        name = obj["metadata"]["name"]
        cluster.kubectl("delete", kind_of(obj), name, *where, "--ignore-not-found", "--wait=false")


@dataclass(frozen=True)
class Perm:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {res}{f' {self.name}' if self.name else ''}{where}"


def allowed(cluster: Cluster, perm: Perm) -> bool:
    """SubjectAccessReview through the same authorizer the requests meet."""
    attributes = {
        "verb": perm.verb,
        "group": perm.group,
        "resource": perm.resource,
        "subresource": perm.subresource,
        "namespace": perm.namespace,
        "name": perm.name,
    }
    review = cluster.api.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": USER, "groups": GROUPS, "resourceAttributes": attributes},
        },
    )
    return bool(review["status"].get("allowed"))


def wait_authorized(cluster: Cluster, grants: dict[Perm, bool]) -> None:
    """Wait until the authorizer's caches answer each permission as given."""

    def wrong() -> list[str]:
        return [str(p) for p, want in grants.items() if allowed(cluster, p) != want]

    wait_until(lambda: not wrong(), timeout=15, describe="RBAC change to take effect")


# Spec fields a kind's object needs besides replicas, selector and template.
REQUIRED_SPEC: Final[dict[str, dict[str, str]]] = {"StatefulSet": {"serviceName": PROBE}}


def probe_objects(namespace: str) -> Objects:
    """An object of every built-in kind without the opt-in (and at 0 replicas) and a Pod
    that never schedules (with labels of its own: a ReplicaSet or StatefulSet adopts an
    orphan pod its selector matches and deletes it to keep 0 replicas)."""
    labels = {"app": PROBE}
    spec = {"containers": [{"name": "c", "image": "nginx"}], "nodeSelector": {PROBE: "none"}}
    return [
        *(
            {
                "apiVersion": kind.api_version,
                "kind": kind.kind,
                "metadata": {"name": PROBE, "namespace": namespace},
                "spec": {
                    "replicas": 0,
                    "selector": labels if kind.selector_is_map else {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": spec},
                    **REQUIRED_SPEC.get(kind.kind, {}),
                },
            }
            for kind in BUILTIN
        ),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": PROBE, "namespace": namespace, "labels": {"pod": PROBE}},
            "spec": spec,
        },
    ]


def wait_policies_enforced(api: TokenApi, namespace: str, objects: Objects) -> None:
    """Dry-run a forbidden write per policy until each is refused by that policy (a new
    policy reaches the admission plugin through an informer, a moment after it is stored).
    A policy whose writes this variant's RBAC does not grant at all is not probed."""
    granted = {
        resource
        for role in objects
        if role["kind"] in ("ClusterRole", "Role")
        for rule in role["rules"]
        for resource in rule.get("resources", [])
    }
    dry = "?dryRun=All"
    probes: dict[str, tuple[str, Callable[[], Answer]]] = {
        # Each built-in kind's policy: the replicas of an object that has not opted in.
        **{
            kind.policy: (kind.resource, functools.partial(
                api.patch, kind.object_path(namespace, PROBE) + dry, {"spec": {"replicas": 1}}))
            for kind in BUILTIN
        },
        "nodecount-scaler-pod-deletion-cost": ("pods", lambda: api.patch(
            f"/api/v1/namespaces/{namespace}/pods/{PROBE}{dry}",
            {"metadata": {"labels": {"x": "y"}}})),
        "nodecount-scaler-events": ("events", lambda: api.post(
            f"/api/v1/namespaces/{namespace}/events{dry}", event(namespace, component="kubelet"))),
    }  # fmt: skip
    policies = [o["metadata"]["name"] for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    for name in policies:
        resource, probe = probes[name]
        if resource not in granted:
            continue
        answers: list[Answer] = []

        def refused(
            name: str = name, probe: Callable[[], Answer] = probe, answers: list[Answer] = answers
        ) -> bool:
            answers.append(probe())
            return f"'{name}'" in answers[-1].message

        try:
            wait_until(refused, timeout=15, describe=f"admission policy {name} enforced")
        except WaitTimeout as e:
            raise WaitTimeout(f"{e}; last answer {answers[-1]}") from None


def event(
    namespace: str,
    *,
    component: str = "nodecount-scaler",
    involved: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A core/v1 Event as nodecount-scaler writes one (stamped now), with fields replaced."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "probe.", "namespace": namespace},
        "involvedObject": involved
        or {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": "x"},
        "type": "Normal",
        "reason": "Rescaled",
        "message": "probe",
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "probe",
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        **fields,
    }


@contextmanager
def installed(cluster: Cluster, directory: Path) -> Iterator[Objects]:
    """The variant's permission objects applied for real, its policies enforced; every
    object but the Namespaces deleted afterwards (and the Lease the service took)."""
    objects = permission_objects(directory)
    # An install replaces any other variant's: what this one lacks must not linger.
    keys = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}
    delete_objects(
        cluster,
        [
            o
            for o in permission_objects(BASE)
            if (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) not in keys
        ],
    )
    # Where the variant grants on targets: every namespace its objects name but its own and
    # kube-system (the delegated-authentication reader's RoleBinding lives there).
    targets = sorted(
        {o["metadata"].get("namespace") or "" for o in objects} - {"", NS, "kube-system"}
    )
    for namespace in targets:
        if cluster.api.get_or_none(f"/api/v1/namespaces/{namespace}") is None:
            cluster.kubectl("create", "namespace", namespace)
    # Probed where the variant lets the account write: anywhere, or its first namespace.
    probes = probe_objects(targets[0] if targets else "default")
    kubectl_apply(cluster, objects)
    kubectl_apply(cluster, probes)
    try:
        api = TokenApi(cluster, request_token(cluster, SA, NS))
        wait_policies_enforced(api, probes[0]["metadata"]["namespace"], objects)
        yield objects
    finally:
        delete_objects(cluster, [*probes, *objects])
        cluster.kubectl("delete", "lease", LEASE, "-n", NS, "--ignore-not-found", "--wait=false")


def service_account_kubeconfig(cluster: Cluster, directory: Path) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA and a TokenRequest token of
    the shipped ServiceAccount (what the pod would mount)."""
    token = request_token(cluster, SA, NS)
    admin = json.loads(cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [
            {"name": SA, "context": {"cluster": admin["clusters"][0]["name"], "user": SA}}
        ],
        "current-context": SA,
    }
    path = directory / "kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    whoami = cluster.kubectl("--kubeconfig", str(path), "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == USER
    return path
