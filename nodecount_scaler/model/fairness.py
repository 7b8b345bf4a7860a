"""Fair shares of a bounded pool between the identities that use it (the metrics listener's
connections and answers in flight): no identity may hold more than its share, and when the
pool is full the slot taken back is one of the identity that holds the most, so a flood
from one identity costs the others nothing it does not hold already."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Generic, TypeVar

Who = TypeVar("Who", bound=Hashable)


class Shares(Generic[Who]):
    """Slots held per identity, at most `per_identity` each; identities holding nothing
    are forgotten, so the table is never larger than the slots held."""

    def __init__(self, per_identity: int) -> None:
        if per_identity < 1:
            raise ValueError(f"per_identity must be at least 1, not {per_identity}")
        self.per_identity = per_identity
        self._held: dict[Who, int] = {}

    def __len__(self) -> int:
        return len(self._held)

    def holding(self, who: Who) -> int:
        return self._held.get(who, 0)

    def take(self, who: Who) -> bool:
        """One more slot for `who`, unless it holds its share already."""
        held = self._held.get(who, 0)
        if held >= self.per_identity:
            return False
        self._held[who] = held + 1
        return True

    def give_back(self, who: Who) -> None:
        held = self._held.get(who, 0)
        if held <= 1:
            self._held.pop(who, None)
        else:
            self._held[who] = held - 1


def to_displace(waiting: Sequence[Who], held: Mapping[Who, int]) -> int | None:
    """Which of the `waiting` slots (oldest first, each named by its holder) to take back:
    the oldest of those whose holder holds the most slots of the pool (`held`); None when
    nothing waits."""
    chosen: int | None = None
    most = -1
    for index, who in enumerate(waiting):
        count = held.get(who, 0)
        if count > most:
            chosen, most = index, count
    return chosen
