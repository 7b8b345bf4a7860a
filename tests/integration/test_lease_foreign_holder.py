"""A Lease written by someone who is not an instance of the service (with its own token, as
RBAC allows: update on its Lease), on the real control plane, two instances with a 4 s lease.

While the foreign holder keeps renewing, nothing can be done about it: no instance leads
(leader_election_master_status 0 on both: NodecountScalerNoLeader's input), a hand edit of
replicas stays, and each instance counts the overlong records it reads
(nodecount_scaler_lease_overlong_total: NodecountScalerLeaseOverlong's input). Once it stops,
an instance takes the lease back within the honoured duration (4 lease durations) and two
retries, however long a duration the holder declared; the hand edit is set back."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess, fast_election
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from nodecount_scaler import limits
from nodecount_scaler.model.lease import JITTER_FACTOR
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

LEASE = "nodecount-scaler"
LEASE_DURATION = 4.0  # fast_election's
RETRY = 0.5
HONOURED = LEASE_DURATION * limits.LEASE_HOLDER_DURATION_FACTOR
ABSURD = 2147483647
HELD_FOR = HONOURED + 4  # the thief renews for longer than a duration would be honoured
APP = "agent"


def lease_path(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"


def steal(cluster: Cluster, namespace: str) -> None:
    """Write the Lease as holder "thief" with an absurd duration, as a client of the API
    would (a PUT of the object read, resourceVersion and all)."""
    lease: dict[str, Any] = cluster.api.get(lease_path(namespace))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease["spec"].update(holderIdentity="thief", leaseDurationSeconds=ABSURD, renewTime=stamp)
    cluster.api.request("PUT", lease_path(namespace), lease)


def leading(pair: list[ScalerProcess]) -> list[bool]:
    return [s.metric("leader_election_master_status", name=LEASE) == 1 for s in pair]


def test_a_foreign_holder_is_reported_and_taken_back_once_it_stops(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """Renewed by a thief for 20 s: nobody leads, the edit stays, overlong records counted;
    then back within 16 s (+ a retry) of its last write, and the edit set back."""
    names = nodes.add_many(2, labels={"suite": namespace})
    apply(
        cluster,
        nginx_everywhere(
            namespace, APP, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"}
        ),
    )
    pair = [scalers.start("--namespace", namespace, *fast_election(namespace)) for _ in range(2)]
    wait_until(lambda: any(leading(pair)), 30, describe="a leader")
    wait_until(lambda: replicas(cluster, namespace, APP) == len(names), 30, describe="2 replicas")

    seen_leading: list[list[bool]] = []
    started = time.monotonic()
    while time.monotonic() - started < HELD_FOR:
        steal(cluster, namespace)
        last_write = time.monotonic()
        if time.monotonic() - started > LEASE_DURATION:
            if replicas(cluster, namespace, APP) != 7:
                cluster.api.merge_patch(
                    f"/apis/apps/v1/namespaces/{namespace}/deployments/{APP}",
                    {"spec": {"replicas": 7}},
                )
            seen_leading.append(leading(pair))
        time.sleep(1.0)
    edit_kept = replicas(cluster, namespace, APP)
    counted = [s.metric_sum("nodecount_scaler_lease_overlong_total") for s in pair]

    holder = wait_until(
        lambda: (
            (h := cluster.api.get(lease_path(namespace))["spec"].get("holderIdentity")) != "thief"
            and h
        ),
        HONOURED + 10,
        describe="the lease taken back",
    )
    back = time.monotonic() - last_write
    wait_until(
        lambda: replicas(cluster, namespace, APP) == len(names), 10, describe="edit set back"
    )
    warned = [s.log_events("lease holder declares a longer duration than is honoured; taking "
                           "over once the lease has not changed for the honoured duration")
              for s in pair]  # fmt: skip
    print(
        f"\nforeign holder (leaseDurationSeconds {ABSURD}) renewed for {HELD_FOR:g} s: "
        f"leading samples {sum(map(any, seen_leading))} of {len(seen_leading)}, replicas "
        f"left at {edit_kept}, overlong records counted {counted}; taken back by {holder} "
        f"{back:.1f} s after its last write (honoured {HONOURED:g} s)"
    )
    assert seen_leading
    assert not any(map(any, seen_leading)), seen_leading
    assert edit_kept == 7
    # One per record read: the thief wrote one a second.
    assert all(c >= HELD_FOR / 2 for c in counted), counted
    assert all(len(w) == 1 for w in warned), warned
    # The documented bound: the honoured duration from when a follower read the last record
    # (within a retry of its write), then the next try (within a retry).
    assert back <= HONOURED + 2 * RETRY * (1 + JITTER_FACTOR) + 0.5
