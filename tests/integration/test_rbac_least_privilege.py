"""The shipped RBAC is enough for the whole job and every rule in it is needed.

The ServiceAccount, ClusterRoles(Bindings), Role(Binding) and admission policies of
`manifests/` are applied for real; the service runs with a TokenRequest token of that
ServiceAccount. With the shipped rules and policies in force it does everything (scale up
and down, pod-deletion-cost from a list+watch of the target's pods, Events, Lease). Then each
rule, and each verb whose loss shows differently, is removed in turn: the service must say
so in an error log line that names the missing permission, and the capability must not
happen (while the others still do).

The Lease lives in the namespace `nodecount-scaler` (the Role is confined to it), so these
tests share that namespace and its one Lease; they run one after another and every
process releases the Lease when stopped.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import events, pods, replicas
from testkit.workloads import nginx_everywhere
from tests.integration.shipped import (
    LEASE,
    NS,
    SA,
    USER,
    Objects,
    Perm,
    allowed,
    installed,
    kubectl_apply,
    service_account_kubeconfig,
    wait_authorized,
)
from tests.integration.workloads import apply
from tests.manifests import BASE

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
APP = "nginx-everywhere"
FAST_ELECTION = (
    "--leader-elect",
    "--leader-election-namespace",
    NS,
    "--leader-election-lease-duration",
    "4",
    "--leader-election-renew-deadline",
    "3",
    "--leader-election-retry-period",
    "0.5",
)
# After the error shows, how long "it still did not happen" is watched.
SETTLE = 1.5

# Every permission the service uses; the shipped RBAC must grant exactly these (and the
# NOT_GRANTED probes below must be denied).
NEEDED = (
    Perm("list", "nodes"),
    Perm("watch", "nodes"),
    Perm("list", "deployments", "apps"),
    Perm("watch", "deployments", "apps"),
    Perm("patch", "deployments", "apps"),
    Perm("list", "statefulsets", "apps"),
    Perm("watch", "statefulsets", "apps"),
    Perm("patch", "statefulsets", "apps"),
    Perm("list", "replicasets", "apps"),
    Perm("watch", "replicasets", "apps"),
    Perm("patch", "replicasets", "apps"),
    Perm("list", "pods"),
    Perm("watch", "pods"),
    Perm("patch", "pods"),
    Perm("list", "horizontalpodautoscalers", "autoscaling"),
    Perm("watch", "horizontalpodautoscalers", "autoscaling"),
    Perm("create", "events"),
    Perm("patch", "events"),
    Perm("create", "leases", "coordination.k8s.io", namespace=NS),
    Perm("get", "leases", "coordination.k8s.io", namespace=NS, name=LEASE),
    Perm("update", "leases", "coordination.k8s.io", namespace=NS, name=LEASE),
)
NOT_GRANTED = (
    Perm("get", "secrets", namespace=NS),
    Perm("list", "secrets"),
    Perm("list", "configmaps"),
    Perm("get", "nodes", name="n1"),
    Perm("patch", "nodes", name="n1"),
    Perm("get", "deployments", "apps"),
    Perm("update", "deployments", "apps"),
    Perm("delete", "deployments", "apps"),
    Perm("patch", "deployments", "apps", "scale"),
    Perm("update", "deployments", "apps", "scale"),
    Perm("patch", "statefulsets", "apps", "scale"),
    Perm("patch", "replicasets", "apps", "scale"),
    Perm("get", "pods"),
    Perm("update", "pods"),
    Perm("delete", "pods"),
    Perm("create", "pods"),
    Perm("patch", "pods", subresource="status"),
    Perm("create", "pods", subresource="eviction"),
    Perm("update", "events"),
    Perm("delete", "events"),
    Perm("create", "events", "events.k8s.io"),
    Perm("patch", "horizontalpodautoscalers", "autoscaling"),
    Perm("get", "leases", "coordination.k8s.io", namespace=NS, name="kube-scheduler"),
    Perm("update", "leases", "coordination.k8s.io", namespace=NS, name="other"),
    Perm("delete", "leases", "coordination.k8s.io", namespace=NS, name=LEASE),
    Perm("list", "leases", "coordination.k8s.io", namespace=NS),
    Perm("create", "leases", "coordination.k8s.io", namespace="kube-system"),
    Perm("update", "leases", "coordination.k8s.io", namespace="kube-system", name=LEASE),
)


def wait_grants(cluster: Cluster, denied: frozenset[Perm] = frozenset()) -> None:
    """Wait until the authorizer's caches reflect exactly NEEDED minus `denied`."""
    wait_authorized(cluster, {p: p not in denied for p in NEEDED})


