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


def deletions(guard: ScaleDownGuard, replicas: list[int], every: float) -> list[bool]:
    """One node-caused step per entry (from the previous count to it), `every` seconds
    apart: whether each was held. A held step is not written, so the next one starts from
    the same count."""
    found, current = [], replicas[0]
    for i, desired in enumerate(replicas[1:]):
        verdict = guard.judge(A, current=current, desired=desired, node_caused=True, now=i * every)
        found.append(verdict.held)
        if not verdict.held:
            current = desired
    return found


def test_deletions_one_by_one_are_one_loss() -> None:
    """8 nodes deleted one a second, each delivered on the watch as a step of one: the
    steps go through until more than half of the 8 would be gone, then every step is held
    (before the window, each step compared with the one before never held)."""
    held = deletions(ScaleDownGuard(GuardPolicy(window=60.0)), [8, 7, 6, 5, 4, 3, 2, 1, 0], 1.0)
    assert held == [False, False, False, False, True, True, True, True]


def test_deletions_slower_than_the_window_go_through() -> None:
    """The same deletions a window apart: each is a small step of its own."""
    held = deletions(ScaleDownGuard(GuardPolicy(window=60.0)), [8, 7, 6, 5, 4, 3, 2, 1, 0], 60.0)
    assert held == [False] * 8


def test_a_confirmed_drop_starts_the_next_window_from_its_outcome() -> None:
    """Held at 3 of 8, confirmed by a fresh list, the trusted write to 3 counts from 3:
    one more node gone (3 -> 2) goes through, two more (-> 1) are held."""
    guard = ScaleDownGuard(GuardPolicy(window=60.0))
    assert deletions(guard, [8, 4, 3], 1.0) == [False, True]
    guard.confirmed()
    assert not guard.judge(A, current=4, desired=3, node_caused=True, now=12.0).held
    assert not guard.judge(A, current=3, desired=2, node_caused=True, now=13.0).held
    assert guard.judge(A, current=2, desired=1, node_caused=True, now=14.0).held


def test_a_hand_edit_is_never_the_peak() -> None:
    """Someone sets 100 replicas; setting them back to 8 is not a loss, and the next node
    gone (8 -> 7) is measured from 8, not 100."""
    guard = ScaleDownGuard(GuardPolicy(window=60.0))
    assert not guard.judge(A, current=8, desired=8, node_caused=False, now=0.0).held
    setback = guard.judge(A, current=100, desired=8, node_caused=False, now=1.0, hand_edit=True)
    assert not setback.held
    assert guard.peak(A, 8, 2.0) == 8
    assert not guard.judge(A, current=8, desired=7, node_caused=True, now=2.0).held


def test_an_owners_scale_down_starts_the_next_window_from_its_outcome() -> None:
    """The owner takes its target from 10 replicas to 4 (a settings edit, not node-caused):
    the next node gone (4 -> 3) is measured from 4, not 10, so a tenant's own edit followed
    by ordinary node churn neither holds the target nor costs a node relist."""
    guard = ScaleDownGuard(GuardPolicy(window=60.0))
    assert not guard.judge(A, current=10, desired=10, node_caused=False, now=0.0).held
    assert not guard.judge(A, current=10, desired=4, node_caused=False, now=1.0).held
    assert guard.peak(A, 4, 2.0) == 4
    assert not guard.judge(A, current=4, desired=3, node_caused=True, now=2.0).held
    # Node losses after it are still judged from the owner's count: 4 -> 1 is held.
    assert guard.judge(A, current=3, desired=1, node_caused=True, now=3.0).held


def test_the_window_costs_one_entry_per_target() -> None:
    """A peak per decided target, whatever the number of decisions; dropped with it."""
    guard = ScaleDownGuard(GuardPolicy(window=60.0))
    for step in range(10_000):
        guard.judge(A, current=1000 - step % 3, desired=1000 - step % 3, node_caused=False,
                    now=float(step))  # fmt: skip
        guard.judge(B, current=5, desired=5, node_caused=False, now=float(step))
    assert len(guard._peaks) == 2
    guard.forget(A)
    guard.forget(B)
    assert guard._peaks == {}
