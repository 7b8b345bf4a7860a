"""Local Kubernetes control plane for tests and demos (dev tooling, not shipped).

- ``controlplane``: the processes (start, stop, restart, ports, PKI, kubeconfig, memory).
- ``kubectl``, ``nodes``, ``namespaces``, ``etcd``, ``audit``: operations on a running one.
- ``cluster.Cluster``: a ControlPlane with those operations as methods (what tests use).
- ``scaler``: runs the real ``nodecount-scaler run`` process and observes it from outside.
- ``polling``, ``ports``, ``process``: the one polling loop, free ports, child processes.
"""

from devcluster.api import ApiClient, ApiError
from devcluster.build import BuildError, ensure_binaries
from devcluster.cluster import Cluster
from devcluster.controlplane import ClusterStartError, ControlPlane
from devcluster.kubectl import KubectlError
from devcluster.nodes import KWOK_LABEL, NODE_ALLOCATABLE, TAINT_NOT_READY, TAINT_UNREACHABLE
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
    "ControlPlane",
    "KubectlError",
    "Versions",
    "ensure_binaries",
    "read_versions",
]
