"""The protected metrics listener against the real API server: the service runs with the
shipped RBAC (its ServiceAccount's token), serves /metrics and /status over HTTPS, and lets
in exactly the callers RBAC allows, by bearer token (TokenReview) or by a client
certificate of the cluster's CA (read from kube-system/extension-apiserver-authentication):
no credential 401, no permission 403, the shipped metrics-reader ClusterRole 200. The
NetworkPolicy passes the API server's validation (a dry run: the local control plane has no
network plugin to enforce it)."""

from __future__ import annotations

import copy
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devcluster import Cluster
from devcluster.credentials import (
    bind_cluster_role,
    may_get,
    service_account_token,
    token_kubeconfig,
)
from devcluster.pki import client_cert
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from tests.manifests import BASE, render

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


NS = "nodecount-scaler"
SA = "nodecount-scaler"
READER_ROLE = "nodecount-scaler-metrics-reader"
RBAC_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role"}
RBAC_KINDS |= {"RoleBinding"}
PATHS = ("/metrics", "/status")


@dataclass(frozen=True)
class Caller:
    token: str | None = None
    cert: tuple[Path, Path] | None = None


@dataclass
class Secured:
    cluster: Cluster
    scaler: ScalerProcess
    callers: dict[str, Caller]

    def get(self, path: str, caller: Caller) -> int:
        context = ssl.create_default_context()
        # The certificate is self-signed: as `curl -k` through a port-forward.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if caller.cert is not None:
            context.load_cert_chain(*caller.cert)
        request = urllib.request.Request(self.scaler.metrics_url + path)
        if caller.token:
            request.add_header("Authorization", f"Bearer {caller.token}")
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code


def bind_reader(cluster: Cluster, name: str, subject: dict[str, str]) -> None:
    bind_cluster_role(cluster.api, name, READER_ROLE, [subject])


def make_callers(cluster: Cluster, namespace: str, tmp: Path) -> dict[str, Caller]:
    """Two ServiceAccounts and two certificate users; the "reader" ones bound to the role."""
    ca = (cluster.workdir / "pki" / "ca.crt", cluster.workdir / "pki" / "ca.key")
    for name in ("reader", "stranger"):
        cluster.api.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}}
        )
    reader_sa = {"kind": "ServiceAccount", "name": "reader", "namespace": namespace}
    bind_reader(cluster, f"{namespace}-sa-reader", reader_sa)
    cert_user = f"{namespace}-cert-reader"
    bind_reader(cluster, cert_user, {"kind": "User", "name": cert_user})
    sa_user = f"system:serviceaccount:{namespace}:reader"
    for path in PATHS:
        wait_until(lambda: may_get(cluster.api, sa_user, [], path), 15, describe="RBAC")  # noqa: B023
        wait_until(lambda: may_get(cluster.api, cert_user, [], path), 15, describe="RBAC")  # noqa: B023
    return {
        "anonymous": Caller(),
        "bogus-token": Caller(token="not-a-token"),
        "sa-stranger": Caller(token=service_account_token(cluster.api, namespace, "stranger")),
        "sa-reader": Caller(token=service_account_token(cluster.api, namespace, "reader")),
        "cert-stranger": Caller(cert=client_cert(ca, tmp, f"{namespace}-cert-stranger")),
        "cert-reader": Caller(cert=client_cert(ca, tmp, cert_user, ["team"])),
        "cert-admin": Caller(
            cert=(cluster.workdir / "pki/admin.crt", cluster.workdir / "pki/admin.key")
        ),
    }


@pytest.fixture(scope="module")
def secured(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("secure")
    shipped = [d for d in render(BASE) if d["kind"] in RBAC_KINDS]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(shipped))
    namespace = cluster.create_namespace("secure")
    token = service_account_token(cluster.api, NS, SA)
    kubeconfig = token_kubeconfig(cluster.kubeconfig, token, tmp / "kubeconfig", SA)
    factory = ScalerFactory(cluster.kubeconfig, tmp)
    try:
        callers = make_callers(cluster, namespace, tmp)
        scaler = factory.start("--namespace", namespace, kubeconfig=kubeconfig, secure=True)
        yield Secured(cluster, scaler, callers)
    finally:
        bad = [(p.log_path, code) for p, code in factory.stop_all() if code not in (0, None)]
        for name in (f"{namespace}-sa-reader", f"{namespace}-cert-reader"):
            cluster.api.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
        cluster.delete_namespace(namespace, wait=False)
        assert not bad, f"nodecount-scaler did not exit 0 on SIGTERM: {bad}"


EXPECTED = {
    "anonymous": 401,
    "bogus-token": 401,
    "sa-stranger": 403,
    "sa-reader": 200,
    "cert-stranger": 403,
    "cert-reader": 200,
    "cert-admin": 200,
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("caller", list(EXPECTED))
def test_only_callers_with_the_role_get_in(secured: Secured, caller: str, path: str) -> None:
    """401 without a valid credential, 403 without RBAC on the path, 200 with it."""
    assert secured.get(path, secured.callers[caller]) == EXPECTED[caller]


def test_the_shipped_rbac_is_enough_to_check_callers(secured: Secured) -> None:
    """With its ServiceAccount's RBAC the service read the client CA and sent reviews."""
    scaler = secured.scaler
    assert scaler.log_events("client CA loaded; client certificates are accepted")
    assert not scaler.log_events("cannot read the cluster's client CA")
    assert not scaler.log_events("authentication review failed")
    assert secured.get("/status", secured.callers["sa-reader"]) == 200


def test_probes_stay_plain_and_open(secured: Secured) -> None:
    """The kubelet needs no credential: /healthz, /livez, /readyz answer 200 in plain HTTP."""
    for path in ("/healthz", "/livez", "/readyz"):
        assert secured.scaler.probe(path) == 200


def test_network_policy_passes_the_api_servers_validation(cluster: Cluster) -> None:
    """Server-side dry run accepts the shipped policy and rejects a broken copy (so the dry
    run really validates). Nothing enforces it here: the control plane has no CNI."""
    base = render(BASE)
    (policy,) = [d for d in base if d["kind"] == "NetworkPolicy"]
    # A dry run of a namespaced object needs its namespace to exist for real.
    (namespace,) = [d for d in base if d["kind"] == "Namespace"]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
    dry = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(policy))
    assert "(server dry run)" in dry.stdout
    broken = copy.deepcopy(policy)
    broken["spec"]["ingress"][1]["ports"][0]["port"] = "Not_A_Port_Name"
    failed = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(broken), check=False
    )
    assert failed.returncode != 0
    assert "Invalid value" in failed.stderr
