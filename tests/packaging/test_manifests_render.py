"""The kustomize base in manifests/ and the sample targets in manifests/examples/.

Rendered with `kubectl kustomize` (hence the packaging tier) and checked as data; apiserver
validation is left to the integration tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from nodecount_scaler import __version__
from testkit.workloads import EXAMPLES
from tests.manifests import BASE, BASE_KINDS, NAMESPACE, Obj, one, render

NAME = "nodecount-scaler"
HOSTNAME = "kubernetes.io/hostname"
CA_DAEMONSET_POD = "cluster-autoscaler.kubernetes.io/daemonset-pod"
AUTH_READER = "nodecount-scaler-authentication-reader"
AUTH_DELEGATOR = "nodecount-scaler-auth-delegator"
METRICS_READER = "nodecount-scaler-metrics-reader"
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return render(BASE)


@pytest.fixture(scope="module")
def examples() -> list[Obj]:
    return render(EXAMPLES)


@pytest.fixture(scope="module")
def pod(base: list[Obj]) -> Obj:
    spec: Obj = one(base, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: Obj) -> Obj:
    assert len(pod["containers"]) == 1
    c: Obj = pod["containers"][0]
    return c


# ---- the base as a whole ----


def test_base_holds_exactly_the_service_objects(base: list[Obj]) -> None:
    """Namespace, identity, RBAC, admission policies, workload, PDB, metrics Service; no
    example targets."""
    assert sorted(d["kind"] for d in base) == sorted(BASE_KINDS)
    assert one(base, "Namespace")["metadata"]["name"] == NAMESPACE


def test_namespaced_objects_land_in_the_service_namespace(base: list[Obj]) -> None:
    """Everything but the cluster-scoped objects (Namespace, ClusterRoles and their
    bindings, admission policies and their bindings) and the binding to the authentication
    reader Role (which lives in kube-system) is in nodecount-scaler."""
    cluster_scoped = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for doc in base:
        if doc["kind"] in cluster_scoped:
            continue
        expected = "kube-system" if doc["metadata"]["name"] == AUTH_READER else NAMESPACE
        assert doc["metadata"]["namespace"] == expected, doc["kind"]


def test_every_object_carries_the_common_label(base: list[Obj]) -> None:
    """app.kubernetes.io/name=nodecount-scaler on every object and on the pods."""
    for doc in base:
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == NAME, doc["kind"]


def test_image_defaults_to_the_release_and_is_settable(tmp_path: Path) -> None:
    """The kustomize `images:` transformer of an overlay replaces name and tag."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize accepts only relative paths to another kustomization.
                "resources": [os.path.relpath(BASE, tmp_path)],
                "images": [
                    {"name": NAME, "newName": "registry.example/nodecount-scaler", "newTag": "9.9"}
                ],
            }
        )
    )
    (default,) = one(render(BASE), "Deployment")["spec"]["template"]["spec"]["containers"]
    (overridden,) = one(render(tmp_path), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert default["image"] == f"nodecount-scaler:{__version__}"
    assert overridden["image"] == "registry.example/nodecount-scaler:9.9"


# ---- the Deployment ----


def test_two_replicas_with_leader_election(base: list[Obj], container: Obj) -> None:
    """Two instances; only the Lease holder writes."""
    assert one(base, "Deployment")["spec"]["replicas"] == 2
    assert container["args"] == ["run", "--leader-elect"]


def test_identity_and_lease_namespace_from_the_downward_api(container: Obj) -> None:
    """POD_NAME is the Lease holder identity; the Lease lives in the pod's own namespace."""
    env = {e["name"]: e for e in container["env"]}
    field_refs = {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "NODECOUNT_SCALER_LEADER_ELECTION_NAMESPACE": "metadata.namespace",
    }
    for name, path in field_refs.items():
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == path
    assert env["NODECOUNT_SCALER_LOG_FORMAT"]["value"] == "json"


def test_pod_identity_and_shutdown(pod: Obj) -> None:
    """Runs as its service account with a token, short grace period, no priority class."""
    assert pod["serviceAccountName"] == NAME
    assert pod["automountServiceAccountToken"] is True
    assert pod["terminationGracePeriodSeconds"] == 10
    assert "priorityClassName" not in pod


def test_pod_security_context(pod: Obj) -> None:
    """Non-root 65532 with the runtime's default seccomp profile."""
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_container_security_context(container: Obj) -> None:
    """No privilege escalation, read-only root, no capabilities."""
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_tmp_is_the_only_writable_path(pod: Obj, container: Obj) -> None:
    """An emptyDir at /tmp makes up for the read-only root filesystem."""
    mounts = container["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/tmp"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[0]["name"]]


def test_ports_and_probes(container: Obj) -> None:
    """Probes on 8081 'probes' (plain, for the kubelet); /metrics, /status on 8443 'metrics'."""
    assert container["ports"] == [
        {"name": "probes", "containerPort": 8081, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8443, "protocol": "TCP"},
    ]
    liveness = container["livenessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert liveness["periodSeconds"] == 10
    assert liveness["failureThreshold"] == 3
    assert liveness["initialDelaySeconds"] == 5
    readiness = container["readinessProbe"]
    assert readiness["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert readiness["periodSeconds"] == 5
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}


def test_resources_have_no_cpu_limit(container: Obj) -> None:
    """Requests cpu 50m / memory 96Mi; memory limit 256Mi; no CPU limit (no throttling)."""
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "96Mi"},
        "limits": {"memory": "256Mi"},
    }


