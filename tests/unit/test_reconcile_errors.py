"""A failed scale write: what is raised (for the queue's retry), logged and not sent."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from nodecount_scaler.kube.client import ApiError
from testkit.builders import deployment, node
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


@pytest.mark.parametrize("status", [409, 500])
async def test_transient_failure_raises_a_retryable_error(api: ScriptedApi, status: int) -> None:
    """409 and 500 raise ApiError (retryable) after the one PATCH; no Event is sent."""
    api.script("PATCH", deployment_path(), Reply(status))
    reconciler = make_reconciler(api, seeded_state(NODES, [deployment(replicas=1)]))
    with pytest.raises(ApiError) as raised:
        await reconciler.reconcile(KEY)
    assert raised.value.status == status
    assert raised.value.retryable
    assert api.lines == [("PATCH", deployment_path())]
    assert reconciler.records[KEY].last_error == str(raised.value)


async def test_failed_write_sets_no_expectation(api: ScriptedApi) -> None:
    """After a failure the next reconcile writes again (nothing is believed written)."""
    api.script("PATCH", deployment_path(), Reply(500), Reply(200))
    reconciler = make_reconciler(api, seeded_state(NODES, [deployment(replicas=1)]))
    with pytest.raises(ApiError):
        await reconciler.reconcile(KEY)
    await reconciler.reconcile(KEY)
    assert api.lines == [
        ("PATCH", deployment_path()),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert reconciler.records[KEY].last_error is None


POLICY_DENIAL = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "reason": "Forbidden",
    "code": 403,
    "message": 'deployments.apps "d" is forbidden: ValidatingAdmissionPolicy '
    "'nodecount-scaler-replicas' with binding 'nodecount-scaler-replicas' denied request: "
    "nodecount-scaler may change replicas only of a Deployment annotated ...",
}


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (None, "the service account needs patch on deployments"),
        (POLICY_DENIAL, "an admission policy of manifests/base/policies/ refused the change"),
    ],
    ids=["rbac", "admission-policy"],
)
async def test_forbidden_write_says_which_guard_refused(
    api: ScriptedApi, body: dict[str, object] | None, hint: str
) -> None:
    """403: the hint names the missing RBAC verb, or the admission policy that refused."""
    api.script("PATCH", deployment_path(), Reply(403, body))
    reconciler = make_reconciler(api, seeded_state(NODES, [deployment(replicas=1)]))
    with capture_logs() as logs, pytest.raises(ApiError):
        await reconciler.reconcile(KEY)
    [error] = [e for e in logs if e["log_level"] == "error"]
    assert error["event"] == "scale write failed"
    assert error["hint"] == hint
    assert api.lines == [("PATCH", deployment_path())]


async def test_target_deleted_meanwhile_is_not_an_error(api: ScriptedApi) -> None:
    """404 on the scale write: the Deployment is gone, nothing is raised or reported."""
    api.script("PATCH", deployment_path(), Reply(404))
    reconciler = make_reconciler(api, seeded_state(NODES, [deployment(replicas=1)]))
    await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path())]


async def test_failed_event_does_not_fail_the_reconcile(api: ScriptedApi) -> None:
    """The write landed; an Event that cannot be created is logged, not raised."""
    api.script("POST", events_path(), Reply(403))
    reconciler = make_reconciler(api, seeded_state(NODES, [deployment(replicas=1)]))
    with capture_logs() as logs:
        await reconciler.reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
    [error] = [e for e in logs if e["log_level"] == "error"]
    assert error["hint"] == "the service account needs create on events"
