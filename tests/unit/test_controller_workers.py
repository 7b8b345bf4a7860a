"""The workers: per-target retry with backoff, and a drain that lets a write finish."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from structlog.testing import capture_logs

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, target_view
from tests.scripted_api import (
    KEY,
    Reply,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)
from tests.tasks import running_task

NODES = [node("n1"), node("n2"), node("n3")]
BASE_DELAY = 0.2


def running(controller: Controller) -> AbstractAsyncContextManager[asyncio.Task[None]]:
    return running_task(controller.run_workers())


def controller_for(api: ScriptedApi, *names: str) -> Controller:
    """Workers over scale-ups only; steering off, so no pod list adds requests."""
    state = seeded_state(NODES, [deployment(n, replicas=1) for n in names])
    reconciler = make_reconciler(api, state, pods=False)
    # One clock: a target stored by the controller's sinks settles on the reconciler's time.
    controller = Controller(state, reconciler, clock=reconciler.clock)
    controller.queue.base_delay = BASE_DELAY
    return controller


async def test_failing_target_backs_off_while_another_is_reconciled_at_once(
    api: ScriptedApi,
) -> None:
    """A target failing with 500 is retried after 0.2 s, then 0.4 s; another target's PATCH
    goes out in between, without waiting."""
    api.script("PATCH", deployment_path(), Reply(500), Reply(500), Reply())
    controller = controller_for(api, "d")
    async with running(controller):
        await api.wait_for_calls(1)
        controller.sinks.targets(None).upsert(
            TargetKey("ns", "b"), target_view(deployment("b", replicas=1))
        )
        await api.wait_for_calls(6)
    assert api.lines == [
        ("PATCH", deployment_path()),
        ("PATCH", deployment_path("b")),
        ("POST", events_path()),
        ("PATCH", deployment_path()),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    first, second, third = (c.at for c in api.calls if c.path == deployment_path())
    assert second - first >= BASE_DELAY
    assert third - second >= 2 * BASE_DELAY


async def test_failed_reconcile_logs_a_retry_not_a_crash(api: ScriptedApi) -> None:
    """An ApiError is an expected failure: logged as a retry with its delay."""
    api.script("PATCH", deployment_path(), Reply(409), Reply())
    controller = controller_for(api, "d")
    with capture_logs() as logs:
        async with running(controller):
            await api.wait_for_calls(3)
    retries = [e for e in logs if e["event"] == "reconcile failed, will retry"]
    assert [(e["target"], e["retry_in"]) for e in retries] == [("ns/d", BASE_DELAY)]
    assert not [e for e in logs if e["event"] == "reconcile crashed"]


async def test_success_resets_the_backoff(api: ScriptedApi) -> None:
    """After a successful reconcile the next failure waits the base delay again."""
    api.script("PATCH", deployment_path(), Reply(500), Reply(), Reply(500), Reply())
    controller = controller_for(api, "d")
    with capture_logs() as logs:
        async with running(controller):
            await api.wait_for_calls(3)
            # Our write shows up in the watch, then a hand edit: the drift write fails once.
            controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=3)))
            controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=2)))
            await api.wait_for_calls(6)
    retries = [e["retry_in"] for e in logs if e["event"] == "reconcile failed, will retry"]
    assert retries == [BASE_DELAY, BASE_DELAY]


async def test_drain_lets_the_write_in_flight_finish(api: ScriptedApi) -> None:
    """drain() waits for the reconcile whose PATCH is under way; cancelling after is safe."""
    api.script("PATCH", deployment_path(), Reply(delay=0.5))
    controller = controller_for(api, "d")
    async with running(controller):
        await api.wait_for_calls(1)
        await controller.drain(5.0)
    assert [c.line for c in api.completed] == [
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert controller.reconciler.records[KEY].last_applied == 3


async def test_drain_is_bounded_by_its_timeout(api: ScriptedApi) -> None:
    """A reconcile slower than the drain timeout does not hold the shutdown."""
    api.script("PATCH", deployment_path(), Reply(delay=1.0))
    controller = controller_for(api, "d")
    loop = asyncio.get_running_loop()
    async with running(controller):
        await api.wait_for_calls(1)
        started = loop.time()
        await controller.drain(0.2)
        assert loop.time() - started < 0.8
    assert api.completed == []


async def test_drained_controller_takes_no_new_key(api: ScriptedApi) -> None:
    """After drain() a key added to the queue is not reconciled."""
    controller = controller_for(api)
    async with running(controller):
        await asyncio.sleep(0.05)
        await controller.drain(1.0)
        controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=1)))
        await asyncio.sleep(0.2)
    assert api.calls == []


async def test_reaction_time_runs_from_the_node_event_to_the_write(api: ScriptedApi) -> None:
    """A node event that changes a target's count is observed once, when its write is answered."""
    from nodecount_scaler import metrics
    from testkit.builders import node_view

    def reactions() -> float:
        return metrics.REGISTRY.get_sample_value("nodecount_scaler_reaction_seconds_count") or 0.0

    controller = controller_for(api)
    controller.sinks.targets(None).upsert(KEY, target_view(deployment("d", replicas=3)))
    before = reactions()
    async with running(controller):
        await asyncio.sleep(0.05)  # the first pass: counts agree, nothing written or observed
        assert reactions() == before
        controller.sinks.nodes().upsert("n4", node_view(node("n4")))
        await api.wait_for_calls(2)  # the PATCH and its Event
        await asyncio.sleep(0.05)
    assert api.lines[0] == ("PATCH", deployment_path())
    assert reactions() == before + 1
