"""A custom resource's replicas are read where its CustomResourceDefinition's scale
subresource keeps them (specReplicasPath); a definition that cannot tell refuses the kind."""

from __future__ import annotations

from typing import Any

import pytest

from nodecount_scaler.kube import discovery
from nodecount_scaler.model.kinds import CustomWorkload, scale_replicas_path
from nodecount_scaler.model.targets import TargetView, project_target
from testkit.builders import deployment
from tests.scripted_api import Reply, ScriptedApi

AGENTS = CustomWorkload("example.com", "v1", "agents", ("spec", "template"))
DEFINITION = f"{discovery.DEFINITIONS}/agents.example.com"


def definition(path: object = ".spec.size", version: str = "v1") -> dict[str, Any]:
    scale = {} if path is None else {"specReplicasPath": path}
    return {
        "kind": "CustomResourceDefinition",
        "spec": {"versions": [{"name": version, "subresources": {"scale": scale}}]},
    }


@pytest.mark.parametrize(
    ("crd", "expected"),
    [
        pytest.param(definition(".spec.replicas"), ("spec", "replicas"), id="spec-replicas"),
        pytest.param(definition(".spec.size"), ("spec", "size"), id="spec-size"),
        pytest.param(definition(".spec.a.b"), ("spec", "a", "b"), id="nested"),
        pytest.param(definition(".spec.size", "v2"), "has no version 'v1'", id="other-version"),
        pytest.param(definition(None), "has no scale subresource in version v1", id="no-path"),
        pytest.param(definition(".status.size"), "not a path of fields under .spec", id="status"),
        pytest.param(definition(".spec.items[0]"), "not a path of fields", id="index"),
        pytest.param(definition(".spec..size"), "not a path of fields", id="empty-field"),
        pytest.param(definition(3), "has no scale subresource", id="not-a-string"),
        pytest.param([], "has no version", id="not-an-object"),
    ],
)
def test_scale_replicas_path(crd: object, expected: tuple[str, ...] | str) -> None:
    """specReplicasPath as fields, or the problem; never an exception."""
    found = scale_replicas_path(crd, "v1")
    if isinstance(expected, tuple):
        assert found == expected
    else:
        assert isinstance(found, str)
        assert expected in found


def agent(**spec: Any) -> dict[str, Any]:
    obj = deployment()
    return {
        "apiVersion": "example.com/v1",
        "kind": "Agent",
        "metadata": obj["metadata"],
        "spec": {"selector": obj["spec"]["selector"], "template": obj["spec"]["template"], **spec},
    }


@pytest.mark.parametrize(
    ("spec", "replicas"),
    [({"size": 4, "replicas": 9}, 4), ({"replicas": 9}, 0)],
    ids=["at-the-path", "absent-is-zero"],
)
def test_replicas_are_read_at_the_kind_path(spec: dict[str, Any], replicas: int) -> None:
    """spec.size, not spec.replicas; absent reads as 0, as the API server's Scale reads it."""
    kind = AGENTS.with_kind("Agent", replicas_path=("spec", "size"))
    view = project_target(agent(**spec), kind)
    assert isinstance(view, TargetView)
    assert view.replicas == replicas


async def test_discovery_reads_the_path_from_the_definition(api: ScriptedApi) -> None:
    """The group version's resources, then the one CustomResourceDefinition."""
    api.script("GET", "/apis/example.com/v1", Reply(body=served()))
    api.script("GET", DEFINITION, Reply(body=definition(".spec.size")))
    (kind,) = await discovery.resolve(api.client, ["example.com/v1/agents"])
    assert api.lines == [("GET", "/apis/example.com/v1"), ("GET", DEFINITION)]
    assert (kind.kind, kind.replicas_path, kind.problem) == ("Agent", ("spec", "size"), None)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        pytest.param(Reply(403), "needs get on customresourcedefinitions", id="forbidden"),
        pytest.param(Reply(404), "served without a CustomResourceDefinition", id="aggregated"),
        pytest.param(Reply(body=definition(".status.n")), "not a path of fields", id="bad-path"),
    ],
)
async def test_a_definition_that_cannot_tell_refuses_the_kind(
    api: ScriptedApi, reply: Reply, problem: str
) -> None:
    """The kind is kept with a problem, so each of its targets is reported invalid."""
    api.script("GET", "/apis/example.com/v1", Reply(body=served()))
    api.script("GET", DEFINITION, reply)
    (kind,) = await discovery.resolve(api.client, ["example.com/v1/agents"])
    assert kind.problem is not None
    assert problem in kind.problem
    view = project_target(agent(replicas=1), kind)
    assert isinstance(view, TargetView)
    assert not view.valid
    assert view.template_error == kind.problem


def served() -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "resources": [
            {"name": "agents", "kind": "Agent", "namespaced": True},
            {"name": "agents/scale", "kind": "Scale", "namespaced": True},
        ],
    }
