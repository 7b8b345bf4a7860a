"""The scale benchmark's control plane: quiet kwok heartbeats, an audit log of the scaler's
own requests, the scaler's own identity, and the Nodes and targets of the workload.

- kwok: heartbeats every `HEARTBEAT_SECONDS` (devcluster.stages) and Leases of
  `LEASE_SECONDS` (renewed every quarter of it), with the node lifecycle controller's grace
  as long, so thousands of idle Nodes cost the API server little and stay Ready.
- Without pods, kube-controller-manager runs without the deployment and replicaset
  controllers: no pod exists, and the only writes to a Deployment are the scaler's. The
  TTL controller is off in every run (see bench_control_plane).
- The scaler runs as the ServiceAccount `nodecount-bench/nodecount-scaler` (bound to
  cluster-admin: the benchmark counts requests, it does not test permissions), so the
  audit policy can record exactly its requests (devcluster.audit.requests_policy).
- The API server's watch cache is on, as in production.
"""

from __future__ import annotations

import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.scale_mix import BENCH_LABEL, Profile
from bench.scale_workload import NodeModel, target_body
from devcluster.api import ApiClient, ApiError
from devcluster.audit import requests_policy
from devcluster.build import ensure_binaries
from devcluster.controlplane import ControlPlane
from devcluster.polling import wait_until
from devcluster.stages import slow_heartbeat_stages

HEARTBEAT_SECONDS = 3600
LEASE_SECONDS = 3600
NAMESPACE = "nodecount-bench"
SERVICE_ACCOUNT = "nodecount-scaler"
SCALER_USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
TARGETS_NAMESPACE = "bench"
NOT_READY = "node.kubernetes.io/not-ready"
# etcd's backend quota: 8 GiB (the default 2 GiB is near at 5,000 Nodes with a few hours of
# history between compactions; the API server compacts every 5 minutes).
ETCD_QUOTA = 8 * 2**30
# Controllers with nothing to do in the benchmark that still list, watch and resync what
# they own: off, their CPU is the scaler's and the API server's on 2 cores. The benchmark
# needs nodelifecycle (it lifts a new Node's not-ready taint), namespace and
# serviceaccount (targets' namespaces), and with pods deployment, replicaset, podgc. Only
# controllers every supported release knows: v1.37's kube-controller-manager refuses an
# unknown name (the cloud controllers left it), and it runs none of those without a cloud.
IDLE_CONTROLLERS = tuple(
    f"-{name}-controller"
    for name in (
        "garbage-collector",
        "horizontal-pod-autoscaler",
        "cronjob",
        "job",
        "ttl-after-finished",
        "daemonset",
        "statefulset",
        "disruption",
        "endpoints",
        "endpointslice",
        "endpointslice-mirroring",
        "resourcequota",
        "replicationcontroller",
        "persistentvolume-binder",
        "persistentvolume-attach-detach",
        "ephemeral-volume",
        "persistentvolume-expander",
        "persistentvolumeclaim-protection",
        "persistentvolume-protection",
        "resourceclaim",
        "taint-eviction",
        "validatingadmissionpolicy-status",
        "storage-version-migrator",
        "node-ipam",
    )
)
# The node lifecycle controller's client: its default 20 QPS lifts not-ready taints of new
# Nodes one by one behind a queue shared with every other write it makes.
CONTROLLER_MANAGER_ARGS = ("--kube-api-qps=200", "--kube-api-burst=400")


def bench_control_plane(workdir: Path, *, pods: bool) -> ControlPlane:
    """A ControlPlane set up for the benchmark (not started)."""
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "bench-audit-policy.yaml"
    policy.write_text(requests_policy([SCALER_USER]))
    stages = slow_heartbeat_stages(
        ensure_binaries().parent / "kwok-stages", workdir / "kwok-stages", HEARTBEAT_SECONDS
    )
    # A repeated --controllers appends: "-name" entries switch those controllers off. The
    # TTL controller re-annotates every Node each time the node count crosses one of its
    # size steps (100, 500, 1,000, 2,000): thousands of Node updates, at its 20 a second,
    # for minutes after the Nodes are created. It serves kubelets' caches, which kwok has
    # none of; off, the Node writes in the window are the churn's.
    controllers = "--controllers=*,-ttl-controller," + ",".join(IDLE_CONTROLLERS)
    if not pods:
        controllers += ",-deployment-controller,-replicaset-controller"
        controllers += ",-pod-garbage-collector-controller"
    extra: dict[str, list[str]] = {
        # The last --audit-policy-file wins over the default one ControlPlane writes.
        "kube-apiserver": [f"--audit-policy-file={policy}"],
        "kube-controller-manager": [controllers, *CONTROLLER_MANAGER_ARGS],
        "etcd": [f"--quota-backend-bytes={ETCD_QUOTA}"],
    }
    return ControlPlane(
        workdir / "cluster",
        keep=True,
        stages_dir=stages,
        watch_cache=True,
        node_monitor_grace_period=LEASE_SECONDS,
        start_timeout=180.0,
        extra_args=extra,
    )


