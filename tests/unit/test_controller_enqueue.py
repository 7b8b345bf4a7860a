"""The watch sinks update the state and queue exactly the targets whose outcome may change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.model.state import HpaKey
from nodecount_scaler.model.status import target_status
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import JsonObject, deployment, node, node_view, target_view
from tests.scripted_api import make_reconciler, scripted_api, seeded_state

A = TargetKey("ns", "a")
B = TargetKey("ns", "b")
SELECTOR = "nodecount-scaler.io/node-selector"


def pool(name: str, value: str, ready: str = "True") -> JsonObject:
    return node(name, labels={"pool": value}, ready=ready)


def target(name: str, replicas: int = 1) -> JsonObject:
    return deployment(name, replicas=replicas, annotations={SELECTOR: f"pool={name}"})


async def queued(controller: Controller) -> set[TargetKey]:
    """Take every queued key (none is waiting for a worker afterwards)."""
    keys = set()
    while len(controller.queue):
        key = await controller.queue.get()
        controller.queue.done(key)
        keys.add(key)
    return keys


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    """Target a counts pool=a nodes, target b pool=b nodes; one node in each pool.

    The sinks never call the API; the scripted one is there to prove it.
    """
    state = seeded_state(
        [pool("n1", "a"), pool("n2", "b")], [target("a"), target("b")], unready_grace=30.0
    )
    async with scripted_api() as api:
        yield Controller(state, make_reconciler(api, state))
        assert api.calls == []


async def test_new_node_queues_only_the_targets_it_counts_for(controller: Controller) -> None:
    """A pool=a node joining queues a, not b."""
    controller.sinks.nodes().upsert("n3", node_view(pool("n3", "a")))
    assert await queued(controller) == {A}


async def test_node_moving_between_pools_queues_both_targets(controller: Controller) -> None:
    """A relabel from pool=a to pool=b changes both eligible sets."""
    controller.sinks.nodes().upsert("n1", node_view(pool("n1", "b")))
    assert await queued(controller) == {A, B}


async def test_unchanged_node_view_queues_nothing(controller: Controller) -> None:
    """A heartbeat (same view) is not a change."""
    controller.sinks.nodes().upsert("n1", node_view(pool("n1", "a")))
    assert await queued(controller) == set()


async def test_node_not_ready_within_grace_queues_nothing(controller: Controller) -> None:
    """A node turning NotReady still counts during the grace: no target is queued."""
    controller.sinks.nodes().upsert("n1", node_view(pool("n1", "a", ready="False")))
    assert await queued(controller) == set()


async def test_deleted_node_queues_the_targets_that_counted_it(controller: Controller) -> None:
    """Deleting n2 queues b only."""
    controller.sinks.nodes().delete("n2")
    assert await queued(controller) == {B}


async def test_node_relist_queues_the_union_of_changes(controller: Controller) -> None:
    """A relist that drops n1 and adds a pool=b node queues both targets."""
    listed = {name: node_view(pool(name, "b")) for name in ("n2", "n9")}
    controller.sinks.nodes().replace(listed)
    assert await queued(controller) == {A, B}


async def test_node_changes_are_coalesced_per_target(controller: Controller) -> None:
    """Several changes before a worker runs leave one queued key per target."""
    for name in ("n3", "n4", "n5"):
        controller.sinks.nodes().upsert(name, node_view(pool(name, "a")))
    assert len(controller.queue) == 1


async def test_target_replica_change_queues_that_target(controller: Controller) -> None:
    """A new spec.replicas in the watch queues the target."""
    controller.sinks.targets(None).upsert(A, target_view(target("a", replicas=4)))
    assert await queued(controller) == {A}


async def test_unchanged_target_view_queues_nothing(controller: Controller) -> None:
    """A Deployment status update (same view) is not a change."""
    controller.sinks.targets(None).upsert(A, target_view(target("a")))
    assert await queued(controller) == set()


async def test_deleted_target_is_queued_to_be_forgotten(controller: Controller) -> None:
    """Opting out queues the key once more, so its records and metrics are dropped."""
    controller.sinks.targets(None).delete(A)
    assert await queued(controller) == {A}
    assert A not in controller.state.targets


async def test_hpa_queues_the_deployment_it_scales(controller: Controller) -> None:
    """An HPA appearing on b queues b; removing it queues b again."""
    controller.sinks.hpas(None).upsert(HpaKey("ns", "b-hpa"), B)
    assert await queued(controller) == {B}
    controller.sinks.hpas(None).delete(HpaKey("ns", "b-hpa"))
    assert await queued(controller) == {B}


async def test_explained_status_counts_excluded_nodes_by_rule(controller: Controller) -> None:
    """`plan`'s explanation says, per target, how many nodes each rule kept out."""
    controller.sinks.nodes().upsert(
        "n3", node_view(node("n3", labels={"pool": "a"}, unschedulable=True))
    )
    await queued(controller)
    state = controller.state
    by_name = {k.name: target_status(state, k, 1000, explain_at=0.0) for k in state.targets}
    assert dict(by_name["a"].excluded or ()) == {"cordoned": 1, "node-selector-annotation": 1}
    assert dict(by_name["b"].excluded or ()) == {"node-selector-annotation": 2}
    assert controller.status()[0].excluded is None


async def test_invalid_targets_gauge_follows_target_changes(controller: Controller) -> None:
    """nodecount_scaler_invalid_targets moves when a target turns invalid, not on a read."""
    from nodecount_scaler import metrics

    bad = deployment("a", annotations={"nodecount-scaler.io/min-replicas": "-1"})
    controller.sinks.targets(None).upsert(A, target_view(bad))
    assert metrics.REGISTRY.get_sample_value("nodecount_scaler_invalid_targets") == 1
    controller.sinks.targets(None).upsert(A, target_view(target("a")))
    assert metrics.REGISTRY.get_sample_value("nodecount_scaler_invalid_targets") == 0