@dataclass(frozen=True)
class Drop:
    """Remove one rule (verbs=None) or some verbs of one rule of the ClusterRoles or the
    Role. The rule is found by its resources and, for the Role, by carrying resourceNames."""

    kind: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...] | None = None
    named: bool = False

    def apply_to(self, objects: Objects) -> Objects:
        changed = copy.deepcopy(objects)
        matches = [
            (role, r)
            for role in changed
            if role["kind"] == self.kind
            for r in role["rules"]
            if set(self.resources) <= set(r.get("resources", ()))
            and bool(r.get("resourceNames")) == self.named
        ]
        assert len(matches) == 1, f"no single rule {self} in the shipped {self.kind}s"
        role, rule = matches[0]
        # The rule may name more resources than these: those keep all their verbs.
        others = [res for res in rule["resources"] if res not in self.resources]
        role["rules"].remove(rule)
        if others:
            role["rules"].append({**rule, "resources": others})
        if self.verbs is not None:
            assert set(self.verbs) <= set(rule["verbs"]), f"{self.verbs} not in {rule}"
            verbs = [v for v in rule["verbs"] if v not in self.verbs]
            role["rules"].append({**rule, "resources": list(self.resources), "verbs": verbs})
        return changed

    def denied(self) -> frozenset[Perm]:
        """The NEEDED permissions this drop takes away."""
        out = set()
        for perm in NEEDED:
            res = perm.resource + (f"/{perm.subresource}" if perm.subresource else "")
            if res not in self.resources or bool(perm.name) != self.named:
                continue
            if self.kind == "Role" and not perm.namespace:
                continue
            if self.verbs is None or perm.verb in self.verbs:
                out.add(perm)
        assert out, f"{self} takes nothing away"
        return frozenset(out)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rbac(cluster: Cluster) -> Iterator[Objects]:
    """The shipped RBAC and admission policies applied for real; removed afterwards."""
    with installed(cluster, BASE) as objects:
        wait_grants(cluster)
        yield objects


