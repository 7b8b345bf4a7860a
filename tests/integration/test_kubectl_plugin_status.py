"""`kubectl nodecount status` against the real API server and the real `nodecount-scaler run`
(leader election on, the metrics listener secure as shipped).

Real here: the Lease lookup and the leader's pod, the caller's credentials loaded from a
kubeconfig (the admin's client certificate; TokenRequest tokens of a user bound and of one
not bound to nodecount-scaler-metrics-reader), HTTPS to the listener, its TokenReview and
SubjectAccessReview (200 and 403), and `kubectl port-forward` itself where it fails (no
pods/portforward permission, a pod that is not running). Not real: a port-forward that
succeeds. kwok's nodes run no pods, so nothing can be forwarded to; the scaler runs as a
local process instead, and the port-forward step is replaced by its metrics address (the
`forward` argument). That kubectl's tunnel carries the bytes is left to kubectl.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster import Cluster
from devcluster.credentials import (
    METRICS_READER_ROLE,
    bind_cluster_role,
    ensure_metrics_reader_role,
    may_get,
    service_account_token,
    token_kubeconfig,
)
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from nodecount_scaler.kubectl_status import Forward, StatusOptions, run_status
from tests.integration.test_kubectl_plugin_plan import kubectl

POD = "nodecount-scaler-5f7c9-x2x5q"  # the leader's POD_NAME (Downward API in a cluster)
LOOKUP = [  # find the leader: read the Lease and the pod
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
]
FORWARD = [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}]
# Each user's rules in the scaler's namespace (a Role) and whether it may read /status.
USERS = {
    "reader": ([*LOOKUP, *FORWARD], True),
    "stranger": ([*LOOKUP, *FORWARD], False),
    "no-forward": (LOOKUP, False),
    "outsider": ([], False),
}


@dataclass
class Setup:
    cluster: Cluster
    namespace: str
    scaler: ScalerProcess
    kubeconfigs: dict[str, Path]

    def status(
        self, user: str, *, output: str = "table", namespace: str | None = None, direct: bool = True
    ) -> tuple[int, str, str]:
        """run_status as `user`; the port-forward replaced by the scaler's address if `direct`."""
        options = StatusOptions(
            kubeconfig=str(self.kubeconfigs[user]),
            namespace=namespace or self.namespace,
            timeout=20,
            output=output,
        )
        out, err = io.StringIO(), io.StringIO()
        code = run_status(options, out, err, self.direct() if direct else None)
        return code, out.getvalue(), err.getvalue()

    def direct(self) -> Forward:
        """The port-forward step, replaced: the leader's pod must be the one the Lease
        names; the address is the local scaler's metrics listener."""
        address = self.scaler.metrics_address

        @asynccontextmanager
        async def forward(pod: str) -> AsyncIterator[str]:
            assert pod == POD
            yield address

        return forward


def grant(cluster: Cluster, namespace: str, user: str, rules: list[dict[str, list[str]]]) -> None:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    cluster.api.post(f"{rbac}/roles", {"metadata": {"name": user}, "rules": rules})
    cluster.api.post(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
            "subjects": [{"kind": "ServiceAccount", "name": user, "namespace": namespace}],
        },
    )


def make_users(cluster: Cluster, namespace: str, tmp: Path) -> dict[str, Path]:
    """A ServiceAccount per user with its Role, the reader bound to the metrics reader role;
    a kubeconfig with each one's TokenRequest token, and the admin's own."""
    kubeconfigs = {"admin": cluster.kubeconfig}
    ensure_metrics_reader_role(cluster.api)
    for user, (rules, reads) in USERS.items():
        account = {"metadata": {"name": user}}
        cluster.api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
        if rules:
            grant(cluster, namespace, user, rules)
        if reads:
            subject = {"kind": "ServiceAccount", "name": user, "namespace": namespace}
            bind_cluster_role(cluster.api, f"{namespace}-{user}", METRICS_READER_ROLE, [subject])
            name = f"system:serviceaccount:{namespace}:{user}"
            allowed = functools.partial(may_get, cluster.api, name, [], "/status")
            wait_until(allowed, 15, describe=f"{name} may get /status")
        token = service_account_token(cluster.api, namespace, user)
        path = tmp / f"{user}.kubeconfig"
        kubeconfigs[user] = token_kubeconfig(cluster.kubeconfig, token, path, user)
    return kubeconfigs


def pod(name: str, node: str | None) -> dict[str, object]:
    """A pod of the scaler's image: placed on a kwok node (kwok reports it Running), or on
    none (Pending for ever)."""
    spec: dict[str, object] = {
        "containers": [{"name": "nodecount-scaler", "image": "nodecount-scaler:0.1.0"}],
    }
    if node is None:
        spec["nodeSelector"] = {"nodecount-test": "nowhere"}
    else:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


def lease_naming(cluster: Cluster, namespace: str, holder: str) -> str:
    """The Lease nodecount-scaler in `namespace`, held by `holder`; its path."""
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    lease = {"metadata": {"name": "nodecount-scaler"}, "spec": {"holderIdentity": holder}}
    cluster.api.post(leases, lease)
    return f"{leases}/nodecount-scaler"


