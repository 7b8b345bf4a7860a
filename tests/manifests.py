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
NAMESPACE: Final = "nodecount-scaler"
# What `kubectl apply -k manifests/` creates: the service's objects, no example targets.
BASE_KINDS: Final = (
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Deployment",
    "PodDisruptionBudget",
    "Service",
    # delegated-auth.yaml, metrics-reader.yaml, networkpolicy.yaml
    "ClusterRoleBinding",
    "RoleBinding",
    "ClusterRole",
    "NetworkPolicy",
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
