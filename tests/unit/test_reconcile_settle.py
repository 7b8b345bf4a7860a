"""A new target is not written in its first seconds: an HPA applied with it may still be on
its way (model/state.py NEW_TARGET_SETTLE)."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.state import NEW_TARGET_SETTLE, HpaKey
from testkit.builders import deployment, node, target_view
from tests.scripted_api import (
    KEY,
    FakeClock,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)

NODES = [node("n1"), node("n2")]
HPA = HpaKey("ns", "d-hpa")


def test_the_settle_is_a_few_seconds() -> None:
    """Long enough for an HPA applied in the same file, short against a reaction."""
    assert 1.0 <= NEW_TARGET_SETTLE <= 5.0


async def test_a_new_target_is_written_only_once_it_has_settled(api: ScriptedApi) -> None:
    """Stored at 1000: no request before 1002; the reconcile asks to be run again then."""
    clock = FakeClock(1000.0)
    state = seeded_state(NODES, [deployment(replicas=1)], now=clock.now, settle=2.0)
    reconciler = make_reconciler(api, state, clock=clock)
    clock.advance(0.5)
    result = await reconciler.reconcile(KEY)
    assert api.calls == []
    assert result.requeue_after == pytest.approx(1.5)
    clock.advance(1.5)
    await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]


async def test_an_hpa_that_arrives_while_it_settles_blocks_every_write(api: ScriptedApi) -> None:
    """The Deployment's event first, its HPA's a moment later: nothing is written, ever."""
    clock = FakeClock(1000.0)
    state = seeded_state(NODES, [deployment(replicas=1)], now=clock.now, settle=2.0)
    reconciler = make_reconciler(api, state, clock=clock)
    await reconciler.reconcile(KEY)
    state.upsert_hpa(HPA, KEY)
    clock.advance(10.0)
    await reconciler.reconcile(KEY)
    assert [c.event for c in api.calls] == [("Warning", "ConflictingAutoscaler")]


@pytest.mark.parametrize(
    ("uid", "settles_at"),
    [
        pytest.param("uid-ns-d", 1002.0, id="same-uid-keeps-its-time"),
        pytest.param("uid-new", 1007.0, id="new-uid-settles-again"),
    ],
)
def test_an_update_keeps_the_first_sight_unless_the_object_is_new(
    uid: str, settles_at: float
) -> None:
    """A later version (an edit, a relist) does not restart the settle; a recreated object
    with the same name (a new uid) does."""
    state = seeded_state(NODES, [deployment(replicas=1)], now=1000.0, settle=2.0)
    edited = deployment(replicas=4)
    edited["metadata"]["uid"] = uid
    state.upsert_target(target_view(edited), 1005.0)
    assert state.targets[KEY].settles_at == settles_at
