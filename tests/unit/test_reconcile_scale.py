"""One reconcile against the scripted API: which writes and Events a replica change makes."""

from __future__ import annotations

from structlog.testing import capture_logs

from nodecount_scaler import metrics
from testkit.builders import deployment, node, node_view, target_view
from tests.scripted_api import (
    KEY,
    MERGE_PATCH,
    FakeClock,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)

NODES = [node("n1"), node("n2"), node("n3")]


def gauge(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(
        name, {"namespace": "ns", "kind": "Deployment", "name": "d"}
    )


async def test_unchanged_target_makes_no_request(api: ScriptedApi) -> None:
    """desired == spec.replicas: no write and no Event."""
    state = seeded_state(NODES, [deployment(replicas=3)])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.calls == []


async def test_scale_up_patches_the_scale_subresource_once(api: ScriptedApi) -> None:
    """One merge PATCH of spec.replicas on deployments/scale, with our field manager."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    patch = api.calls[0]
    assert patch.content_type == MERGE_PATCH
    assert patch.query == (("fieldManager", "nodecount-scaler"),)
    assert patch.body == {"spec": {"replicas": 3}}


async def test_scale_up_records_a_rescaled_event(api: ScriptedApi) -> None:
    """The Normal Rescaled Event names from, to, the eligible count and the reason."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    await make_reconciler(api, state).reconcile(KEY)
    event = api.calls[1].body
    assert api.calls[1].event == ("Normal", "Rescaled")
    assert event["message"] == (
        "Scaled from 1 to 3 replicas: 3 eligible nodes (taking over spec.replicas)"
    )
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "ns",
        "name": "d",
        "uid": "uid-ns-d",
    }


async def test_node_change_is_named_as_the_reason(api: ScriptedApi) -> None:
    """After a write, a new node's rescale gives "eligible nodes changed" as the reason."""
    state = seeded_state(NODES[:2], [deployment(replicas=2)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    state.upsert_node(node_view(node("n3")), 0.0)
    await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[1].body["message"] == (
        "Scaled from 2 to 3 replicas: 3 eligible nodes (eligible nodes changed)"
    )


async def test_second_reconcile_before_the_watch_catches_up_writes_nothing(
    api: ScriptedApi,
) -> None:
    """The cache still shows the old replicas after our write: the expectation holds it."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    api.clear()
    await reconciler.reconcile(KEY)
    assert api.calls == []


async def test_expectation_lapses_after_its_ttl(api: ScriptedApi) -> None:
    """A write never seen in the cache is trusted for 30 s only, then written again."""
    clock = FakeClock()
    state = seeded_state(NODES, [deployment(replicas=1)])
    reconciler = make_reconciler(api, state, clock=clock)
    await reconciler.reconcile(KEY)
    api.clear()
    clock.advance(31.0)
    await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]


async def test_hand_edit_after_a_write_is_set_back(api: ScriptedApi) -> None:
    """spec.replicas changed by hand: PATCH back and a Normal DriftCorrected Event."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    state.upsert_target(target_view(deployment(replicas=3)), 0.0)
    await reconciler.reconcile(KEY)
    api.clear()
    state.upsert_target(target_view(deployment(replicas=2)), 0.0)
    await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[0].body == {"spec": {"replicas": 3}}
    assert api.calls[1].event == ("Normal", "DriftCorrected")
    assert "from 2 to 3" in api.calls[1].body["message"]


async def test_dry_run_makes_no_request_and_logs_the_change(api: ScriptedApi) -> None:
    """dry_run: nothing is sent; the would-be change is logged."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    with capture_logs() as logs:
        await make_reconciler(api, state, dry_run=True).reconcile(KEY)
    assert api.calls == []
    [line] = [e for e in logs if "would rescale" in e["event"]]
    assert (line["from"], line["to"], line["eligible"]) == (1, 3, 3)


async def test_dry_run_scale_down_lists_no_pods(api: ScriptedApi) -> None:
    """dry_run: a scale-down does not even read pods."""
    state = seeded_state(NODES, [deployment(replicas=5)])
    await make_reconciler(api, state, dry_run=True).reconcile(KEY)
    assert api.calls == []


async def test_removed_target_makes_no_request_and_drops_its_metrics(api: ScriptedApi) -> None:
    """A target no longer in the state: no request, its label sets and record are gone."""
    state = seeded_state(NODES, [deployment(replicas=3)])
    reconciler = make_reconciler(api, state)
    await reconciler.reconcile(KEY)
    assert gauge("nodecount_scaler_eligible_nodes") == 3
    state.delete_target(KEY)
    await reconciler.reconcile(KEY)
    assert api.calls == []
    for name in (
        "nodecount_scaler_eligible_nodes",
        "nodecount_scaler_desired_replicas",
        "nodecount_scaler_current_replicas",
    ):
        assert gauge(name) is None
    assert KEY not in reconciler.records


async def test_replica_cap_caps_the_write(api: ScriptedApi) -> None:
    """The global cap wins over the eligible count."""
    state = seeded_state(NODES, [deployment(replicas=1)])
    await make_reconciler(api, state, replica_cap=2).reconcile(KEY)
    assert api.calls[0].body == {"spec": {"replicas": 2}}
