"""Running sums over a target's eligible nodes: their cores and their topology domains.

Kept in step with the eligible set node by node, so a node change costs O(1) per target
rather than a pass over every eligible node: a zone that loses its last eligible node, or
gains its first, changes the domain count; any other node change inside a zone does not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from nodecount_scaler.model.nodes import NodeView

# Every node carries it with a value of its own: a domain of this key is a node.
HOSTNAME_KEY: Final = "kubernetes.io/hostname"


@dataclass(frozen=True, slots=True)
class Topology:
    """What a target counts. `keys` are node label keys whose distinct values are the
    domains (one pod per zone, per rack); none: it counts nodes."""

    keys: tuple[str, ...] = ()
    # Where the keys came from: "annotation", "anti-affinity", or "" when counting nodes.
    source: str = ""

    @property
    def per_node(self) -> bool:
        return not self.keys


NODES: Final = Topology()


@dataclass(slots=True)
class Tally:
    topology: Topology
    with_cores: bool
    cores: Fraction = Fraction(0)
    # key -> label value -> how many eligible nodes carry it.
    domains: dict[str, Counter[str]] = field(default_factory=dict)
    # key -> how many eligible nodes lack the key (the scheduler's anti-affinity filter
    # ignores the term on such a node, so replicas can pile up there).
    keyless: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.domains = {key: Counter() for key in self.topology.keys}

    def add(self, node: NodeView) -> None:
        self._count(node, 1)

    def discard(self, node: NodeView) -> None:
        self._count(node, -1)

    def moved(self, old: NodeView, new: NodeView) -> None:
        """An eligible node that stays eligible changed: count its new labels and cores."""
        if old.cpu != new.cpu or any(old.labels.get(k) != new.labels.get(k) for k in self.domains):
            self.discard(old)
            self.add(new)

    def reset(self, nodes: Iterable[NodeView]) -> None:
        self.cores = Fraction(0)
        self.keyless.clear()
        for counter in self.domains.values():
            counter.clear()
        for node in nodes:
            self.add(node)

    def _count(self, node: NodeView, step: int) -> None:
        if self.with_cores:
            self.cores += step * node.cpu
        for key, counter in self.domains.items():
            value = node.labels.get(key)
            if value is None:
                self.keyless[key] += step
                if self.keyless[key] <= 0:
                    del self.keyless[key]
                continue
            counter[value] += step
            if counter[value] <= 0:
                del counter[value]

    def domain_count(self, eligible: int) -> int:
        """The number of domains every replica can have to itself: the fewest over the keys
        (every anti-affinity term must hold at once, so the coarsest bounds the count)."""
        if not self.domains:
            return eligible
        return min(len(counter) for counter in self.domains.values())

    def counted_key(self) -> str | None:
        """The key whose domains are the count (the fewest, the first by name among equals);
        None when counting nodes."""
        if not self.domains:
            return None
        return min(self.domains, key=lambda key: (len(self.domains[key]), key))

    def nodes_without_key(self) -> dict[str, int]:
        return dict(self.keyless)
