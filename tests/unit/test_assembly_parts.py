"""The assembly: the service's parts and plan's read side are built from the same kinds and
the same watches; only the service's hold a way to write."""

from __future__ import annotations

from nodecount_scaler.assembly import assemble, observe
from nodecount_scaler.control.lease_thread import LeaderOnlyClient
from nodecount_scaler.settings import Settings
from tests.scripted_api import ScriptedApi

TWO_NAMESPACES = Settings(namespaces=("a", "b"), kinds=("StatefulSet",), metrics_secure=False)


async def test_plan_watches_what_the_flags_name(api: ScriptedApi) -> None:
    """--kind and --namespace shape plan's watches (they used to be ignored there)."""
    observed = await observe(api.client, TWO_NAMESPACES)
    assert [k.kind for k in observed.kinds] == ["StatefulSet"]
    assert observed.watches.nodes.name == "nodes"
    assert [r.name for r in observed.watches.targets] == ["statefulsets/a", "statefulsets/b"]
    assert [r.name for r in observed.watches.hpas] == [
        "horizontalpodautoscalers/a",
        "horizontalpodautoscalers/b",
    ]
    assert api.calls == []


async def test_every_builtin_kind_by_default_and_none_when_emptied(api: ScriptedApi) -> None:
    """No --kind: every apps/v1 kind; an empty list (NODECOUNT_SCALER_KIND=""): none."""
    every = await observe(api.client, Settings())
    assert [k.kind for k in every.kinds] == ["Deployment", "StatefulSet", "ReplicaSet"]
    none = await observe(api.client, Settings(kinds=()))
    assert none.kinds == ()
    assert none.watches.targets == ()


async def test_the_service_and_plan_watch_alike(api: ScriptedApi) -> None:
    """The same reflectors (by name and path), the probes read all of them, and the node
    reflector is the one the blast-radius guard relists."""
    parts = await assemble(TWO_NAMESPACES, api.client.configuration, api.client)
    observed = await observe(api.client, TWO_NAMESPACES)
    assert [(r.name, r.path) for r in parts.watches.every] == [
        (r.name, r.path) for r in observed.watches.every
    ]
    assert parts.checks.reflectors == parts.watches.every
    assert parts.watches.nodes.path == "/api/v1/nodes"
    assert parts.controller.state is parts.observed.state
    assert (parts.lease, parts.writer) == (None, api.client)
    await parts.close()


async def test_leader_election_writes_through_the_leader_only_client(api: ScriptedApi) -> None:
    """With --leader-elect every write goes through a client bound to the lease."""
    settings = Settings(leader_elect=True, metrics_secure=False, leader_election_namespace="ns")
    parts = await assemble(settings, api.client.configuration, api.client)
    try:
        assert parts.lease is not None
        assert isinstance(parts.writer, LeaderOnlyClient)
        assert parts.controller.reconciler.client is parts.writer
        assert parts.controller.reconciler.events.client is parts.writer
    finally:
        await parts.close()
