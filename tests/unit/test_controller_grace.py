"""The NotReady grace, end to end: node sink, grace timer task, workers, scripted API.

On fake loop time (looptime): the grace and the test's waits pass at once in real time,
and the loop clock that times the requests is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from nodecount_scaler.control.controller import Controller
from testkit.builders import deployment, node, node_view
from tests.scripted_api import (
    FakeClock,
    InlineExecutor,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)

pytestmark = pytest.mark.looptime

GRACE = 0.3


@contextlib.asynccontextmanager
async def running(api: ScriptedApi, clock: Callable[[], float]) -> AsyncIterator[Controller]:
    """Three Ready nodes, a target at 3 replicas; workers and the grace timer running.
    Pod-deletion-cost steering is off: these tests are about when the write happens."""
    # aiohttp's executor hops would let loop time flow in real time (see InlineExecutor).
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    state = seeded_state(
        [node("n1"), node("n2"), node("n3")], [deployment(replicas=3)], unready_grace=GRACE
    )
    controller = Controller(state, make_reconciler(api, state, pods=False), clock=clock)
    tasks = [
        asyncio.create_task(controller.run_workers()),
        asyncio.create_task(controller.run_grace_timer()),
    ]
    await asyncio.sleep(0.05)  # the leader's first pass over every target: nothing to do
    assert api.calls == []
    try:
        yield controller
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def controller(api: ScriptedApi) -> AsyncIterator[Controller]:
    """Running on the loop's clock, which the grace timer's waits also use."""
    async with running(api, asyncio.get_running_loop().time) as controller:
        yield controller


async def test_not_ready_node_counts_until_the_grace_runs_out(
    api: ScriptedApi, controller: Controller
) -> None:
    """No write during the grace; one scale-down once it has passed."""
    loop = asyncio.get_running_loop()
    turned = loop.time()
    controller.sinks.nodes().upsert("n3", node_view(node("n3", ready="False")))
    await asyncio.sleep(GRACE / 2)
    assert api.calls == []
    await api.wait_for_calls(2)
    await asyncio.sleep(0.1)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[0].body == {"spec": {"replicas": 2}}
    assert api.calls[0].at - turned >= GRACE


async def test_flap_shorter_than_the_grace_writes_nothing(api: ScriptedApi) -> None:
    """NotReady then Ready again within the grace: zero requests."""
    clock = FakeClock()
    async with running(api, clock) as controller:
        controller.sinks.nodes().upsert("n3", node_view(node("n3", ready="False")))
        await asyncio.sleep(0.01)
        clock.advance(GRACE * 0.9)
        controller.sinks.nodes().upsert("n3", node_view(node("n3")))
        clock.advance(GRACE)
        await asyncio.sleep(GRACE * 2)
    assert api.calls == []


async def test_cordon_takes_effect_without_grace(api: ScriptedApi, controller: Controller) -> None:
    """Only readiness is forgiven: a cordoned node stops counting at once."""
    loop = asyncio.get_running_loop()
    cordoned = loop.time()
    controller.sinks.nodes().upsert("n3", node_view(node("n3", unschedulable=True)))
    await api.wait_for_calls(2)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[0].at - cordoned < GRACE


async def test_second_node_going_not_ready_gets_its_own_grace(
    api: ScriptedApi, controller: Controller
) -> None:
    """The timer re-arms for each node: two NotReady nodes, two scale-downs in turn."""
    controller.sinks.nodes().upsert("n3", node_view(node("n3", ready="False")))
    await asyncio.sleep(GRACE / 2)
    controller.sinks.nodes().upsert("n2", node_view(node("n2", ready="False")))
    # Two scale writes and one Rescaled Event (the second occurrence waits for the
    # Event write budget).
    await api.wait_for_calls(3)
    scales = [c.body for c in api.calls if c.path == deployment_path()]
    assert scales == [{"spec": {"replicas": 2}}, {"spec": {"replicas": 1}}]
