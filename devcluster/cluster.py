"""``Cluster``: a ControlPlane plus the operations tests and the demo run against it.

Each method is a one-line delegation to the module that owns the concept (kubectl, nodes,
namespaces, etcd, audit), so that a test needs one object, not five.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from devcluster.audit import audit_events
from devcluster.controlplane import ControlPlane
from devcluster.etcd import Etcd
from devcluster.kubectl import Kubectl
from devcluster.namespaces import create_namespace, delete_namespace
from devcluster.nodes import Nodes

Taints = Sequence[Mapping[str, str]]


class Cluster(ControlPlane):
    """A local control plane with kubectl, Node, namespace, etcd and audit-log operations."""

    @property
    def nodes(self) -> Nodes:
        return Nodes(self.api, self.versions.kubernetes)

    # ----------------------------------------------------------------- kubectl, etcd, audit

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises KubectlError (with stderr) if ``check``."""
        run = Kubectl(self.kubeconfig, self.workdir / "kubectl-cache")
        return run(*args, input=input, check=check, timeout=timeout)

    def etcd_revision(self) -> int:
        return Etcd(self.etcd_url).revision()

    def compact_etcd(self) -> int:
        """See Etcd.compact: older resourceVersions answer 410 Gone afterwards."""
        return Etcd(self.etcd_url).compact()

    def audit_events(
        self, *, namespace: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Completed patch/update requests on deployments and deployments/scale."""
        return audit_events(self.audit_log, namespace=namespace, name=name)

    # ----------------------------------------------------------------- namespaces

    def create_namespace(self, prefix: str = "test", *, timeout: float = 30.0) -> str:
        """Create ``<prefix>-<random>`` and wait for its ``default`` ServiceAccount."""
        return create_namespace(self.api, prefix, timeout=timeout)

    def delete_namespace(self, name: str, *, wait: bool = False, timeout: float = 60.0) -> None:
        delete_namespace(self.api, name, wait=wait, timeout=timeout)

    # ----------------------------------------------------------------- nodes and kubelets

    def get_node(self, name: str) -> dict[str, Any] | None:
        return self.nodes.get(name)

    def add_node(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        taints: Taints | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """One kwok Node; see Nodes.add."""
        return self.add_nodes(
            [name], labels, taints, ready_wait, allocatable=allocatable, timeout=timeout
        )[0]

    def add_nodes(
        self,
        names: Iterable[str],
        labels: Mapping[str, str] | None = None,
        taints: Taints | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[dict[str, Any]]:
        """kwok Nodes, created at once, then waited for; see Nodes.add."""
        return self.nodes.add(
            names, labels, taints, ready_wait, allocatable=allocatable, timeout=timeout
        )

    def wait_node_ready(self, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
        return self.nodes.wait_ready(name, timeout=timeout)

    def wait_node_not_ready(
        self, name: str, *, timeout: float = 90.0, effects: Sequence[str] = ("NoSchedule",)
    ) -> dict[str, Any]:
        return self.nodes.wait_not_ready(name, timeout=timeout, effects=effects)

    def delete_node(self, name: str) -> None:
        self.nodes.delete(name)

    def stop_kubelet(self, name: str, *, wait: bool = False, timeout: float = 90.0) -> None:
        """See Nodes.stop_kubelet: the node goes unreachable after the grace period."""
        self.nodes.stop_kubelet(name, wait=wait, timeout=timeout)

    def start_kubelet(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        self.nodes.start_kubelet(name, wait=wait, timeout=timeout)
