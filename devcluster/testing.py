"""Helpers for tests that use a Cluster (the pytest fixtures live in tests/integration)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from devcluster.cluster import Cluster


class NodeFactory:
    """Creates kwok Nodes with unique names for one test; ``cleanup()`` deletes them."""

    def __init__(self, cluster: Cluster, prefix: str) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.created: list[str] = []

    def name(self, prefix: str | None = None) -> str:
        """A fresh unique node name (also a valid hostname label, <= 63 chars)."""
        base = (prefix or self.prefix)[:48].strip("-") or "n"
        return f"{base}-{secrets.token_hex(3)}"

    def add(
        self,
        prefix: str | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
    ) -> str:
        """Create one Node (see Cluster.add_node) and return its name."""
        return self.add_many(1, prefix, labels, taints, ready_wait, allocatable=allocatable)[0]

    def add_many(
        self,
        count: int,
        prefix: str | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Create ``count`` Nodes at once, then wait for all of them; return the names."""
        names = [self.name(prefix) for _ in range(count)]
        self.created.extend(names)
        self.cluster.add_nodes(
            names, labels=labels, taints=taints, ready_wait=ready_wait, allocatable=allocatable
        )
        return names

    def get(self, name: str) -> dict[str, Any] | None:
        return self.cluster.get_node(name)

    def delete(self, name: str) -> None:
        self.cluster.delete_node(name)
        if name in self.created:
            self.created.remove(name)

    def stop_kubelet(self, name: str, *, wait: bool = False) -> None:
        self.cluster.stop_kubelet(name, wait=wait)

    def start_kubelet(self, name: str, *, wait: bool = True) -> None:
        self.cluster.start_kubelet(name, wait=wait)

    def cleanup(self) -> None:
        for name in self.created:
            self.cluster.delete_node(name)
        self.created.clear()
