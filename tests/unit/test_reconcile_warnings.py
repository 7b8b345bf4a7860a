"""Standing problems on a target: Warning Events, at most once per window, and no write."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node
from tests.scripted_api import (
    KEY,
    FakeClock,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)

NODES = [node("n1"), node("n2"), node("n3")]
HPA = HpaKey("ns", "d-hpa")
WINDOW = 600.0


async def test_hpa_on_the_target_blocks_the_write(api: ScriptedApi) -> None:
    """An HPA scales the same Deployment: no PATCH, one Warning ConflictingAutoscaler."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    state.upsert_hpa(HPA, KEY)
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].event == ("Warning", "ConflictingAutoscaler")
    assert "d-hpa" in api.calls[0].body["message"]


async def test_hpa_warning_is_not_repeated_within_the_window(api: ScriptedApi) -> None:
    """The next reconcile inside the 10-minute window sends nothing."""
    clock = FakeClock()
    state = seeded_state(NODES, [deployment(replicas=1)])
    state.upsert_hpa(HPA, KEY)
    reconciler = make_reconciler(api, state, clock=clock)
    await reconciler.reconcile(KEY)
    clock.advance(WINDOW - 1)
    await reconciler.reconcile(KEY)
    assert api.lines == [("POST", events_path())]


async def test_hpa_warning_is_repeated_after_the_window(api: ScriptedApi) -> None:
    """A conflict still standing after 10 minutes is reported again."""
    clock = FakeClock()
    state = seeded_state(NODES, [deployment(replicas=1)])
    state.upsert_hpa(HPA, KEY)
    reconciler = make_reconciler(api, state, clock=clock)
    await reconciler.reconcile(KEY)
    clock.advance(WINDOW)
    await reconciler.reconcile(KEY)
    assert api.lines == [("POST", events_path()), ("PATCH", events_path() + "/d.")]
    assert api.calls[1].body["count"] == 2


INVALID = [
    pytest.param("nodecount-scaler.io/node-selector", "a in (b", "invalid selector", id="selector"),
    pytest.param("nodecount-scaler.io/min-replicas", "-1", "must be 0 or more", id="negative"),
    pytest.param("nodecount-scaler.io/max-replicas", "abc", "not an integer", id="not-integer"),
    pytest.param("nodecount-scaler.io/nodes-per-replica", "0", "greater than 0", id="zero-ratio"),
]


@pytest.mark.parametrize(("key", "value", "problem"), INVALID)
async def test_invalid_annotation_is_reported_and_nothing_is_written(
    api: ScriptedApi, key: str, value: str, problem: str
) -> None:
    """A Warning InvalidAnnotation names key, value and problem; the target is left alone."""
    state = seeded_state(NODES, [deployment(replicas=1, annotations={key: value})])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].event == ("Warning", "InvalidAnnotation")
    message = api.calls[0].body["message"]
    assert f"{key}={value!r}" in message
    assert problem in message


async def test_min_above_max_is_reported_and_nothing_is_written(api: ScriptedApi) -> None:
    """min-replicas greater than max-replicas is invalid, and said so."""
    notes = {"nodecount-scaler.io/min-replicas": "5", "nodecount-scaler.io/max-replicas": "2"}
    state = seeded_state(NODES, [deployment(replicas=1, annotations=notes)])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].body["message"] == (
        "annotation nodecount-scaler.io/min-replicas='5' is invalid: "
        "min-replicas 5 is greater than max-replicas 2"
    )


async def test_invalid_target_does_not_stop_a_valid_one(api: ScriptedApi) -> None:
    """Another target in the same state still gets its PATCH."""
    bad = deployment(replicas=1, annotations={"nodecount-scaler.io/min-replicas": "abc"})
    good = deployment("g", replicas=1)
    state = seeded_state(NODES, [bad, good])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(TargetKey("ns", "g"))
    assert api.lines == [
        ("POST", events_path()),
        ("PATCH", deployment_path("g")),
        ("POST", events_path()),
    ]
    assert [c.event for c in (api.calls[0], api.calls[2])] == [
        ("Warning", "InvalidAnnotation"),
        ("Normal", "Rescaled"),
    ]


async def test_invalid_annotation_is_not_repeated_within_the_window(api: ScriptedApi) -> None:
    """A second reconcile of the same invalid target sends nothing."""
    bad = deployment(replicas=1, annotations={"nodecount-scaler.io/min-replicas": "abc"})
    reconciler = make_reconciler(api, seeded_state(NODES, [bad]))
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert api.lines == [("POST", events_path())]


async def test_invalid_template_is_reported_and_nothing_is_written(api: ScriptedApi) -> None:
    """A pod template whose tolerations cannot be read gives a Warning InvalidTemplate."""
    broken = deployment(replicas=1, pod_spec={"tolerations": [{"operator": "Sometimes"}]})
    await make_reconciler(api, seeded_state(NODES, [broken])).reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].event == ("Warning", "InvalidTemplate")


async def test_missing_spread_constraint_is_reported_once(api: ScriptedApi) -> None:
    """No hostname anti-affinity or spread: one Warning NoSpreadConstraint per window."""
    state = seeded_state(NODES, [deployment(replicas=3, spread=False)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].event == ("Warning", "NoSpreadConstraint")


async def test_rollout_that_would_stall_is_reported_once(api: ScriptedApi) -> None:
    """Hostname anti-affinity with maxSurge > 0: one Warning RolloutWouldStall per window."""
    surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    state = seeded_state(NODES, [deployment(replicas=3, strategy=surge)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert api.lines == [("POST", events_path())]
    assert api.calls[0].event == ("Warning", "RolloutWouldStall")


async def test_finding_does_not_block_the_write(api: ScriptedApi) -> None:
    """A finding is a warning only: the Warning goes out, then the PATCH and its Event."""
    state = seeded_state(NODES, [deployment(replicas=1, spread=False)])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [
        ("POST", events_path()),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert api.calls[0].event == ("Warning", "NoSpreadConstraint")
