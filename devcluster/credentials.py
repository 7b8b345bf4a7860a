"""Credentials of other users than the admin, for tests that check who may do what: a
kubeconfig carrying a bearer token, and ServiceAccount tokens from the TokenRequest API."""

from __future__ import annotations

import json
from pathlib import Path

from devcluster.api import ApiClient


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