@pytest.fixture(scope="module")
def sa_kubeconfig(
    cluster: Cluster, rbac: Objects, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A TokenRequest token of the shipped ServiceAccount, in a kubeconfig."""
    return service_account_kubeconfig(cluster, tmp_path_factory.mktemp("sa"))


@pytest.fixture
def restore(cluster: Cluster, rbac: Objects) -> Iterator[Objects]:
    """Shipped RBAC at the start and at the end of the test."""
    kubectl_apply(cluster, rbac)
    wait_grants(cluster)
    yield rbac
    kubectl_apply(cluster, rbac)


# --------------------------------------------------------------------------- scenario


def cordon(cluster: Cluster, node: str, on: bool = True) -> None:
    cluster.api.merge_patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": on}})


@dataclass(frozen=True)
class Setup:
    nodes: list[str]  # nodes[0] is cordoned
    pods: dict[str, str]  # node -> pod bound there
    factory: NodeFactory
    label: dict[str, str]

    @property
    def leaving_pod(self) -> str:
        return self.pods[self.nodes[0]]


def target_with_two_pods(
    cluster: Cluster, namespace: str, nodes: NodeFactory, *, cordoned: bool = True
) -> Setup:
    """Two nodes of this test only, a target with one pod bound to each, then (`cordoned`)
    the first node cordoned: the service's first reconcile is a scale-down 2 -> 1 that
    must steer (pod-deletion-cost on the pod of the cordoned node), write the scale and
    emit an Event."""
    label = {"nodecount-test": namespace}
    names = nodes.add_many(2, labels=label)
    obj = nginx_everywhere(namespace)
    obj["spec"]["replicas"] = 2
    obj["spec"]["template"]["spec"]["nodeSelector"] = label
    apply(cluster, obj)
    wait_until(
        lambda: (
            sorted(p["spec"].get("nodeName", "") for p in pods(cluster, namespace, APP))
            == sorted(names)
        ),
        timeout=30,
        describe="one pod bound to each node",
    )
    if cordoned:
        cordon(cluster, names[0])
    bound = {p["spec"]["nodeName"]: p["metadata"]["name"] for p in pods(cluster, namespace, APP)}
    return Setup(names, bound, nodes, label)


def start(scalers: ScalerFactory, kubeconfig: Path, namespace: str) -> ScalerProcess:
    return scalers.start(
        "--namespace", namespace, *FAST_ELECTION, kubeconfig=kubeconfig, wait_ready=False
    )


def steered(scaler: ScalerProcess) -> list[tuple[str, str]]:
    """(pod, cost) of each successful pod-deletion-cost patch, from the log."""
    return [(line["pod"], line["cost"]) for line in scaler.log_events("set pod-deletion-cost")]


def our_events(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, namespace) if e.get("reportingComponent") == SA]


def error_line(scaler: ScalerProcess, event: str, **fields: str) -> dict[str, Any]:
    """Wait for an error-level log line `event` with `fields`; return it."""

    def find() -> dict[str, Any] | None:
        scaler.assert_alive()
        for line in scaler.log_events(event):
            if line.get("level") == "error" and all(line.get(k) == v for k, v in fields.items()):
                return line
        return None

    found: dict[str, Any] = wait_until(find, timeout=20, describe=f"error log {event!r} {fields}")
    return found


def replica_writes(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """Audited patches and updates of the target and its scale subresource."""
    return [
        e
        for e in cluster.audit_events(namespace=namespace, name=APP)
        if e["verb"] in ("patch", "update")
    ]


def lease(cluster: Cluster) -> dict[str, Any] | None:
    found: dict[str, Any] | None = cluster.api.get_or_none(
        f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{LEASE}"
    )
    return found


def leader_metric(scaler: ScalerProcess) -> float | None:
    """leader_election_master_status{name="nodecount-scaler"}."""
    return scaler.metric("leader_election_master_status", name=LEASE)


def became_leader(scaler: ScalerProcess) -> bool:
    return bool(scaler.log_events("became leader"))


# --------------------------------------------------------------------------- tests


def test_shipped_rbac_grants_exactly_what_is_used(cluster: Cluster, restore: Objects) -> None:
    assert [str(p) for p in NEEDED if not allowed(cluster, p)] == []
    assert [str(p) for p in NOT_GRANTED if allowed(cluster, p)] == []
    for obj in restore:
        for rule in obj.get("rules", []):
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), f"wildcard in {obj['kind']}: {rule}"


def test_shipped_rbac_does_the_whole_job(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    restore: Objects,
    sa_kubeconfig: Path,
) -> None:
    setup = target_with_two_pods(cluster, namespace, nodes, cordoned=False)
    names = setup.nodes
    scaler = start(scalers, sa_kubeconfig, namespace)
    scaler.wait_ready(30)

    # Lease acquired by this identity.
    wait_until(lambda: scaler.status()["leading"], timeout=15, describe="leading")
    identity = scaler.status()["identity"]
    held = lease(cluster)
    assert held is not None
    assert held["spec"]["holderIdentity"] == identity
    assert leader_metric(scaler) == 1.0

    # Scale-down on a cordon: steered from one list of the target's pods (the start of its
    # pod cache), written, reported.
    wait_until(lambda: scaler.target(namespace, APP), timeout=10, describe="target known")
    assert replicas(cluster, namespace, APP) == 2
    assert [line for line in scaler.log_events("listed") if line["resource"] == "pods"] == []
    cordon(cluster, names[0])
    wait_until(lambda: replicas(cluster, namespace, APP) == 1, timeout=20, describe="2 -> 1")
    assert steered(scaler) == [(setup.leaving_pod, "-1000")]
    [listed] = [line for line in scaler.log_events("listed") if line["resource"] == "pods"]
    assert listed["count"] == 2
    # The ReplicaSet removed the pod of the cordoned node (lowest deletion cost).
    wait_until(
        lambda: [p["spec"]["nodeName"] for p in pods(cluster, namespace, APP)] == [names[1]],
        timeout=20,
        describe="only the pod on the schedulable node left",
    )
    down = scaler.wait_log("rescaled", 1)[0]
    assert (down["from"], down["to"]) == (2, 1)
    wait_until(
        lambda: any(e["reason"] == "Rescaled" for e in our_events(cluster, namespace)),
        timeout=10,
        describe="a Rescaled Event",
    )
    assert all(e.get("reportingInstance") == identity for e in our_events(cluster, namespace))

    # Scale-up on a node add.
    nodes.add(labels={"nodecount-test": namespace})
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=20, describe="1 -> 2")
    up = scaler.wait_log("rescaled", 2)[1]
    assert (up["from"], up["to"]) == (1, 2)

    # Every replica write came from the ServiceAccount, as a patch of the Deployment
    # itself (never /scale), and the admission policies let it through.
    writes = [e for e in replica_writes(cluster, namespace) if e["user"]["username"] == USER]
    assert [(e["objectRef"].get("subresource"), e["responseStatus"]["code"]) for e in writes] == [
        (None, 200),
        (None, 200),
    ]
    errors = [line for line in scaler.logs() if line.get("level") == "error"]
    assert errors == []


# --------------------------------------------------------------------------- one rule less


@dataclass(frozen=True)
class Case:
    drop: Drop
    check: Callable[[Cluster, str, Setup, ScalerProcess], None]
    lease_before: str = "any"  # "absent": delete the Lease first; "present": make sure it exists


def expect_unready(resource: str) -> Callable[[Cluster, str, Setup, ScalerProcess], None]:
    """A watch that cannot list: /readyz never 200, the log names the collection, nothing
    is written."""

    def check(cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess) -> None:
        name = resource.format(ns=namespace)
        seen: list[int | None] = []
        deadline: float | None = None
        started = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            assert time.monotonic() - started < 30, f"no forbidden log for {name}: {seen[-5:]}"
            scaler.assert_alive()
            seen.append(scaler.probe("/readyz"))
            if deadline is None and any(
                line.get("resource") == name and line.get("level") == "error"
                for line in scaler.log_events("list/watch failed")
            ):
                deadline = time.monotonic() + SETTLE
            time.sleep(0.1)
        line = error_line(scaler, "list/watch failed", resource=name)
        kind = name.partition("/")[0]
        assert line["hint"] == f"the service account needs list and watch on {kind}"
        assert "403" in line["error"]
        assert 200 not in seen, "/readyz answered 200 without the watch"
        assert 503 in seen
        assert replicas(cluster, namespace, APP) == 2
        assert scaler.log_events("rescaled") == []

    return check


def expect_unready_after_list(
    cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess
) -> None:
    """List allowed, watch forbidden: the error names nodes, /readyz turns 503, and node
    changes are no longer followed. (The one initial list is acted on: the leader's work
    starts once every cache has been listed, whatever the watches do next.)"""
    line = error_line(scaler, "list/watch failed", resource="nodes")
    assert line["hint"] == "the service account needs list and watch on nodes"
    assert "403" in line["error"]
    wait_until(lambda: scaler.probe("/readyz") == 503, timeout=5, describe="/readyz 503")
    wait_until(lambda: became_leader(scaler), timeout=10, describe="leading")
    # The initial reconcile, from the listed snapshot (its write waits for the new target
    # to settle: model/state.py NEW_TARGET_SETTLE).
    wait_until(
        lambda: (s := scaler.target(namespace, APP)) is not None and s["current"] == s["desired"],
        timeout=10,
        describe="the initial reconcile written",
    )
    before = replicas(cluster, namespace, APP)
    setup.factory.add(labels=setup.label)
    time.sleep(SETTLE * 2)
    assert replicas(cluster, namespace, APP) == before, "a node add was seen without a watch"
    assert scaler.probe("/readyz") == 503
    assert len(scaler.log_events("list/watch failed")) >= 2


def expect_scale_forbidden(
    cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess
) -> None:
    line = error_line(scaler, "scale write failed")
    assert line["hint"] == "the service account needs patch on deployments"
    assert (line["from"], line["to"]) == (2, 1)
    time.sleep(SETTLE)
    assert replicas(cluster, namespace, APP) == 2
    assert scaler.log_events("rescaled") == []
    writes = [e for e in replica_writes(cluster, namespace) if e["user"]["username"] == USER]
    assert writes, "no replica write reached the API server"
    assert {(e["responseStatus"]["code"]) for e in writes} == {403}
    assert our_events(cluster, namespace) == []


def expect_steer_failed(
    event: str, hint: str
) -> Callable[[Cluster, str, Setup, ScalerProcess], None]:
    """Scale-down still happens; the steering error is logged; no pod got a cost."""

    def check(cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess) -> None:
        line = error_line(scaler, event)
        assert line["hint"] == hint
        wait_until(lambda: replicas(cluster, namespace, APP) == 1, timeout=20, describe="2 -> 1")
        # wait_log: the line can trail the write the test has just seen.
        assert [(r["from"], r["to"]) for r in scaler.wait_log("rescaled", 1)] == [(2, 1)]
        assert steered(scaler) == []
        assert DELETION_COST not in json.dumps(pods(cluster, namespace, APP))

    return check


def expect_pod_watch_forbidden(
    cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess
) -> None:
    """List allowed, watch forbidden: the scale-down is still steered from the pod cache's
    first list; the watch's 403 is logged naming pods (later scale-downs list again)."""
    line = error_line(scaler, "list/watch failed", resource="pods")
    assert line["hint"] == "the service account needs list and watch on pods"
    assert "403" in line["error"]
    wait_until(lambda: replicas(cluster, namespace, APP) == 1, timeout=20, describe="2 -> 1")
    assert steered(scaler) == [(setup.leaving_pod, "-1000")]


def expect_no_events(cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess) -> None:
    """Scaling and steering still work; the Event is not there and the log says why."""
    line = error_line(scaler, "could not emit event", reason="Rescaled")
    assert line["hint"] == "the service account needs create on events"
    assert replicas(cluster, namespace, APP) == 1
    assert [(r["from"], r["to"]) for r in scaler.wait_log("rescaled", 1)] == [(2, 1)]
    assert steered(scaler) == [(setup.leaving_pod, "-1000")]
    time.sleep(SETTLE)
    assert our_events(cluster, namespace) == []


def expect_never_leads(
    cluster: Cluster, namespace: str, setup: Setup, scaler: ScalerProcess
) -> None:
    """No Lease rights: an error naming leases, never leading, nothing written."""

    def forbidden() -> dict[str, Any] | None:
        scaler.assert_alive()
        for line in scaler.logs():
            text = f"{line.get('event', '')} {line.get('hint') or ''}"
            if line.get("level") == "error" and "leases" in text and "forbidden" in text:
                return line
        return None

    line = wait_until(forbidden, timeout=20, describe="an error log about the Lease")
    # Cached informers must be up: the only thing missing is leadership.
    scaler.wait_ready(15)
    time.sleep(SETTLE)
    assert not became_leader(scaler), line
    status = scaler.status()
    assert status["leading"] is False
    assert leader_metric(scaler) == 0.0
    assert replicas(cluster, namespace, APP) == 2
    assert scaler.log_events("rescaled") == []
    held = lease(cluster)
    assert held is None or held["spec"].get("holderIdentity") != status["identity"]


CR = "ClusterRole"
CASES = {
    "nodes": Case(Drop(CR, ("nodes",)), expect_unready("nodes")),
    "nodes-watch": Case(Drop(CR, ("nodes",), ("watch",)), expect_unready_after_list),
    "deployments": Case(Drop(CR, ("deployments",)), expect_unready("deployments/{ns}")),
    "deployments-patch": Case(Drop(CR, ("deployments",), ("patch",)), expect_scale_forbidden),
    # The pod cache's first LIST (what a scale-down reads pods from) is refused.
    "pods": Case(
        Drop(CR, ("pods",)),
        expect_steer_failed(
            "could not list pods to steer the scale-down", "the service account needs list on pods"
        ),
    ),
    "pods-watch": Case(Drop(CR, ("pods",), ("watch",)), expect_pod_watch_forbidden),
    "pods-patch": Case(
        Drop(CR, ("pods",), ("patch",)),
        expect_steer_failed(
            "could not set pod-deletion-cost", "the service account needs patch on pods"
        ),
    ),
    "hpas": Case(
        Drop(CR, ("horizontalpodautoscalers",)),
        expect_unready("horizontalpodautoscalers/{ns}"),
    ),
    "events": Case(Drop(CR, ("events",)), expect_no_events),
    "leases-create": Case(Drop("Role", ("leases",)), expect_never_leads, lease_before="absent"),
    "leases-get-update": Case(
        Drop("Role", ("leases",), named=True), expect_never_leads, lease_before="present"
    ),
    "leases-update": Case(
        Drop("Role", ("leases",), ("update",), named=True),
        expect_never_leads,
        lease_before="present",
    ),
}


def prepare_lease(cluster: Cluster, want: str) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
    if want == "absent":
        cluster.api.delete(f"{path}/{LEASE}")
        wait_until(lambda: lease(cluster) is None, timeout=10, describe="Lease deleted")
    elif want == "present" and lease(cluster) is None:
        cluster.api.post(
            path,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE, "namespace": NS},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 1},
            },
        )


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_without_rule_fails_loudly(
    case: Case,
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    restore: Objects,
    sa_kubeconfig: Path,
) -> None:
    setup = target_with_two_pods(cluster, namespace, nodes)
    kubectl_apply(cluster, case.drop.apply_to(restore))
    wait_grants(cluster, denied=case.drop.denied())
    prepare_lease(cluster, case.lease_before)
    scaler = start(scalers, sa_kubeconfig, namespace)
    case.check(cluster, namespace, setup, scaler)
