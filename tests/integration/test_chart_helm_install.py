"""The Helm commands of README.md and docs/install.md on the real API server: `helm install
-n NS --create-namespace` (the chart's own Namespace merged into the one Helm creates), the
admission policies enforced against that namespace's service account, `helm upgrade`,
`helm uninstall`.

The release goes to a namespace of its own, so its policies name an account no other test
uses. The chart's cluster-scoped objects have fixed names; what other tests left of them
(applied with kubectl, not owned by Helm, which would refuse to adopt them) is removed first.
The Deployment's pods never run (kwok's nodes run no pods); nothing here waits for them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devcluster import Cluster
from tests.helm import helm
from tests.integration.as_service_account import TokenApi, request_token
from tests.integration.shipped import (
    Objects,
    delete_objects,
    kind_of,
    kubectl_apply,
    probe_objects,
    wait_policies_enforced,
)
from tests.manifests import CHART, chart, render

RELEASE = "nodecount-scaler"
NAMESPACE = "ncs-helm"
CLUSTER_SCOPED = {
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def run_helm(cluster: Cluster, *args: str) -> str:
    return helm(*args, "--kubeconfig", str(cluster.kubeconfig)).stdout


@pytest.fixture
def installed(cluster: Cluster) -> Iterator[Objects]:
    objects = render(chart(release_namespace=NAMESPACE))
    leftovers = [o for o in render(chart()) if o["kind"] in CLUSTER_SCOPED]
    leftovers.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": "nodecount-scaler-authentication-reader",
                "namespace": "kube-system",
            },
        }
    )
    delete_objects(cluster, leftovers)
    run_helm(cluster, "install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace")
    try:
        yield objects
    finally:
        helm(
            "uninstall",
            RELEASE,
            "-n",
            NAMESPACE,
            "--kubeconfig",
            str(cluster.kubeconfig),
            check=False,
        )


def test_install_enforce_upgrade_uninstall(cluster: Cluster, installed: Objects) -> None:
    """Every rendered object exists, the Namespace carries the Pod Security labels and Helm's
    ownership, the policies refuse this namespace's account, an upgrade applies a value and
    an uninstall removes the cluster-scoped objects and the namespace."""
    namespace = cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    for obj in installed:
        meta = obj["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        cluster.kubectl("get", kind_of(obj), meta["name"], *where)

    # Probed elsewhere: the release's namespace enforces the restricted Pod Security level,
    # which the probe pod does not meet; the account may write in every namespace.
    elsewhere = cluster.create_namespace("helm-probes")
    try:
        probes = probe_objects(elsewhere)
        kubectl_apply(cluster, probes)
        api = TokenApi(cluster, request_token(cluster, "nodecount-scaler", NAMESPACE))
        wait_policies_enforced(api, elsewhere, installed)
    finally:
        cluster.delete_namespace(elsewhere, wait=False)

    run_helm(cluster, "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
             "--set", "replicas=3")  # fmt: skip
    deployment = cluster.api.get(
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/nodecount-scaler"
    )
    assert deployment["spec"]["replicas"] == 3

    run_helm(cluster, "uninstall", RELEASE, "-n", NAMESPACE)
    # The Namespace was the chart's: it goes too, with everything in it.
    left = cluster.api.get_or_none(f"/api/v1/namespaces/{NAMESPACE}")
    assert left is None or left["status"]["phase"] == "Terminating"
    for obj in installed:
        if obj["kind"] in CLUSTER_SCOPED:
            name = f"{kind_of(obj)}/{obj['metadata']['name']}"
            gone = cluster.kubectl("get", name, "--ignore-not-found")
            assert gone.stdout.strip() == "", f"{name} left after uninstall"
