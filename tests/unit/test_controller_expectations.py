"""Expectations meet the watch: our write is believed until the Deployment watch shows it."""

from __future__ import annotations

import asyncio

import pytest

from nodecount_scaler.control.controller import Controller
from nodecount_scaler.kube.client import ApiError
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

NODES = [node("n1"), node("n2"), node("n3")]
SURGE = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def controller_for(api: ScriptedApi) -> Controller:
    state = seeded_state(NODES, [deployment(replicas=1)])
    return Controller(state, make_reconciler(api, state))


async def test_hand_edit_coalesced_with_our_write_is_set_back(api: ScriptedApi) -> None:
    """The watch shows our 3 and then a hand edit to 2 before the next reconcile: PATCH back."""
    controller = controller_for(api)
    await controller.reconciler.reconcile(KEY)
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=3)))
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=2)))
    api.clear()
    await controller.reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[0].body == {"spec": {"replicas": 3}}
    assert api.calls[1].event == ("Normal", "DriftCorrected")


async def test_write_seen_before_its_response_still_counts(api: ScriptedApi) -> None:
    """The watch may deliver our write before the PATCH returns; a later hand edit is set back."""
    api.script("PATCH", deployment_path(), Reply(delay=0.2), Reply())
    controller = controller_for(api)
    reconcile = asyncio.create_task(controller.reconciler.reconcile(KEY))
    await api.wait_for_calls(1)
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=3)))
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=2)))
    await reconcile
    api.clear()
    await controller.reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    assert api.calls[1].event == ("Normal", "DriftCorrected")


async def test_relist_showing_our_write_then_a_hand_edit_is_set_back(api: ScriptedApi) -> None:
    """A relist observes the write as well as a watch event does."""
    controller = controller_for(api)
    await controller.reconciler.reconcile(KEY)
    controller.sinks.targets(None).replace({KEY: target_view(deployment(replicas=3))})
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=2)))
    api.clear()
    await controller.reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]


async def test_older_version_seen_after_the_write_keeps_the_expectation(
    api: ScriptedApi,
) -> None:
    """An event from before our write (old replicas, other change) causes no second PATCH."""
    controller = controller_for(api)
    await controller.reconciler.reconcile(KEY)
    controller.sinks.targets(None).upsert(KEY, target_view(deployment(replicas=1, strategy=SURGE)))
    api.clear()
    await controller.reconciler.reconcile(KEY)
    assert [c.line for c in api.calls if c.method == "PATCH"] == []


async def test_failed_write_is_not_expected(api: ScriptedApi) -> None:
    """A write that failed leaves no expectation: the retry writes again."""
    api.script("PATCH", deployment_path(), Reply(500), Reply())
    controller = controller_for(api)
    with pytest.raises(ApiError, match="500"):
        await controller.reconciler.reconcile(KEY)
    await controller.reconciler.reconcile(KEY)
    assert api.lines == [
        ("PATCH", deployment_path()),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
