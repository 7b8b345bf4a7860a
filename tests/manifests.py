"""The shipped manifests, rendered as kubectl renders them (no cluster needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

REPO: Final = Path(__file__).resolve().parents[1]
BASE: Final = REPO / "manifests"
EXAMPLES: Final = BASE / "examples"
NAMESPACED: Final = BASE / "overlays" / "namespaced"
NO_POD_DELETION_COST: Final = BASE / "overlays" / "no-pod-deletion-cost"
NAMESPACE: Final = "nodecount-scaler"
SERVICE_ACCOUNT: Final = "nodecount-scaler"
USERNAME: Final = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
# The admission policies of the base (each with a binding of the same name).
POLICIES: Final = (
    "nodecount-scaler-replicas",
    "nodecount-scaler-replicas-statefulsets",
    "nodecount-scaler-replicas-replicasets",
    "nodecount-scaler-pod-deletion-cost",
    "nodecount-scaler-events",
)
# What `kubectl apply -k manifests/` creates: the service's objects, no example targets.
BASE_KINDS: Final = (
    "Namespace",
    "ServiceAccount",
    *("ClusterRole",) * 3,  # nodecount-scaler (targets), -nodes, -pods
    *("ClusterRoleBinding",) * 3,
    "Role",  # the Lease
    "RoleBinding",
    *("ValidatingAdmissionPolicy",) * len(POLICIES),
    *("ValidatingAdmissionPolicyBinding",) * len(POLICIES),
    "Deployment",
    "PodDisruptionBudget",
    "Service",
    # delegated-auth.yaml, metrics-reader.yaml, networkpolicy.yaml
    "ClusterRoleBinding",
    "RoleBinding",
    "ClusterRole",
    "NetworkPolicy",
)
# The objects that say what the service account may do.
PERMISSION_KINDS: Final = frozenset(
    {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIRECTORY`, one dict per object."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH (it renders the kustomize manifests)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


Obj = dict[str, Any]


def one(
    docs: list[Obj], kind: str, name: str = SERVICE_ACCOUNT, namespace: str | None = None
) -> Obj:
    """The single object of that kind and name (and namespace, when given)."""
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def rule_tuples(rules: list[Obj]) -> set[tuple[str, str, str, str | None]]:
    """(apiGroup, resource, verb, resourceName or None for any) of every grant."""
    out: set[tuple[str, str, str, str | None]] = set()
    for rule in rules:
        names: list[str | None] = list(rule.get("resourceNames") or [None])
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in names:
                        out.add((group, resource, verb, name))
    return out
