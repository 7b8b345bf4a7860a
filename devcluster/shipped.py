"""The shipped kustomize manifests as objects: rendered by `kubectl kustomize` (no cluster
needed), the Deployment's pod spec and the objects that say what the service account may do.

Shared by the image tests and `hack/demo.sh --image` (which runs the service with exactly
these permissions), and by the tests' own renderings (tests/manifests.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import yaml

from devcluster.versions import REPO_ROOT

MANIFESTS: Final = REPO_ROOT / "manifests"
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

Obj = dict[str, Any]


class RenderError(RuntimeError):
    """`kubectl kustomize` is missing or failed (its stderr in the message)."""


def render_kustomize(directory: Path = MANIFESTS) -> list[Obj]:
    """`kubectl kustomize DIRECTORY`, one dict per object."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RenderError("kubectl is not on PATH (it renders the kustomize manifests)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def permission_objects(docs: list[Obj]) -> list[Obj]:
    return [d for d in docs if d["kind"] in PERMISSION_KINDS]


def the_deployment(docs: list[Obj]) -> Obj:
    """The one Deployment of a rendering."""
    found = [d for d in docs if d["kind"] == "Deployment"]
    if len(found) != 1:
        raise RenderError(f"expected one Deployment, found {len(found)}")
    return found[0]
