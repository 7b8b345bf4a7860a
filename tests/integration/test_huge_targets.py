"""Legal but huge targets, on the real control plane: 20 opted-in Deployments of about
1.4 MB each (a valid pod template of 15,000 tolerations) are present when two instances
with leader election start, are edited, then deleted. Both instances stay under twice the
memory request (the shipped 96Mi: 192 MiB) and answer /healthz within 1 s throughout;
each huge target is refused with an InvalidTemplate Event and left untouched, while a
normal target in the same namespace is still scaled; once they are gone the memory is
given back."""

from __future__ import annotations

import json
import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.sampling import HealthSampler, RssSampler
from devcluster.scaler import ScalerFactory, ScalerProcess, fast_election
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from nodecount_scaler import limits
from testkit.workloads import nginx_everywhere

HUGE = 20
TOLERATIONS = 15_000
MEMORY_REQUEST_MIB = 96  # manifests/base/deployment.yaml
RSS_BOUND_MIB = 2 * MEMORY_REQUEST_MIB
HEALTHZ_BUDGET = 1.0
# What may stay after the huge targets are deleted, over the RSS before the edits.
GIVEN_BACK_MARGIN_MIB = 12


def huge_target(namespace: str, name: str) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, name)
    obj["spec"]["replicas"] = 0
    obj["spec"]["template"]["spec"]["tolerations"] = [
        {
            "key": f"example.com/key-{i:05d}",
            "operator": "Equal",
            "value": f"value-{i:05d}",
            "effect": "NoSchedule",
        }
        for i in range(TOLERATIONS)
    ]
    return obj


def refused(scaler: ScalerProcess, namespace: str) -> int:
    targets = [t for t in scaler.status()["targets"] if t["namespace"] == namespace]
    return sum(
        1
        for t in targets
        if t["name"].startswith("huge-")
        and not t["valid"]
        and any("bytes of JSON" in e for e in t["errors"])
    )


def invalid_template_events(cluster: Cluster, namespace: str) -> set[str]:
    listing = cluster.api.get(f"/api/v1/namespaces/{namespace}/events")
    return {
        e["involvedObject"]["name"]
        for e in listing["items"]
        if e.get("reason") == "InvalidTemplate"
    }


def test_huge_targets_cost_their_bytes_not_the_memory_limit(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    label = ("nodecount-test", namespace)
    nodes.add_many(2, labels=dict([label]))
    collection = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    normal = nginx_everywhere(
        namespace, "normal", **{"nodecount-scaler.io/node-selector": f"{label[0]}={label[1]}"}
    )
    cluster.api.post(collection, normal)
    for i in range(HUGE):
        cluster.api.post(collection, huge_target(namespace, f"huge-{i:02d}"))
    size = len(json.dumps(huge_target(namespace, "huge-00")))
    print(f"\none huge Deployment: {size:,} bytes of JSON as sent")
    assert size > 1_300_000

    election = fast_election(namespace)
    fleet = [scalers.start("--namespace", namespace, *election, wait_ready=False) for _ in range(2)]
    pids = [s.proc.pid for s in fleet if s.proc is not None]
    # RSS from the start (the lists of the huge objects), /healthz once each answers.
    with RssSampler(lambda: pids) as rss:
        for scaler in fleet:
            scaler.wait_ready(timeout=120)
        with (
            HealthSampler(fleet[0].url, budget=HEALTHZ_BUDGET) as h0,
            HealthSampler(fleet[1].url, budget=HEALTHZ_BUDGET) as h1,
        ):
            settled, end = exercise(cluster, namespace, fleet, rss, pids)
    peaks = {pid: rss.peak(pid) for pid in pids}
    print(
        f"huge targets: RSS after start {settled}, peak {peaks}, after deletion {end} MiB "
        f"(bound {RSS_BOUND_MIB}); leader {h0.figures()}; follower {h1.figures()}; "
        f"bound on objects {limits.MAX_TARGET_OBJECT_BYTES:,} bytes"
    )
    assert all(peak < RSS_BOUND_MIB for peak in peaks.values()), peaks
    for pid in pids:
        assert end[pid] <= settled[pid] + GIVEN_BACK_MARGIN_MIB, (settled, end)
    for health in (h0, h1):
        health.assert_always_answered()
    assert replicas(cluster, namespace, "normal") == 2


def exercise(
    cluster: Cluster,
    namespace: str,
    fleet: list[ScalerProcess],
    rss: RssSampler,
    pids: list[int],
) -> tuple[dict[int, float], dict[int, float]]:
    """Wait until both instances refuse the huge targets, edit each three times, delete
    them; the RSS once settled and after the deletion."""
    collection = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    wait_until(
        lambda: all(refused(s, namespace) == HUGE for s in fleet),
        timeout=120,
        describe=f"{HUGE} huge targets refused by both instances",
        retry_on=(OSError, ValueError),
    )
    wait_until(
        lambda: replicas(cluster, namespace, "normal") == 2,
        timeout=60,
        describe="the normal target scaled to its 2 nodes",
    )
    wait_until(
        lambda: len(invalid_template_events(cluster, namespace)) == HUGE,
        timeout=60,
        describe="an InvalidTemplate Event for each huge target",
    )
    settled = {pid: rss.samples[-1].get(pid, 0.0) for pid in pids}
    for round_ in range(3):
        for i in range(HUGE):
            cluster.api.merge_patch(
                f"{collection}/huge-{i:02d}",
                {"metadata": {"annotations": {"example.com/edit": str(round_)}}},
            )
    time.sleep(3)
    for i in range(HUGE):
        cluster.api.delete(f"{collection}/huge-{i:02d}")
    wait_until(
        lambda: all(refused(s, namespace) == 0 for s in fleet),
        timeout=60,
        describe="the huge targets gone from both instances",
        retry_on=(OSError, ValueError),
    )
    time.sleep(3)
    return settled, {pid: rss.samples[-1].get(pid, 0.0) for pid in pids}
