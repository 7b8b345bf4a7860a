"""What the service account may do, as data: the grants the service uses, the built-in roles
the delegated-authentication bindings name, and the grants a rendering's bindings add up to
(shared by the kustomize and chart permission tests)."""

from __future__ import annotations

import os
from unittest import mock

from nodecount_scaler.cli import parse_settings
from nodecount_scaler.model.kinds import BUILTIN
from nodecount_scaler.settings import Settings
from tests.manifests import NAMESPACE, SERVICE_ACCOUNT, Obj, one, rule_tuples

CLUSTER = "*"  # the scope of a ClusterRoleBinding's grants

Rule = tuple[str, str, str, str | None]  # group, resource, verb, resourceName or None
NODES: set[Rule] = {("", "nodes", "list", None), ("", "nodes", "watch", None)}
# Every built-in kind of the table: read its objects, patch their replicas.
TARGETS: set[Rule] = {
    *(
        (kind.group, kind.resource, verb, None)
        for kind in BUILTIN
        for verb in ("list", "watch", "patch")
    ),
    ("autoscaling", "horizontalpodautoscalers", "list", None),
    ("autoscaling", "horizontalpodautoscalers", "watch", None),
    ("", "events", "create", None),
    ("", "events", "patch", None),
}
PODS: set[Rule] = {
    ("", "pods", "list", None),
    ("", "pods", "watch", None),
    ("", "pods", "patch", None),
}
LEASE: set[Rule] = {
    ("coordination.k8s.io", "leases", "create", None),
    ("coordination.k8s.io", "leases", "get", "nodecount-scaler"),
    ("coordination.k8s.io", "leases", "update", "nodecount-scaler"),
}
Grant = tuple[str, str, str, str, str | None]  # scope, group, resource, verb, name

# The two built-in roles the delegated-authentication bindings name, with the rules the API
# server's bootstrap policy gives them (plugin/pkg/auth/authorizer/rbac/bootstrappolicy).
BUILT_IN: dict[tuple[str, str | None, str], list[Obj]] = {
    ("ClusterRole", None, "system:auth-delegator"): [
        {
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["tokenreviews"],
            "verbs": ["create"],
        },
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["subjectaccessreviews"],
            "verbs": ["create"],
        },
    ],
    ("Role", "kube-system", "extension-apiserver-authentication-reader"): [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["extension-apiserver-authentication"],
            "verbs": ["get", "list", "watch"],
        }
    ],
}
AUTH: set[Grant] = {
    (CLUSTER, "authentication.k8s.io", "tokenreviews", "create", None),
    (CLUSTER, "authorization.k8s.io", "subjectaccessreviews", "create", None),
    *(
        ("kube-system", "", "configmaps", verb, "extension-apiserver-authentication")
        for verb in ("get", "list", "watch")
    ),
}


def grants(docs: list[Obj], namespace: str = NAMESPACE) -> set[Grant]:
    """Everything the service account (of `namespace`) is granted, through every binding
    that names it."""
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d["rules"]
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    } | BUILT_IN
    out: set[Grant] = set()
    for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}
        if subject not in binding["subjects"]:
            continue
        scope = binding["metadata"].get("namespace", CLUSTER)
        ref = binding["roleRef"]
        role_ns = None if ref["kind"] == "ClusterRole" else scope
        rules = roles[(ref["kind"], role_ns, ref["name"])]
        out |= {(scope, *grant) for grant in rule_tuples(rules)}
    return out


def scoped(scope: str, *sets: set[Rule]) -> set[Grant]:
    return {(scope, *grant) for grants in sets for grant in grants}


def settings_of(docs: list[Obj]) -> Settings:
    """The service's settings as the container's args and env give them."""
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    with mock.patch.dict(os.environ, env, clear=True):
        return parse_settings(container["args"])[1]
