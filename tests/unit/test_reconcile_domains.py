"""A target that counts zones: a relabel steers the scale-down to the doubled zone, and a
counted zone without a pod is reported once the pods have settled (control/steering.py)."""

from __future__ import annotations

from typing import Any

from nodecount_scaler.control.steering import DOMAIN_CHECK_DELAY
from nodecount_scaler.limits import DOMAIN_CHECK_TRIES
from nodecount_scaler.model.state import ClusterState
from testkit.builders import deployment, node, node_view, target_view
from tests.scripted_api import (
    KEY,
    FakeClock,
    ScriptedApi,
    deployment_path,
    events_path,
    make_reconciler,
    pod_path,
)
from tests.unit.test_reconcile_scale_down import PODS, pod

ZONE = "topology.kubernetes.io/zone"


def zoned(name: str, zone: str) -> Any:
    return node_view(node(name, labels={ZONE: zone}))


def three_zones(replicas: int = 3) -> ClusterState:
    """Nodes a1, b1, c1 in zones a, b, c; the target has one pod per zone."""
    state = ClusterState(0.0, settle=0.0)
    for name in ("a1", "b1", "c1"):
        state.upsert_node(zoned(name, name[0]), 0.0)
    state.upsert_target(target_view(deployment(replicas=replicas, topology_keys=(ZONE,))), 0.0)
    return state


async def test_a_relabel_marks_a_pod_of_the_doubled_zone_before_the_scale_down(
    api: ScriptedApi,
) -> None:
    """a1 moves into zone b: 2 zones count, and the pod on a1 or on b1 goes, not zone c's."""
    state = three_zones()
    state.upsert_node(zoned("a1", "b"), 1.0)
    api.pods = [pod("pa", "a1"), pod("pb", "b1"), pod("pc", "c1")]
    await make_reconciler(api, state).reconcile(KEY)
    assert api.lines == [
        ("GET", PODS),
        ("PATCH", pod_path("pb")),
        ("PATCH", deployment_path()),
        ("POST", events_path()),
    ]
    assert api.calls[2].body == {"spec": {"replicas": 2}}


async def test_a_counted_zone_without_a_pod_is_reported_once_settled(api: ScriptedApi) -> None:
    """Zones b, c and d count (3 replicas, nothing to write) while zone b holds two pods
    and zone d none: after the delay, one pod read and a DomainWithoutPod Warning."""
    clock = FakeClock(1000.0)
    state = three_zones()
    state.upsert_node(zoned("a1", "b"), 1.0)
    state.upsert_node(zoned("d1", "d"), 1.0)
    api.pods = [pod("pa", "a1"), pod("pb", "b1"), pod("pc", "c1")]
    reconciler = make_reconciler(api, state, clock=clock)
    first = await reconciler.reconcile(KEY)
    assert api.calls == []
    assert first.requeue_after == DOMAIN_CHECK_DELAY
    clock.advance(DOMAIN_CHECK_DELAY)
    assert (await reconciler.reconcile(KEY)).requeue_after is None
    assert api.lines == [("GET", PODS), ("POST", events_path())]
    warning = api.calls[1]
    assert warning.event == ("Warning", "DomainWithoutPod")
    assert warning.body["message"].startswith(
        f"{ZONE}=d counts but holds no pod, while {ZONE}=b holds 2 (pa on a1, pb on b1)"
    )
    (finding,) = [f for f in reconciler.status(KEY).findings if f.kind == "DomainWithoutPod"]
    assert finding.message == warning.body["message"]


async def test_pods_that_never_settle_are_read_a_bounded_number_of_times(
    api: ScriptedApi,
) -> None:
    """A pod that stays pending: DOMAIN_CHECK_TRIES reads, then none until the zones move."""
    clock = FakeClock(1000.0)
    api.pods = [pod("pa", "a1"), pod("pb", "b1"), pod("pending", "")]
    reconciler = make_reconciler(api, three_zones(), clock=clock)
    for _ in range(DOMAIN_CHECK_TRIES + 2):
        await reconciler.reconcile(KEY)
        clock.advance(DOMAIN_CHECK_DELAY)
    assert api.lines == [("GET", PODS)] * DOMAIN_CHECK_TRIES


async def test_no_pod_is_read_with_steering_off(api: ScriptedApi) -> None:
    """--no-pod-deletion-cost (or a dry run): the zones are never checked."""
    clock = FakeClock(1000.0)
    reconciler = make_reconciler(api, three_zones(), clock=clock, pods=False)
    assert (await reconciler.reconcile(KEY)).requeue_after is None
    clock.advance(DOMAIN_CHECK_DELAY)
    await reconciler.reconcile(KEY)
    assert api.calls == []
