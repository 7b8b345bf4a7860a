"""The shipped manifests install on a real API server (server-side dry run): the kustomize
base and overlays, and the Helm chart's renders (its ServiceMonitor and PrometheusRule
against the pinned Prometheus Operator's CRDs, installed for real).

`kubectl apply -k manifests/ --dry-run=server` cannot succeed on a cluster where the
namespace `nodecount-scaler` does not exist yet: a dry-run create of the Namespace does not
make it exist for the namespaced objects that follow (NamespaceLifecycle answers 404). That
is kubectl's behaviour, not the manifests'; the test creates the Namespace (and only it)
first, as `kubectl apply -k` itself would on a real install.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from unittest import mock

import pytest
import yaml

from devcluster import Cluster
from devcluster.versions import prometheus_operator_crds_dir
from nodecount_scaler.cli import parse_settings
from testkit.workloads import EXAMPLES
from tests.helm import build_tools
from tests.manifests import (
    BASE,
    BASE_KINDS,
    CHART_EVERY_OPTION,
    NAMESPACE,
    NAMESPACED,
    NO_POD_DELETION_COST,
    Source,
    chart,
    render,
)

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


Objects = list[dict[str, Any]]


def ensure_namespace(cluster: Cluster, objects: Objects, name: str) -> None:
    """Apply the Namespace object of the rendered manifests for real (waits out a namespace
    that another test is deleting)."""
    deadline = time.monotonic() + 60
    while True:
        found = cluster.api.get_or_none(f"/api/v1/namespaces/{name}")
        if found is None or found.get("status", {}).get("phase") != "Terminating":
            break
        assert time.monotonic() < deadline, f"namespace {name} stuck in Terminating"
        time.sleep(0.5)
    namespace = [o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == name]
    assert len(namespace) == 1, f"the manifests have no Namespace {name}"
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace[0]))


def ensure_namespaces(cluster: Cluster, objects: Objects) -> None:
    """The manifests' own Namespaces applied for real; every other namespace they name
    (watched namespaces, a release namespace they do not create) created if missing."""
    own = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    for name in sorted(own):
        ensure_namespace(cluster, objects, name)
    for name in {o["metadata"].get("namespace") for o in objects} - own - {None}:
        if cluster.api.get_or_none(f"/api/v1/namespaces/{name}") is None:
            cluster.kubectl("create", "namespace", name)


@pytest.fixture(scope="module")
def operator_crds(cluster: Cluster) -> None:
    """The pinned Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, installed
    (hack/build-tools.sh fetches them from the operator's Go module)."""
    build_tools()
    crds = sorted(prometheus_operator_crds_dir().glob("*.yaml"))
    assert len(crds) == 2, crds
    for crd in crds:
        # Server-side: the CRDs are too large for the last-applied annotation.
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    names = [f"crd/{yaml.safe_load(c.read_text())['metadata']['name']}" for c in crds]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


def listed(stdout: str) -> set[str]:
    """`kind.group/name` of each line `<resource>/<name> <verb> (server dry run)`."""
    names = set()
    for line in stdout.splitlines():
        assert line.endswith("(server dry run)"), f"unexpected kubectl output line: {line!r}"
        names.add(line.split(" ", 1)[0])
    return names


def expected_names(objects: list[dict[str, Any]]) -> set[str]:
    """What kubectl prints for each object: lower-case kind, then `.group` unless core."""
    names = set()
    for o in objects:
        group = o["apiVersion"].rpartition("/")[0]
        kind = o["kind"].lower() + (f".{group}" if group else "")
        names.add(f"{kind}/{o['metadata']['name']}")
    return names


def server_dry_run(cluster: Cluster, objects: Objects) -> tuple[str, Objects]:
    """Dry-run apply with strict server-side field validation; return kubectl's listing and
    the objects as the server would have stored them."""
    manifest = yaml.safe_dump_all(objects)
    plain = cluster.kubectl(
        "apply", "-f", "-", "--dry-run=server", "--validate=strict", input=manifest, check=False
    )
    assert plain.returncode == 0, f"server dry run rejected:\n{plain.stderr}"
    # Admission warnings (e.g. Pod Security "would violate") and unknown-field warnings.
    assert plain.stderr.strip() == "", f"warnings from the server:\n{plain.stderr}"
    as_json = cluster.kubectl(
        "apply", "-f", "-", "--dry-run=server", "--validate=strict", "-o", "json", input=manifest
    )
    body = json.loads(as_json.stdout)
    items: Objects = body["items"] if body.get("kind") == "List" else [body]
    return plain.stdout, items


def by_kind(items: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [i for i in items if i["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


@pytest.mark.parametrize("source", [BASE, chart()], ids=["kustomize", "chart"])
def test_base_accepted_by_apiserver(cluster: Cluster, source: Source) -> None:
    objects = render(source)
    assert sorted(o["kind"] for o in objects) == sorted(BASE_KINDS)
    ensure_namespace(cluster, objects, NAMESPACE)

    stdout, stored = server_dry_run(cluster, objects)
    assert listed(stdout) == expected_names(objects)

    # Fields an API server drops silently when a feature gate is off must survive.
    deployment = by_kind(stored, "Deployment")
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["matchLabelKeys"] == ["pod-template-hash"]
    assert by_kind(stored, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == (
        "AlwaysAllow"
    )


VARIANTS = {
    "namespaced": NAMESPACED,
    "no-pod-deletion-cost": NO_POD_DELETION_COST,
    "chart-namespaced": chart(namespaces=["team-a", "team-b"]),
    "chart-no-pod-deletion-cost": chart(podDeletionCost=False),
    # Another release namespace (the policies name its account), the operator's objects.
    "chart-every-option": chart(release_namespace="ncs-every-option", **CHART_EVERY_OPTION),
}


@pytest.mark.parametrize("source", VARIANTS.values(), ids=list(VARIANTS))
@pytest.mark.usefixtures("operator_crds")
def test_variant_accepted_by_apiserver(cluster: Cluster, source: Source) -> None:
    """Each overlay of the base and each chart variant installs as rendered (the
    namespaces it names exist first)."""
    objects = render(source)
    ensure_namespaces(cluster, objects)
    stdout, _ = server_dry_run(cluster, objects)
    assert listed(stdout) == expected_names(objects)


def test_base_pod_admitted_under_restricted_pod_security(cluster: Cluster) -> None:
    """The namespace enforces the "restricted" Pod Security Standard; a Deployment only
    gets a warning, a Pod is rejected. Dry-run the Deployment's pod template as a Pod."""
    objects = render(BASE)
    ensure_namespace(cluster, objects, NAMESPACE)
    template = by_kind(objects, "Deployment")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pss-probe", "namespace": NAMESPACE, **template["metadata"]},
        # The ServiceAccount admission plugin needs the account to exist; Pod Security does
        # not look at it.
        "spec": {**template["spec"], "serviceAccountName": "default"},
    }
    result = cluster.kubectl(
        "create", "-f", "-", "--dry-run=server", input=json.dumps(pod), check=False
    )
    assert result.returncode == 0, f"pod template rejected:\n{result.stderr}"
    assert result.stderr.strip() == "", result.stderr


def test_base_deployment_consistent_with_cli_and_rbac(cluster: Cluster) -> None:
    """The container's args and env parse with the real CLI and name the Lease, namespace
    and ports that the Role, the Service and the probes expect."""
    objects = render(BASE)
    deployment = by_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # What the Downward API would put into the fieldRef variables.
    downward = {"metadata.name": "nodecount-scaler-7d4b9-x2x5q", "metadata.namespace": NAMESPACE}
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            env[var["name"]] = downward[var["valueFrom"]["fieldRef"]["fieldPath"]]
    with mock.patch.dict(os.environ, env, clear=True):
        command, settings = parse_settings(container["args"])
    assert command == "run"
    assert settings.leader_elect
    assert settings.leader_election_namespace == NAMESPACE
    assert settings.log_format == "json"

    role = by_kind(objects, "Role")
    assert role["metadata"]["namespace"] == settings.leader_election_namespace
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert [settings.leader_election_id] == [n for r in named for n in r["resourceNames"]]

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["probes"] == int(settings.health_addr.rpartition(":")[2])
    assert ports["metrics"] == int(settings.metrics_addr.rpartition(":")[2])
    assert settings.metrics_secure
    service = by_kind(objects, "Service")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"]
        == by_kind(objects, "ServiceAccount")["metadata"]["name"]
    )


def test_examples_accepted_by_apiserver(cluster: Cluster) -> None:
    objects = render(EXAMPLES)
    assert {o["kind"] for o in objects} == {"Deployment"}
    namespaces = {o["metadata"].get("namespace", "default") for o in objects}
    for name in namespaces:
        if cluster.api.get_or_none(f"/api/v1/namespaces/{name}") is None:
            cluster.kubectl("create", "namespace", name)
    stdout, stored = server_dry_run(cluster, objects)
    assert listed(stdout) == expected_names(objects)
    for deployment in stored:
        annotations = deployment["metadata"]["annotations"]
        assert annotations["nodecount-scaler.io/enabled"] == "true"
        # The service owns spec.replicas; the manifests leave it to the API default.
        assert (
            "replicas"
            not in next(
                o for o in objects if o["metadata"]["name"] == deployment["metadata"]["name"]
            )["spec"]
        )
