"""Credentials of other users than the admin, for tests that check who may do what: a
kubeconfig carrying a bearer token, ServiceAccount tokens from the TokenRequest API, and a
reader of the service's /metrics and /status (what Prometheus runs as in a cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from devcluster.api import ApiClient
from devcluster.polling import wait_until
from devcluster.versions import REPO_ROOT

METRICS_READER_ROLE = "nodecount-scaler-metrics-reader"
METRICS_READER_MANIFEST = REPO_ROOT / "manifests" / "base" / "metrics-reader.yaml"


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path, user: str) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, authenticating with `token`."""
    admin = json.loads(admin_kubeconfig.read_text())
    cluster_name = admin["clusters"][0]["name"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": user,
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def service_account_token(api: ApiClient, namespace: str, name: str, seconds: int = 3600) -> str:
    """A TokenRequest token of ServiceAccount namespace/name (what a pod would mount)."""
    answer = api.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        },
    )
    token: str = answer["status"]["token"]
    return token


def bind_cluster_role(api: ApiClient, name: str, role: str, subjects: list[dict[str, str]]) -> None:
    """ClusterRoleBinding `name` of ClusterRole `role` to `subjects`."""
    api.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": subjects,
        },
    )


def may_get(api: ApiClient, user: str, groups: list[str], path: str) -> bool:
    """Whether the authorizer lets `user` get the non-resource `path` (SubjectAccessReview)."""
    review = api.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": groups,
                "nonResourceAttributes": {"path": path, "verb": "get"},
            },
        },
    )
    return bool(review["status"].get("allowed"))


def ensure_metrics_reader_role(api: ApiClient) -> None:
    """The shipped ClusterRole nodecount-scaler-metrics-reader, from manifests/base/."""
    path = f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{METRICS_READER_ROLE}"
    if api.get_or_none(path) is None:
        role = yaml.safe_load(METRICS_READER_MANIFEST.read_text())
        api.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)


def metrics_reader_token(api: ApiClient, namespace: str, path: Path, account: str) -> str:
    """ServiceAccount `namespace/account` bound to the shipped ClusterRole
    nodecount-scaler-metrics-reader (created from manifests/base/ when missing), its
    TokenRequest token written to `path` (0600), as a Prometheus pod would mount it.
    Returns the ClusterRoleBinding's name (for the caller to delete)."""
    ensure_metrics_reader_role(api)
    api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": account}})
    binding = f"{namespace}-{account}-metrics-reader"
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    bind_cluster_role(api, binding, METRICS_READER_ROLE, [subject])
    user = f"system:serviceaccount:{namespace}:{account}"
    # The service caches a denial for 30 s: scrape only once the grant is in force.
    wait_until(lambda: may_get(api, user, [], "/metrics"), 15, describe=f"{user} may get /metrics")
    path.write_text(service_account_token(api, namespace, account))
    path.chmod(0o600)
    return binding
