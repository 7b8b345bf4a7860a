"""The blast-radius guard: large node-caused scale-downs wait for a fresh list of nodes."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.guard import GuardPolicy, ScaleDownGuard
from nodecount_scaler.model.targets import TargetKey

A = TargetKey("ns", "a")
B = TargetKey("ns", "b")


@pytest.mark.parametrize(
    ("current", "desired", "held"),
    [
        (50, 0, True),
        (10, 4, True),
        (10, 5, False),
        (3, 1, True),
        (2, 0, True),
        (2, 1, False),
        (1, 0, False),
        (10, 9, False),
        (4, 7, False),
        (0, 0, False),
    ],
    ids=[
        "every-node-gone",
        "sixty-percent",
        "exactly-half",
        "two-of-three",
        "two-of-two",
        "one-of-two",
        "last-one",
        "one-step",
        "scale-up",
        "nothing",
    ],
)
def test_default_policy_holds_large_drops(current: int, desired: int, held: bool) -> None:
    """More than half of the replicas, and at least two of them."""
    assert GuardPolicy().holds(current, desired) is held


def test_share_one_holds_nothing() -> None:
    """share=1.0 switches the guard off: no drop is more than all of it."""
    assert not GuardPolicy(share=1.0).holds(100, 0)


def test_hand_edits_are_never_held() -> None:
    """Setting back a hand edit is not caused by nodes: no hold."""
    guard = ScaleDownGuard()
    assert not guard.judge(A, current=100, desired=3, node_caused=False, now=0.0).held


def test_held_until_confirmed_then_trusted_once() -> None:
    """Held (warned once), confirmed by a fresh list, then the same decision goes through
    once; a new large drop after that is held again."""
    guard = ScaleDownGuard(GuardPolicy(confirm_delay=10.0))
    first = guard.judge(A, current=50, desired=0, node_caused=True, now=5.0)
    again = guard.judge(A, current=50, desired=0, node_caused=True, now=6.0)
    assert (first.held, first.newly_held, again.held, again.newly_held) == (True, True, True, False)
    assert guard.confirmation_due() == 15.0
    assert guard.confirmed() == {A}
    assert guard.confirmation_due() is None
    assert not guard.judge(A, current=50, desired=0, node_caused=True, now=16.0).held
    assert guard.judge(A, current=50, desired=0, node_caused=True, now=17.0).held


def test_recovery_before_confirmation_releases() -> None:
    """Nodes come back before the confirming list: the target is no longer held."""
    guard = ScaleDownGuard()
    assert guard.judge(A, current=10, desired=0, node_caused=True, now=0.0).held
    assert not guard.judge(A, current=10, desired=10, node_caused=True, now=1.0).held
    assert guard.held == frozenset()
    assert guard.confirmation_due() is None


def test_holding_period_starts_at_the_first_hold() -> None:
    """Several targets held one after another share one confirmation."""
    guard = ScaleDownGuard(GuardPolicy(confirm_delay=10.0))
    guard.judge(A, current=10, desired=0, node_caused=True, now=1.0)
    guard.judge(B, current=10, desired=0, node_caused=True, now=3.0)
    assert guard.confirmation_due() == 11.0
    assert guard.confirmed() == {A, B}


def test_forget_drops_every_trace() -> None:
    """A deleted target leaves nothing behind."""
    guard = ScaleDownGuard()
    guard.judge(A, current=10, desired=0, node_caused=True, now=0.0)
    guard.confirmed()
    guard.forget(A)
    assert guard.judge(A, current=10, desired=0, node_caused=True, now=1.0).held