@pytest.fixture(scope="module")
def setup(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("status")
    namespace = cluster.create_namespace("status")
    factory = ScalerFactory(cluster.kubeconfig, tmp)
    nodes = NodeFactory(cluster, "status")
    try:
        kubeconfigs = make_users(cluster, namespace, tmp)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        cluster.api.post(pods, pod(POD, nodes.add()))
        wait_until(
            lambda: cluster.api.get(f"{pods}/{POD}").get("status", {}).get("phase") == "Running",
            30,
            describe="kwok to run the leader's pod",
        )
        scaler = factory.start(
            "--namespace",
            namespace,
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            env={"POD_NAME": POD},
            secure=True,
        )
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/nodecount-scaler"
        wait_until(
            lambda: (cluster.api.get_or_none(lease) or {}).get("spec", {}).get("holderIdentity"),
            30,
            describe="the scaler to take the Lease",
        )
        yield Setup(cluster, namespace, scaler, kubeconfigs)
    finally:
        bad = [(p.log_path, code) for p, code in factory.stop_all() if code not in (0, None)]
        for user, (_, reads) in USERS.items():
            if reads:
                cluster.api.delete(
                    f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{namespace}-{user}"
                )
        cluster.delete_namespace(namespace, wait=False)
        nodes.cleanup()
        assert not bad, f"nodecount-scaler did not exit 0 on SIGTERM: {bad}"


def test_admin_client_certificate_reads_the_leaders_status(setup: Setup) -> None:
    """The admin kubeconfig's client certificate (no token) is accepted; the table names the
    leader found through the Lease; -o json is /status as served."""
    code, out, err = setup.status("admin")
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith(f"leader {POD}_"), out
    assert "caches synced" in first
    code, out, err = setup.status("admin", output="json")
    assert code == 0, err
    body = json.loads(out)
    assert body["leading"] is True
    assert body["identity"].startswith(f"{POD}_")
    assert body["targets"] == []


def test_token_of_a_reader_gets_in_and_of_anyone_else_is_forbidden(setup: Setup) -> None:
    """A TokenRequest token bound to the metrics reader role: 200. The same grants without
    the role: the scaler's 403, with the role to bind."""
    code, out, err = setup.status("reader")
    assert code == 0, err
    assert out.startswith(f"leader {POD}_")
    code, out, err = setup.status("stranger")
    assert code == 1
    user = f"system:serviceaccount:{setup.namespace}:stranger"
    assert f"forbidden (403: Forbidden: {user} may not get it)" in err
    assert f"--clusterrole={METRICS_READER_ROLE}" in err
    assert out == ""


def test_lease_problems_are_named(setup: Setup) -> None:
    """No Lease in the namespace given; a Lease the caller may not read; a Lease without a
    holder; a holder whose pod is gone."""
    cluster = setup.cluster
    code, _, err = setup.status("admin", namespace="kube-public")
    assert code == 1
    assert "no Lease kube-public/nodecount-scaler" in err
    code, _, err = setup.status("outsider")
    assert "cannot read the Lease" in err
    assert "you need get on leases" in err
    other = cluster.create_namespace("status-lease")
    try:
        lease = lease_naming(cluster, other, "")
        code, _, err = setup.status("admin", namespace=other)
        assert "no leader: the Lease" in err
        cluster.api.merge_patch(lease, {"spec": {"holderIdentity": "ghost-6d5f-abcde_0a0b0c"}})
        code, _, err = setup.status("admin", namespace=other)
        assert code == 1
        assert f"the leader's pod {other}/ghost-6d5f-abcde is gone" in err
    finally:
        cluster.delete_namespace(other, wait=False)


def test_real_port_forward_failures(setup: Setup) -> None:
    """kubectl port-forward itself: refused without create on pods/portforward (the leader's
    pod Running on a kwok node), and a leader's pod that is not running."""
    code, _, err = setup.status("no-forward", direct=False)
    assert code == 1
    assert "you need create on pods/portforward" in err
    cluster = setup.cluster
    other = cluster.create_namespace("status-pending")
    try:
        cluster.api.post(f"/api/v1/namespaces/{other}/pods", pod("pending-7c9d-fghij", None))
        lease_naming(cluster, other, "pending-7c9d-fghij_0d0e0f")
        code, _, err = setup.status("admin", namespace=other, direct=False)
        assert code == 1
        assert f"the leader's pod {other}/pending-7c9d-fghij is not running" in err
    finally:
        cluster.delete_namespace(other, wait=False)


def test_through_kubectl(setup: Setup) -> None:
    """`kubectl nodecount status` reaches the plugin with kubectl's flags; one line, exit 1."""
    config = str(setup.kubeconfigs["no-forward"])
    result = kubectl("nodecount", "status", f"-n={setup.namespace}", "--kubeconfig", config)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("kubectl nodecount status: kubectl port-forward to ")
    assert "you need create on pods/portforward" in line