def scaler_kubeconfig(plane: ControlPlane, path: Path) -> Path:
    """A kubeconfig for the scaler's ServiceAccount (a bound token valid for a day)."""
    api = plane.api
    _create(api, "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    _create(
        api,
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
        {"metadata": {"name": SERVICE_ACCOUNT}},
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "nodecount-bench"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
    }
    _create(api, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 86400},
    }
    answer = api.post(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token", request
    )
    admin = json.loads(plane.kubeconfig.read_text())
    config = {
        **admin,
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": answer["status"]["token"]}}],
        "contexts": [
            {"name": "bench", "context": {"cluster": "devcluster", "user": SERVICE_ACCOUNT}}
        ],
        "current-context": "bench",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _create(api: ApiClient, path: str, body: dict[str, Any]) -> None:
    try:
        api.post(path, body)
    except ApiError as exc:
        if exc.status != 409:
            raise


def create_nodes(
    plane: ControlPlane, count: int, profile: Profile, threads: int = 4, start: int = 0
) -> dict[str, NodeModel]:
    """`count` Ready kwok Nodes, created by a few threads at once, each without the
    `node.kubernetes.io/not-ready` taint that admission puts on a new Node (the node
    lifecycle controller would lift it only about one Node a second: at thousands of Nodes
    the churn would start while the cluster is still coming up)."""
    version = plane.versions.kubernetes
    models = {f"bn-{i:05d}": NodeModel(profile.node_labels(i)) for i in range(start, start + count)}

    def create(item: tuple[str, NodeModel]) -> None:
        name, model = item
        plane.api.post("/api/v1/nodes", profile.node_body(name, model.labels, version))
        taints = {"spec": {"taints": profile.pool_taints(model.labels)}}
        plane.api.merge_patch(f"/api/v1/nodes/{name}", taints)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, models.items()))
    wait_until(lambda: not_ready_nodes(plane) == 0, 300, interval=2, describe="no not-ready taint")
    return models


def not_ready_nodes(plane: ControlPlane) -> int:
    """Nodes that are not Ready or carry the not-ready taint."""
    count = 0
    for node in _paged(plane, "/api/v1/nodes"):
        conditions = node.get("status", {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        tainted = any(t.get("key") == NOT_READY for t in node["spec"].get("taints") or [])
        count += not ready or tainted
    return count


def target_bodies(count: int, profile: Profile) -> list[dict[str, Any]]:
    if profile.name != "families":
        return [profile.target(t, TARGETS_NAMESPACE) for t in range(count)]
    bodies = [target_body(t, TARGETS_NAMESPACE) for t in range(count)]
    for body in bodies:
        body["metadata"].setdefault("labels", {})[BENCH_LABEL] = "true"
    return bodies


def create_targets(
    plane: ControlPlane, bodies: list[dict[str, Any]], *, threads: int = 4
) -> list[str]:
    """The targets, each namespace created first (its default ServiceAccount awaited: a
    pod needs it)."""
    namespaces = sorted({b["metadata"]["namespace"] for b in bodies})
    for namespace in namespaces:
        _create(plane.api, "/api/v1/namespaces", {"metadata": {"name": namespace}})
    for namespace in namespaces:
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
        wait_until(
            functools.partial(plane.api.get_or_none, path),
            60,
            describe=f"the default ServiceAccount of {namespace}",
        )

    def create(body: dict[str, Any]) -> str:
        namespace = body["metadata"]["namespace"]
        plane.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", body)
        return str(body["metadata"]["name"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(create, bodies))


def _paged(plane: ControlPlane, path: str, query: str = "") -> list[dict[str, Any]]:
    """Every item of a collection, 500 a page (a single LIST of 5,000 Nodes is slow)."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = plane.api.get(f"{path}?limit=500{query}&continue={token}")
        items.extend(page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            return items


def deployments(plane: ControlPlane) -> list[dict[str, Any]]:
    """Every target of the benchmark, in every namespace."""
    return _paged(plane, "/apis/apps/v1/deployments", f"&labelSelector={BENCH_LABEL}%3Dtrue")


def generations(plane: ControlPlane) -> int:
    """The sum of the targets' metadata.generation: it grows by one for every change of
    spec.replicas (nothing else edits a target's spec during the run), and not for a
    write that leaves the value as it is."""
    return sum(int(d["metadata"].get("generation", 0)) for d in deployments(plane))


def pods_settled(plane: ControlPlane) -> bool:
    """Every target's pods are all up to date and available (the pods run only)."""
    for d in deployments(plane):
        want = d["spec"].get("replicas", 0)
        status = d.get("status", {})
        if status.get("availableReplicas", 0) != want or status.get("replicas", 0) != want:
            return False
    return True
