"""The blast-radius guard, end to end on fake loop time: a node list that drops most nodes
at once holds the scale-down (Warning, metric, no write) until a fresh list taken after the
delay confirms it; a fresh list that brings the nodes back writes nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from nodecount_scaler import metrics
from nodecount_scaler.control.controller import Controller
from nodecount_scaler.model.guard import GuardPolicy, ScaleDownGuard
from nodecount_scaler.model.nodes import NodeView
from testkit.builders import deployment, node, node_view, target_view
from tests.scripted_api import (
    InlineExecutor,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    seeded_state,
)
from tests.tasks import running_task

pytestmark = pytest.mark.looptime

DELAY = 10.0
NAMES = [f"n{i}" for i in range(6)]


def held() -> float:
    return metrics.REGISTRY.get_sample_value("nodecount_scaler_scale_downs_held") or 0.0


@contextlib.asynccontextmanager
async def running(
    api: ScriptedApi, fresh: Callable[[Controller], Awaitable[None]]
) -> AsyncIterator[Controller]:
    """Six nodes, a target at 6; workers and the guard running; `fresh` plays the node
    reflector's fresh list."""
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    state = seeded_state([node(n) for n in NAMES], [deployment(replicas=6)])
    # Steering off: these tests are about when the write happens, not which pod goes.
    reconciler = make_reconciler(api, state, pods=False)
    # One clock for the guard's hold and the controller's wait: the loop's (fake) time.
    reconciler.clock = asyncio.get_running_loop().time
    reconciler.guard = ScaleDownGuard(GuardPolicy(confirm_delay=DELAY))
    controller = Controller(state, reconciler, clock=asyncio.get_running_loop().time)
    async with running_task(controller.run_workers(lambda: fresh(controller))):
        await asyncio.sleep(0.05)
        yield controller


def only(*names: str) -> dict[str, NodeView]:
    return {n: node_view(node(n)) for n in names}


async def test_empty_list_is_held_then_confirmed(api: ScriptedApi) -> None:
    """Every node gone at once: held with a Warning; the fresh list says the same; 6 -> 0."""

    async def fresh(controller: Controller) -> None:
        controller.sinks.nodes().replace({})

    async with running(api, fresh) as controller:
        controller.sinks.nodes().replace({})
        await api.wait_for_calls(1)
        assert api.lines == [("POST", events_path())]
        assert api.calls[0].event == ("Warning", "ScaleDownHeld")
        assert held() == 1
        await asyncio.sleep(DELAY / 2)
        assert len(api.calls) == 1, "nothing written before the confirmation"
        await api.wait_for_calls(3, timeout=DELAY * 2)
    assert ("PATCH", deployment_path()) in api.lines
    (patch,) = [c for c in api.calls if c.method == "PATCH"]
    assert patch.body == {"spec": {"replicas": 0}}
    assert held() == 0


async def test_broken_list_repaired_by_the_fresh_one_writes_nothing(api: ScriptedApi) -> None:
    """A proxy's bad list drops five nodes; the fresh list has them all: no scale write."""

    async def fresh(controller: Controller) -> None:
        controller.sinks.nodes().replace(only(*NAMES))

    async with running(api, fresh) as controller:
        controller.sinks.nodes().replace(only("n0"))
        await api.wait_for_calls(1)
        await asyncio.sleep(DELAY * 2)
    assert api.lines == [("POST", events_path())]
    assert held() == 0


async def test_small_drops_are_not_held(api: ScriptedApi) -> None:
    """One node at a time, as a real drain goes: every write at once."""

    async def fresh(controller: Controller) -> None:
        raise AssertionError("no confirmation is needed")

    async with running(api, fresh) as controller:
        for gone in range(1, 4):
            controller.sinks.nodes().replace(only(*NAMES[gone:]))
            while sum(c.method == "PATCH" for c in api.calls) < gone:
                await api.wait_for_calls(len(api.calls) + 1)
    patches = [c.body for c in api.calls if c.method == "PATCH"]
    assert patches == [{"spec": {"replicas": r}} for r in (5, 4, 3)]


def never(label: str) -> Callable[[Controller], Awaitable[None]]:
    async def fresh(controller: Controller) -> None:
        raise AssertionError(f"{label}: an owner's act must cost no node list")

    return fresh


async def test_owner_edits_are_written_at_once_without_a_node_list(api: ScriptedApi) -> None:
    """The owner's own scale-downs (issue: a tenant toggling an annotation made the service
    relist every node each time): nodes-per-replica 1 -> 6 (6 -> 1 replicas), back, and
    again; each is written at once, and no fresh node list is asked for."""
    per = "nodecount-scaler.io/nodes-per-replica"
    async with running(api, never("settings")) as controller:
        sink = controller.sinks.targets(None)
        for step, (ratio, want) in enumerate([("6", 1), ("1", 6), ("6", 1)], start=1):
            view = target_view(deployment(replicas=6 if want == 1 else 1, annotations={per: ratio}))
            sink.upsert(view.key, view)
            while sum(c.method == "PATCH" for c in api.calls) < step:
                await api.wait_for_calls(len(api.calls) + 1, timeout=1.0)
    patches = [c.body for c in api.calls if c.method == "PATCH"]
    assert patches == [{"spec": {"replicas": r}} for r in (1, 6, 1)]
    assert ("Warning", "ScaleDownHeld") not in [c.event for c in api.calls if c.method == "POST"]
    assert held() == 0


async def test_a_target_opted_in_live_is_taken_over_without_a_node_list(
    api: ScriptedApi,
) -> None:
    """A Deployment opted in while the service watches, at 20 replicas for 6 nodes: the
    takeover (20 -> 6) is its owner's act, written at once; a listed one is judged."""
    async with running(api, never("opt-in")) as controller:
        view = target_view(deployment("late", replicas=20))
        controller.sinks.targets(None).upsert(view.key, view)
        await api.wait_for_calls(1, timeout=1.0)
    assert [(c.method, c.body) for c in api.calls] == [("PATCH", {"spec": {"replicas": 6}})]
