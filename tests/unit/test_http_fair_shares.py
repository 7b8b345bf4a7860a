"""The fair-share accounting of the metrics listener (model/fairness.py), by tables."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.fairness import Shares, to_displace


@pytest.mark.parametrize(
    ("per_identity", "steps", "expected", "table"),
    [
        # (operation, identity) in order; expected: what each take answered.
        (1, [("take", "a"), ("take", "a"), ("take", "b")], [True, False, True], {"a": 1, "b": 1}),
        (2, [("take", "a"), ("take", "a"), ("take", "a")], [True, True, False], {"a": 2}),
        (
            2,
            [("take", "a"), ("take", "a"), ("give", "a"), ("take", "a")],
            [True, True, True],
            {"a": 2},
        ),
        (1, [("take", "a"), ("give", "a")], [True], {}),
        # Giving back what was never taken changes nothing and never goes below zero.
        (1, [("give", "a"), ("take", "a"), ("take", "a")], [True, False], {"a": 1}),
        (3, [("take", "a"), ("take", "b"), ("give", "a"), ("give", "b")], [True, True], {}),
    ],
)
def test_an_identity_holds_at_most_its_share(
    per_identity: int,
    steps: list[tuple[str, str]],
    expected: list[bool],
    table: dict[str, int],
) -> None:
    shares: Shares[str] = Shares(per_identity)
    answers = []
    for operation, who in steps:
        if operation == "take":
            answers.append(shares.take(who))
        else:
            shares.give_back(who)
    assert answers == expected
    assert {who: shares.holding(who) for who in "ab" if shares.holding(who)} == table
    assert len(shares) == len(table), "identities holding nothing are forgotten"


def test_a_share_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Shares(0)


@pytest.mark.parametrize(
    ("waiting", "held", "expected"),
    [
        ([], {}, None),
        (["a"], {"a": 1}, 0),
        # The heaviest holder loses a slot, even when a lighter one waits longer.
        (["scraper", "reader", "reader"], {"scraper": 1, "reader": 90}, 1),
        # Among the heaviest, the oldest waiting.
        (["b", "a", "b", "a"], {"a": 5, "b": 5}, 0),
        # Fresh connections (None) are a holder like any other: a slow-loris flood of them
        # displaces its own.
        ([None, "reader", None], {None: 120, "reader": 8}, 0),
        (["x", "y"], {}, 0),
    ],
)
def test_the_slot_taken_back_is_the_heaviest_holders_oldest(
    waiting: list[str | None], held: dict[str | None, int], expected: int | None
) -> None:
    assert to_displace(waiting, held) == expected