def test_rollout_and_disruptions_keep_an_instance_up(base: list[Obj]) -> None:
    """Neither a rollout nor a drain can take both instances down at once."""
    spec = one(base, "Deployment")["spec"]
    strategy = spec["strategy"]
    assert strategy["type"] == "RollingUpdate"
    unavailable = strategy["rollingUpdate"]["maxUnavailable"]
    assert isinstance(unavailable, int)
    assert spec["replicas"] - unavailable >= 1
    pdb = one(base, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_instances_prefer_different_nodes(pod: Obj) -> None:
    """Soft spread on hostname: one node failure should not take both, yet never blocks."""
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == HOSTNAME
    assert spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    anti = pod["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    (preferred,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == HOSTNAME


def test_metrics_service(base: list[Obj]) -> None:
    """Port 'metrics' 8443 (HTTPS) to the pods' metrics port, with scrape annotations."""
    service = next(d for d in base if d["kind"] == "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8443, "targetPort": "metrics", "protocol": "TCP"}
    ]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/scheme"] == "https"
    assert annotations["prometheus.io/port"] == "8443"
    assert annotations["prometheus.io/path"] == "/metrics"
    pod_labels = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


# ---- the protected metrics listener ----


def test_metrics_reader_role_grants_get_on_the_two_paths(base: list[Obj]) -> None:
    """Scrapers get exactly `get` on /metrics and /status, no resource."""
    (rule,) = one(base, "ClusterRole", METRICS_READER)["rules"]
    assert rule == {"nonResourceURLs": ["/metrics", "/status"], "verbs": ["get"]}


@pytest.mark.parametrize(
    ("kind", "name", "namespace", "role"),
    [
        ("ClusterRoleBinding", AUTH_DELEGATOR, None, ("ClusterRole", "system:auth-delegator")),
        (
            "RoleBinding",
            AUTH_READER,
            "kube-system",
            ("Role", "extension-apiserver-authentication-reader"),
        ),
    ],
    ids=["reviews", "client-ca"],
)
def test_delegated_auth_uses_the_built_in_roles(
    base: list[Obj], kind: str, name: str, namespace: str | None, role: tuple[str, str]
) -> None:
    """TokenReviews/SubjectAccessReviews via system:auth-delegator; the client CA ConfigMap
    via kube-system's extension-apiserver-authentication-reader."""
    doc = one(base, kind, name)
    assert doc["metadata"].get("namespace") == namespace
    assert (doc["roleRef"]["kind"], doc["roleRef"]["name"]) == role
    assert doc["subjects"] == [SERVICE_ACCOUNT]


def test_network_policy_admits_only_probes_and_monitoring(base: list[Obj]) -> None:
    """Ingress: probes from anywhere, metrics from the monitoring namespace; egress: the API
    server's ports and DNS in kube-system; nothing else."""
    spec = one(base, "NetworkPolicy")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels_of(base).items()
    probes, scrapers = spec["ingress"]
    assert probes == {"ports": [{"port": "probes", "protocol": "TCP"}]}
    assert scrapers["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert scrapers["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    api, dns = spec["egress"]
    assert "to" not in api
    assert {(p["port"], p["protocol"]) for p in api["ports"]} == {(443, "TCP"), (6443, "TCP")}
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert dns["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    ]


def pod_labels_of(base: list[Obj]) -> dict[str, str]:
    labels: dict[str, str] = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


# ---- the examples ----


def test_examples_are_two_opted_in_deployments(examples: list[Obj]) -> None:
    """nginx-everywhere and subset, both opted in, neither setting spec.replicas."""
    assert sorted(d["metadata"]["name"] for d in examples) == ["ingress-proxy", "nginx-everywhere"]
    for doc in examples:
        assert doc["kind"] == "Deployment"
        assert doc["metadata"]["namespace"] == "default"
        assert doc["metadata"]["annotations"]["nodecount-scaler.io/enabled"] == "true"
        # A replicas value in the file would be reset by every `kubectl apply`.
        assert "replicas" not in doc["spec"]


def test_examples_never_block_cluster_autoscaler(examples: list[Obj]) -> None:
    """Their pods are treated like DaemonSet pods by Cluster Autoscaler."""
    for doc in examples:
        assert doc["spec"]["template"]["metadata"]["annotations"][CA_DAEMONSET_POD] == "true"


def test_examples_roll_out_without_surge(examples: list[Obj]) -> None:
    """maxSurge 0: a surge pod has no node when replicas == nodes (kubernetes#116891)."""
    for doc in examples:
        strategy = doc["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_nginx_everywhere_is_one_pod_per_node(examples: list[Obj]) -> None:
    """Required podAntiAffinity on hostname against its own pods."""
    doc = one(examples, "Deployment", "nginx-everywhere")
    pod = doc["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "nginx-everywhere"}
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["topologyKey"] == HOSTNAME
    assert term["labelSelector"]["matchLabels"] == {"app": "nginx-everywhere"}
    (nginx,) = pod["spec"]["containers"]
    assert nginx["image"] == "nginx:1.27"
    assert set(nginx["resources"]["requests"]) == {"cpu", "memory"}


def test_subset_counts_labelled_nodes_and_spreads_hard(examples: list[Obj]) -> None:
    """Node selector and bounds by annotation; hostname spread DoNotSchedule, no anti-affinity."""
    doc = one(examples, "Deployment", "ingress-proxy")
    annotations = doc["metadata"]["annotations"]
    assert annotations["nodecount-scaler.io/node-selector"] == "node-role.example.com/ingress=true"
    assert annotations["nodecount-scaler.io/min-replicas"] == "1"
    assert annotations["nodecount-scaler.io/max-replicas"] == "10"
    pod = doc["spec"]["template"]["spec"]
    assert "affinity" not in pod
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == HOSTNAME
    assert spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"] == {"app": "ingress-proxy"}
