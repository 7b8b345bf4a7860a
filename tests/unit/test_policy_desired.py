"""desired = clamp(ceil(eligible / nodes-per-replica), min, max), and the write decision."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.model.annotations import TargetConfig
from nodecount_scaler.model.policy import (
    Action,
    Cause,
    caused_by_nodes,
    desired_replicas,
    plan_scale,
)
from nodecount_scaler.model.selector import EVERYTHING


def cfg(lo: int = 0, hi: int | None = None, npr: Fraction = Fraction(1)) -> TargetConfig:
    return TargetConfig(EVERYTHING, lo, hi, npr)


@pytest.mark.parametrize(
    ("eligible", "config", "cap", "expected"),
    [
        (0, cfg(), 1000, 0),
        (3, cfg(), 1000, 3),
        (5000, cfg(), 1000, 1000),
        (0, cfg(lo=1), 1000, 1),
        (7, cfg(hi=5), 1000, 5),
        (7, cfg(lo=2, hi=2), 1000, 2),
        (7, cfg(npr=Fraction(2)), 1000, 4),
        (8, cfg(npr=Fraction(2)), 1000, 4),
        (3, cfg(npr=Fraction(1, 10)), 1000, 30),
        (5, cfg(npr=Fraction(5, 2)), 1000, 2),
        (1, cfg(npr=Fraction(3)), 1000, 1),
        (10, cfg(hi=50), 5, 5),
        (0, cfg(lo=10), 5, 5),
    ],
    ids=[
        "no-nodes",
        "one-per-node",
        "global-cap",
        "min-floor",
        "max-ceiling",
        "pinned",
        "npr-2-rounds-up",
        "npr-2-exact",
        "npr-0.1-exact-fraction",
        "npr-2.5",
        "npr-3-one-node",
        "global-cap-below-max",
        "global-cap-below-min",
    ],
)
def test_desired_replicas(eligible: int, config: TargetConfig, cap: int, expected: int) -> None:
    """Table of the replica formula."""
    assert desired_replicas(eligible, config, cap) == expected


@pytest.mark.parametrize(
    ("eligible", "current", "last_applied", "hpas", "action", "cause"),
    [
        (3, 3, None, [], Action.NONE, None),
        (3, 1, None, [], Action.SCALE, Cause.ADOPTED),
        (4, 3, 3, [], Action.SCALE, Cause.NODES_CHANGED),
        (2, 3, 3, [], Action.SCALE, Cause.NODES_CHANGED),
        (3, 5, 3, [], Action.SCALE, Cause.DRIFT),
        (4, 3, 3, ["hpa"], Action.BLOCKED_BY_HPA, None),
        (3, 3, 3, ["hpa"], Action.BLOCKED_BY_HPA, None),
    ],
    ids=["steady", "adopt", "node-added", "node-removed", "hand-edit", "hpa-blocks", "hpa-agrees"],
)
def test_plan_scale(
    eligible: int,
    current: int,
    last_applied: int | None,
    hpas: list[str],
    action: Action,
    cause: Cause | None,
) -> None:
    """Write only on a real difference; never with an HPA; name the cause."""
    plan = plan_scale(
        eligible=eligible,
        current=current,
        config=cfg(),
        replica_cap=1000,
        last_applied=last_applied,
        hpas=hpas,
    )
    assert (plan.action, plan.cause) == (action, cause)
    assert plan.desired == eligible


def test_scaling_down_flag() -> None:
    """scaling_down is set only for a write that lowers replicas."""
    down = plan_scale(eligible=2, current=3, config=cfg(), replica_cap=9, last_applied=3, hpas=[])
    up = plan_scale(eligible=4, current=3, config=cfg(), replica_cap=9, last_applied=3, hpas=[])
    assert down.scaling_down
    assert not up.scaling_down


@pytest.mark.parametrize(
    ("cause", "live", "blocked", "judged"),
    [
        (Cause.NODES_CHANGED, False, False, True),
        (Cause.NODES_CHANGED, True, False, True),
        (Cause.ADOPTED, False, False, True),
        (Cause.ADOPTED, True, False, False),
        (Cause.ADOPTED, False, True, False),
        (Cause.SETTINGS_CHANGED, False, False, False),
        (Cause.DRIFT, False, False, False),
        (None, False, False, False),
    ],
    ids=[
        "nodes",
        "nodes-of-a-live-target",
        "first-from-a-list",
        "opted-in-live",
        "hpa-went-away",
        "owner-edit",
        "hand-edit",
        "no-write",
    ],
)
def test_caused_by_nodes(cause: Cause | None, live: bool, blocked: bool, judged: bool) -> None:
    """The blast-radius guard judges the nodes' doing only, never an owner's act."""
    assert caused_by_nodes(cause, live=live, blocked=blocked) is judged


def test_settings_changed_names_the_owner() -> None:
    """A new count after the settings moved is the owner's; the same count is drift."""

    def plan(desired: int, last: int) -> Cause | None:
        return plan_scale(
            eligible=desired,
            current=3,
            config=cfg(),
            replica_cap=9,
            last_applied=last,
            hpas=[],
            settings_changed=True,
        ).cause

    assert plan(1, 3) is Cause.SETTINGS_CHANGED
    assert plan(3, 3) is None
    assert plan(1, 1) is Cause.DRIFT
