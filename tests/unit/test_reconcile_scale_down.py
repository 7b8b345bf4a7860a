"""A scale-down first steers the ReplicaSet's victim with pod-deletion-cost (docs/eligibility)."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from testkit.builders import deployment, node, node_view
from tests.scripted_api import (
    KEY,
    MERGE_PATCH,
    Reply,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    pod_path,
    seeded_state,
)

COST = "controller.kubernetes.io/pod-deletion-cost"
PODS = "/api/v1/namespaces/ns/pods"


def pod(name: str, node_name: str, cost: str | None = None, deleting: bool = False) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "d"}}
    if cost is not None:
        metadata["annotations"] = {COST: cost}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-28T00:00:00Z"
    return {"metadata": metadata, "spec": {"nodeName": node_name}, "status": {"phase": "Running"}}


def cordon_n3_of_three() -> Any:
    """Three eligible nodes, three replicas; then n3 is cordoned (desired 2)."""
    state = seeded_state([node("n1"), node("n2"), node("n3")], [deployment(replicas=3)])
    state.upsert_node(node_view(node("n3", unschedulable=True)), 0.0)
    return state


async def test_pod_on_leaving_node_gets_low_cost_before_the_scale_write(
    api: ScriptedApi,
) -> None:
    """One paged LIST with the target's selector, mark the pod on the cordoned node, then
    write the replicas."""
    api.pods = [pod("p1", "n1"), pod("p2", "n2"), pod("p3", "n3")]
    await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [
        ("GET", PODS),
        ("PATCH", pod_path("p3")),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    listing, mark, scale = api.calls[:3]
    assert listing.query == (("labelSelector", "app=d"), ("limit", "500"))
    assert mark.content_type == MERGE_PATCH
    assert mark.query == (("fieldManager", "nodecount-scaler"),)
    assert mark.body == {"metadata": {"annotations": {COST: "-1000"}}}
    assert scale.body == {"spec": {"replicas": 2}}


async def test_cost_on_a_pod_whose_node_is_eligible_again_is_removed(api: ScriptedApi) -> None:
    """A -1000 set earlier on a pod whose node counts again is removed (merge-patch null)."""
    api.pods = [pod("p1", "n1", cost="-1000"), pod("p2", "n2"), pod("p3", "n3")]
    await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [
        ("GET", PODS),
        ("PATCH", pod_path("p1")),
        ("PATCH", pod_path("p3")),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert api.calls[1].body == {"metadata": {"annotations": {COST: None}}}


async def test_pods_already_marked_or_terminating_are_not_patched(api: ScriptedApi) -> None:
    """Only changes are written: a pod already at -1000 or being deleted is left alone."""
    api.pods = [
        pod("p1", "n1"),
        pod("p2", "n2"),
        pod("p3", "n3", cost="-1000"),
        pod("p4", "n3", deleting=True),
    ]
    await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [("GET", PODS), ("PATCH", deployment_path()), ("POST", events_path())]


async def test_scale_down_still_happens_when_pods_cannot_be_listed(api: ScriptedApi) -> None:
    """Steering is best effort: a 403 on the pod list is logged with a hint, the scale proceeds."""
    api.script("GET", PODS, Reply(403))
    with capture_logs() as logs:
        await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [("GET", PODS), ("PATCH", deployment_path()), ("POST", events_path())]
    [error] = [e for e in logs if e["log_level"] == "error"]
    assert error["hint"] == "the service account needs list on pods"


async def test_scale_down_still_happens_when_a_pod_patch_fails(api: ScriptedApi) -> None:
    """A failed pod annotation does not stop the other pods' patches or the scale write."""
    api.pods = [pod("p1", "n1"), pod("p3", "n3"), pod("p4", "n3")]
    api.script("PATCH", pod_path("p3"), Reply(500))
    await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [
        ("GET", PODS),
        ("PATCH", pod_path("p3")),
        ("PATCH", pod_path("p4")),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]


async def test_scale_up_touches_no_pod(api: ScriptedApi) -> None:
    """Only a scale-down reads or annotates pods."""
    api.pods = [pod("p1", "n1", cost="-1000")]
    state = seeded_state([node("n1"), node("n2")], [deployment(replicas=1)])
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]


async def test_pods_are_read_page_by_page(api: ScriptedApi) -> None:
    """The pod list follows continue tokens: a pod on the second page is steered too."""
    page = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}}
    api.script(
        "GET",
        PODS,
        Reply(body={**page, "metadata": {"continue": "next"}, "items": [pod("p1", "n1")]}),
        Reply(body={**page, "items": [pod("p2", "n2"), pod("p3", "n3")]}),
    )
    await make_reconciler(api, cordon_n3_of_three()).reconcile(KEY)
    assert api.lines == [
        ("GET", PODS),
        ("GET", PODS),
        ("PATCH", pod_path("p3")),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert ("continue", "next") in api.calls[1].query


async def test_steering_off_reads_and_writes_no_pod(api: ScriptedApi) -> None:
    """--no-pod-deletion-cost: the scale-down is the replica write alone."""
    api.pods = [pod("p1", "n1"), pod("p2", "n2"), pod("p3", "n3")]
    await make_reconciler(api, cordon_n3_of_three(), pods=False).reconcile(KEY)
    assert api.lines == [("PATCH", deployment_path()), ("POST", events_path())]
