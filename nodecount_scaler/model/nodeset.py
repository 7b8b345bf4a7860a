"""Sets of node names as bits over a numbering of the nodes.

Each target keeps the set of its eligible nodes. As Python sets of names they cost about 50
bytes a member: 257 KiB for a target that counts 5,000 nodes, 500 MiB for 2,000 such
targets. Numbered, a set is one integer of a bit per node number (625 bytes at 5,000
nodes, whatever the members), and union, intersection and difference are single C
operations on it. The numbering is shared by the node index and every set made from it; a
number is reused only after its node has left every set (the state evicts a deleted node
from every target before it releases the number).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet, Set
from typing import Any


class NodeNumbers:
    """Node name <-> a small number, the lowest free one for a new name."""

    __slots__ = ("_free", "_number", "names")

    def __init__(self) -> None:
        self._number: dict[str, int] = {}
        # number -> name ("" while free).
        self.names: list[str] = []
        self._free: list[int] = []

    def number(self, name: str) -> int:
        """The name's number, given it on first sight."""
        found = self._number.get(name)
        if found is not None:
            return found
        if self._free:
            found = self._free.pop()
            self.names[found] = name
        else:
            found = len(self.names)
            self.names.append(name)
        self._number[name] = found
        return found

    def get(self, name: str) -> int | None:
        return self._number.get(name)

    def release(self, name: str) -> None:
        found = self._number.pop(name, None)
        if found is not None:
            self.names[found] = ""
            self._free.append(found)

    def bits(self, names: Iterable[str]) -> int:
        """The bits of these (numbered) names."""
        number = self._number
        found = 0
        for name in names:
            slot = number.get(name)
            if slot is not None:
                found |= 1 << slot
        return found

    def members(self, bits: int) -> Iterator[str]:
        """The names of the set bits, lowest number first."""
        names = self.names
        # bin() walks the integer in C; a Python loop over its digits finds the set ones.
        digits = bin(bits)[:1:-1]
        start = digits.find("1")
        while start >= 0:
            yield names[start]
            start = digits.find("1", start + 1)

    def __len__(self) -> int:
        return len(self._number)


class NodeSet(MutableSet[str]):
    """A set of node names over a NodeNumbers."""

    __slots__ = ("bits", "numbers")

    def __init__(self, numbers: NodeNumbers, bits: int = 0) -> None:
        self.numbers = numbers
        self.bits = bits

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        slot = self.numbers.get(name)
        return slot is not None and (self.bits >> slot) & 1 == 1

    def __iter__(self) -> Iterator[str]:
        return self.numbers.members(self.bits)

    def __len__(self) -> int:
        return self.bits.bit_count()

    def __bool__(self) -> bool:
        return self.bits != 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NodeSet) and other.numbers is self.numbers:
            return self.bits == other.bits
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like set

    def __xor__(self, other: Set[Any]) -> Set[Any]:
        if isinstance(other, NodeSet) and other.numbers is self.numbers:
            return NodeSet(self.numbers, self.bits ^ other.bits)
        return set(self) ^ set(other)

    def add(self, name: str) -> None:
        self.bits |= 1 << self.numbers.number(name)

    def discard(self, name: str) -> None:
        slot = self.numbers.get(name)
        if slot is not None:
            self.bits &= ~(1 << slot)

    def __repr__(self) -> str:
        return f"NodeSet({sorted(self)!r})"
