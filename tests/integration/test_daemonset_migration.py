"""migrate-daemonset against the real DaemonSet controller and scheduler, on random states.

Each state is drawn by the oracle's generator (test_oracle.draw_state: pools, zones,
custom taints, cordons; a template with nodeSelector, node affinity, tolerations, sometimes
a nodeName). On top of it, some nodes get a condition the node lifecycle controller turns
into a taint only the DaemonSet controller's own tolerations let through (memory, disk or
PID pressure, network unavailable), and the template is sometimes hostNetwork (the only
case that tolerates network-unavailable). The DaemonSet is created, then the Deployment
that `translate_daemonset` makes of it as stored, side by side (no host port: both run).

Asserted, per state: an independent reference of the DaemonSet controller agrees with its
status.desiredNumberScheduled; nodecount-scaler's eligible count for the Deployment is that
count less the documented difference (nodes whose NoExecute taint the template tolerates
only for tolerationSeconds: the DaemonSet counts them and its pod is evicted; the service
does not count them); the Deployment's pods run one per node on exactly the DaemonSet's
other nodes, and so do the DaemonSet's. Over the run, nodes admitted only by an added
toleration must have been compared. ORACLE_SEED replays; DAEMONSET_STATES sets the count.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections import Counter
from typing import Any

from devcluster import Cluster
from devcluster.api import ApiError
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from nodecount_scaler.model.daemonset_migration import DaemonSetOptions, translate_daemonset
from tests.integration.test_oracle import (
    StatePlan,
    _create_nodes,
    _taint_tolerated,
    daemonset_object,
    daemonset_should_run,
    draw_state,
)

CONDITIONS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
    "NetworkUnavailable": "node.kubernetes.io/network-unavailable",
}
NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}
SETTLE = 60.0


def set_condition(cluster: Cluster, name: str, condition: str) -> None:
    """The condition True in the node's status (PUT: a merge patch would replace the list);
    the node lifecycle controller then adds its NoSchedule taint."""
    for attempt in range(10):  # the heartbeat and the controllers write the node too
        node = cluster.api.get(f"/api/v1/nodes/{name}")
        conditions = [c for c in node["status"].get("conditions", []) if c["type"] != condition]
        conditions.append({"type": condition, "status": "True", "reason": "Test", "message": "-"})
        node["status"]["conditions"] = conditions
        try:
            cluster.api.request("PUT", f"/api/v1/nodes/{name}/status", node)
            break
        except ApiError as exc:
            if exc.status != 409 or attempt == 9:
                raise
    taint = CONDITIONS[condition]

    def tainted() -> bool | None:
        taints = (cluster.get_node(name) or {}).get("spec", {}).get("taints") or []
        return any(t["key"] == taint for t in taints) or None

    wait_until(tainted, timeout=30, interval=0.2, describe=f"{taint} on {name}")


def create_nodes(
    cluster: Cluster, nodes: NodeFactory, plan: StatePlan, rng: random.Random
) -> dict[str, str]:
    """The state's nodes (as the oracle makes them), some with a condition set; returns
    node -> condition."""
    _create_nodes(cluster, nodes, plan)
    conditions: dict[str, str] = {}
    for name in plan.names:
        if rng.random() < 0.35:
            conditions[name] = rng.choice(sorted(CONDITIONS))
            set_condition(cluster, name, conditions[name])
    return conditions


def timed_only(node: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    """A NoExecute taint the tolerations admit only for tolerationSeconds: the documented
    difference (the DaemonSet counts the node, the service does not)."""
    return any(
        t["effect"] == "NoExecute"
        and _taint_tolerated(t, tolerations, seconds_count=True)
        and not _taint_tolerated(t, tolerations, seconds_count=False)
        for t in (node.get("spec") or {}).get("taints") or []
    )


def running_on(cluster: Cluster, namespace: str, owner_kind: str, app: str) -> Counter[str]:
    listing = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{app}")
    return Counter(
        p["spec"].get("nodeName", "")
        for p in listing["items"]
        if not p["metadata"].get("deletionTimestamp")
        and p.get("status", {}).get("phase") == "Running"
        and (p["metadata"].get("ownerReferences") or [{}])[0].get("kind") == owner_kind
    )


def _ds_status(cluster: Cluster, path: str) -> dict[str, Any] | None:
    ds = cluster.api.get(path)
    status: dict[str, Any] = ds.get("status") or {}
    return status if status.get("observedGeneration") == ds["metadata"]["generation"] else None


def run_state(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scaler: ScalerProcess,
    plan: StatePlan,
    rng: random.Random,
) -> tuple[int, int, int]:
    """(nodes where both run, of them admitted only by an added toleration, documented
    differences)."""
    conditions = create_nodes(cluster, nodes, plan, rng)
    ds = daemonset_object(namespace, plan)
    ds["spec"]["template"]["spec"]["hostNetwork"] = host_network = rng.random() < 0.5
    ds_path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets"
    stored = cluster.api.post(ds_path, ds)
    app, name = ds["metadata"]["name"], f"m{plan.index}"
    migration, problems = translate_daemonset(stored, DaemonSetOptions(name=name))
    assert migration is not None, problems
    deployment = migration.deployment.obj
    deployment["spec"]["replicas"] = 0
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment)

    api_nodes = [cluster.get_node(n) or {} for n in plan.names]
    spec = stored["spec"]["template"]["spec"]
    reference_spec = dict(spec)
    if host_network:
        reference_spec["tolerations"] = [*(spec.get("tolerations") or []), NETWORK_TOLERATION]
    should_run = {
        n["metadata"]["name"] for n in api_nodes if daemonset_should_run(n, reference_spec)
    }
    final_tolerations = deployment["spec"]["template"]["spec"]["tolerations"]
    differ = {n["metadata"]["name"] for n in api_nodes if timed_only(n, final_tolerations)}
    both = should_run - differ
    describe = (f"{plan.describe()}; hostNetwork {host_network}; conditions {conditions}; "
                f"should run {sorted(should_run)}; differ {sorted(differ)}")  # fmt: skip

    status = wait_until(lambda: _ds_status(cluster, f"{ds_path}/{app}"), timeout=SETTLE,
                        interval=0.2, describe="DaemonSet status")  # fmt: skip
    assert status.get("desiredNumberScheduled", 0) == len(should_run), (status, describe)

    def settled() -> bool | None:
        target = scaler.target(namespace, name)
        if target is None or target.get("eligible") != len(both):
            return None
        placed = running_on(cluster, namespace, "ReplicaSet", app)
        daemons = running_on(cluster, namespace, "DaemonSet", app)
        return (placed == Counter(both) and set(daemons) - differ == both) or None

    try:
        wait_until(settled, timeout=SETTLE, interval=0.2, describe="placement")
    except Exception as exc:
        placed = running_on(cluster, namespace, "ReplicaSet", app)
        daemons = running_on(cluster, namespace, "DaemonSet", app)
        raise AssertionError(
            f"state {plan.index}: {describe}\nscaler {scaler.target(namespace, name)}\n"
            f"Deployment pods {dict(placed)}\nDaemonSet pods {dict(daemons)}"
        ) from exc
    only_added = {
        n["metadata"]["name"]
        for n in api_nodes
        if n["metadata"]["name"] in both
        and (n["metadata"]["name"] in conditions or n.get("spec", {}).get("unschedulable"))
    }
    cluster.api.delete(f"{ds_path}/{app}")
    cluster.api.delete(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    for node in plan.names:
        nodes.delete(node)
    return len(both), len(only_added), len(should_run & differ)


def test_migrated_deployment_runs_where_the_daemonset_runs(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    seed = int(os.environ.get("ORACLE_SEED") or secrets.randbits(32))
    count = int(os.environ.get("DAEMONSET_STATES") or 20)
    print(f"\ndaemonset oracle seed: {seed} (replay with ORACLE_SEED={seed}); {count} states")
    rng = random.Random(seed)
    run = secrets.token_hex(3)
    scaler = scalers.start("--namespace", namespace)
    totals = Counter[str]()
    started = time.monotonic()
    for index in range(count):
        plan = draw_state(rng, index, run)
        compared, only_added, differing = run_state(cluster, namespace, nodes, scaler, plan, rng)
        totals.update(compared=compared, only_added=only_added, differing=differing)
        print(
            f"  state {index:2d}: {len(plan.nodes)} nodes, both run on {compared} ({only_added} "
            f"only by an added toleration), {differing} documented differences"
        )
        scaler.assert_alive()
    print(f"{count} states in {time.monotonic() - started:.0f} s: {dict(totals)}")
    assert totals["only_added"] > 0, "no node was admitted only by an added toleration"
