"""Local Kubernetes control plane for tests and demos (dev tooling, not shipped)."""

from devcluster.api import ApiClient, ApiError
from devcluster.build import BuildError, ensure_binaries
from devcluster.cluster import (
    KWOK_LABEL,
    NODE_ALLOCATABLE,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    Cluster,
    ClusterStartError,
    KubectlError,
)
from devcluster.versions import Versions, read_versions

__all__ = [
    "KWOK_LABEL",
    "NODE_ALLOCATABLE",
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "ApiClient",
    "ApiError",
    "BuildError",
    "Cluster",
    "ClusterStartError",
    "KubectlError",
    "Versions",
    "ensure_binaries",
    "read_versions",
]
