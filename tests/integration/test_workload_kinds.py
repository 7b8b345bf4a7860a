"""Every workload with a scale subresource: a StatefulSet and a ReplicaSet follow node add,
cordon and delete like a Deployment (the StatefulSet's highest-ordinal scale-down is
reported when it strands a pod); a custom resource with /scale named by --workload follows
the count, read where its CustomResourceDefinition's scale subresource says (`.spec.size`,
say) and set back after a hand edit there; one without /scale is reported while a
Deployment in the same run converges; `migrate-cpa` on a CPA whose --target names a
StatefulSet, a ReplicaSet and a ReplicationController prints commands that, run as printed,
get each one scaled."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import Cluster
from devcluster.agents import run_cli
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import events, running_per_node
from testkit.workloads import nginx_everywhere
from tests.integration.shipped import NS, SA, installed, service_account_kubeconfig
from tests.integration.workloads import apply, plan
from tests.manifests import BASE

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


ROOT = Path(__file__).resolve().parents[2]

P = "nodecount-scaler.io/"


def confined(namespace: str, name: str) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, name, **{P + "node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"suite": namespace}
    obj["spec"]["replicas"] = 1
    return obj


def statefulset(namespace: str, name: str) -> dict[str, Any]:
    obj = confined(namespace, name)
    obj["kind"] = "StatefulSet"
    obj["spec"].pop("strategy", None)
    obj["spec"]["serviceName"] = name
    obj["spec"]["podManagementPolicy"] = "Parallel"
    return obj


def replicaset(namespace: str, name: str) -> dict[str, Any]:
    obj = confined(namespace, name)
    obj["kind"] = "ReplicaSet"
    obj["spec"].pop("strategy", None)
    return obj


def replicationcontroller(namespace: str, name: str) -> dict[str, Any]:
    """The core/v1 kind: spec.selector a plain map of labels."""
    obj = confined(namespace, name)
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": obj["metadata"],
        "spec": {
            "replicas": 1,
            "selector": obj["spec"]["selector"]["matchLabels"],
            "template": obj["spec"]["template"],
        },
    }


def replicas_of(
    cluster: Cluster, namespace: str, resource: str, name: str, group: str = "apps/v1"
) -> int:
    api = "/api/v1" if group == "v1" else f"/apis/{group}"  # the core group, or a named one
    path = f"{api}/namespaces/{namespace}/{resource}/{name}"
    return int(cluster.api.get(path)["spec"].get("replicas", 1))


def test_statefulset_and_replicaset_follow_nodes(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    suite = {"suite": namespace}
    names = nodes.add_many(2, labels=suite)
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [statefulset(namespace, "sts"), replicaset(namespace, "rs")],
        },
    )
    scaler = scalers.start("--namespace", namespace)

    def both(count: int) -> bool:
        return (
            replicas_of(cluster, namespace, "statefulsets", "sts") == count
            and replicas_of(cluster, namespace, "replicasets", "rs") == count
        )

    def spread(app: str, count: int) -> bool:
        per_node = running_per_node(cluster, namespace, app)
        return sum(per_node.values()) == count and max(per_node.values(), default=0) == 1

    wait_until(lambda: both(2), timeout=60, describe="2 nodes: 2 replicas each")
    names.append(nodes.add(labels=suite))
    wait_until(lambda: both(3), timeout=60, describe="3 nodes: 3 replicas each")
    wait_until(
        lambda: spread("sts", 3) and spread("rs", 3), timeout=90, describe="one pod per node"
    )

    # Cordon the node of the StatefulSet's lowest ordinal: it goes to 2 and removes sts-2,
    # which sits on a node that still counts; that is reported.
    (lowest,) = [
        p["spec"]["nodeName"]
        for p in cluster.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3Dsts")[
            "items"
        ]
        if p["metadata"]["name"] == "sts-0"
    ]
    rs_before = running_per_node(cluster, namespace, "rs")
    cluster.kubectl("cordon", lowest)
    wait_until(lambda: both(2), timeout=60, describe="cordon: 2 replicas each")
    wait_until(
        lambda: events(cluster, namespace, "ScaleDownByOrdinal"),
        timeout=30,
        describe="a ScaleDownByOrdinal Warning on the StatefulSet",
    )
    # The ReplicaSet honours pod-deletion-cost: its pod on the cordoned node is the one gone.
    wait_until(
        lambda: set(running_per_node(cluster, namespace, "rs")) == set(rs_before) - {lowest},
        timeout=90,
        describe="the ReplicaSet's pod on the cordoned node removed",
    )
    nodes.delete(next(n for n in names if n != lowest))
    wait_until(lambda: both(1), timeout=60, describe="delete: 1 replica each")
    assert {t["kind"] for t in scaler.status()["targets"]} >= {"StatefulSet", "ReplicaSet"}


def test_replication_controller_with_the_shipped_permissions(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> None:
    """--kind ReplicationController, with a TokenRequest token of the shipped service account
    under the shipped RBAC and admission policies (generated from its row of the kind
    table): it follows the nodes, and a cordon removes the pod on the cordoned node."""
    suite = {"suite": namespace}
    with installed(cluster, BASE):
        names = nodes.add_many(3, labels=suite)
        apply(cluster, replicationcontroller(namespace, "rc"))
        kubeconfig = service_account_kubeconfig(cluster, tmp_path)
        scaler = scalers.start(
            "--namespace", namespace, "--kind", "ReplicationController", kubeconfig=kubeconfig
        )

        def rc() -> int:
            return replicas_of(cluster, namespace, "replicationcontrollers", "rc", "v1")

        wait_until(lambda: rc() == 3, timeout=60, describe="3 nodes: 3 replicas")
        wait_until(
            lambda: running_per_node(cluster, namespace, "rc") == dict.fromkeys(names, 1),
            timeout=90,
            describe="one pod per node",
        )
        cluster.kubectl("cordon", names[0])
        wait_until(lambda: rc() == 2, timeout=60, describe="cordon: 2 replicas")
        wait_until(
            lambda: set(running_per_node(cluster, namespace, "rc")) == set(names[1:]),
            timeout=90,
            describe="the pod on the cordoned node removed",
        )
        assert [line["pod"] for line in scaler.log_events("set pod-deletion-cost")]
        assert scaler.log_events("scale write failed") == []
        (status,) = scaler.status()["targets"]
        assert (status["kind"], status["current"], status["desired"]) == (
            "ReplicationController",
            2,
            2,
        )
        assert events(cluster, namespace, "Rescaled"), "the Events policy admits the kind"


def crd(
    group: str, plural: str, *, scale: bool, replicas: str = ".spec.replicas"
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    }
    if scale:
        version["subresources"] = {
            "scale": {
                "specReplicasPath": replicas,
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            }
        }
    kind = plural.capitalize().rstrip("s")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural.rstrip("s"), "kind": kind},
            "versions": [version],
        },
    }


def custom_object(namespace: str, group: str, kind: str, name: str) -> dict[str, Any]:
    obj = copy.deepcopy(confined(namespace, name))
    return {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": obj["metadata"],
        "spec": {
            "replicas": 1,
            "selector": obj["spec"]["selector"],
            "template": obj["spec"]["template"],
        },
    }


def test_custom_resources_with_and_without_scale(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    group = f"{namespace}.example.com"
    definitions = [crd(group, "agents", scale=True), crd(group, "plains", scale=False)]
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": definitions})
    try:
        for definition in definitions:
            cluster.kubectl(
                "wait",
                "--for=condition=Established",
                f"crd/{definition['metadata']['name']}",
                "--timeout=60s",
            )
        nodes.add_many(2, labels={"suite": namespace})
        apply(
            cluster,
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    custom_object(namespace, group, "Agent", "agent"),
                    custom_object(namespace, group, "Plain", "plain"),
                    confined(namespace, "web"),
                ],
            },
        )
        scaler = scalers.start(
            "--namespace",
            namespace,
            "--workload",
            f"{group}/v1/agents",
            "--workload",
            f"{group}/v1/plains",
        )
        wait_until(
            lambda: (
                replicas_of(cluster, namespace, "agents", "agent", f"{group}/v1") == 2
                and replicas_of(cluster, namespace, "deployments", "web") == 2
            ),
            timeout=60,
            describe="the custom resource and the Deployment at 2",
        )
        plain = scaler.target(namespace, "plain")
        assert plain is not None
        assert plain["valid"] is False
        assert any("has no scale subresource" in e for e in plain["errors"]), plain
        assert replicas_of(cluster, namespace, "plains", "plain", f"{group}/v1") == 1
        wait_until(
            lambda: [
                e
                for e in events(cluster, namespace, "InvalidTemplate")
                if e["involvedObject"]["kind"] == "Plain"
            ],
            timeout=30,
            describe="a Warning on the custom resource without /scale",
        )
        nodes.add(labels={"suite": namespace})
        wait_until(
            lambda: replicas_of(cluster, namespace, "agents", "agent", f"{group}/v1") == 3,
            timeout=60,
            describe="the custom resource follows a new node",
        )
    finally:
        for definition in definitions:
            cluster.kubectl(
                "delete", "crd", definition["metadata"]["name"], "--wait=false", check=False
            )


def test_custom_resource_replicas_at_the_scale_subresource_path(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """A CRD whose scale subresource keeps replicas at `.spec.size` (0 here, and no
    spec.replicas at all): the first write says "from 0", and a hand edit of spec.size is
    set back (DriftCorrected)."""
    group = f"{namespace}.example.com"
    definition = crd(group, "sizeds", scale=True, replicas=".spec.size")
    apply(cluster, definition)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/sizeds.{group}", "--timeout=60s")
    try:
        nodes.add_many(2, labels={"suite": namespace})
        obj = custom_object(namespace, group, "Sized", "sized")
        del obj["spec"]["replicas"]
        obj["spec"]["size"] = 0
        apply(cluster, obj)
        path = f"/apis/{group}/v1/namespaces/{namespace}/sizeds/sized"

        def size() -> int:
            return int(cluster.api.get(path)["spec"].get("size", -1))

        scalers.start("--namespace", namespace, "--workload", f"{group}/v1/sizeds")
        wait_until(lambda: size() == 2, timeout=60, describe="spec.size 2")
        (rescaled,) = wait_until(
            lambda: events(cluster, namespace, "Rescaled"), timeout=30, describe="a Rescaled Event"
        )
        assert "Scaled from 0 to 2 replicas" in rescaled["message"], rescaled["message"]
        assert "replicas" not in cluster.api.get(path)["spec"]

        cluster.kubectl(
            "-n", namespace, "patch", f"sizeds.{group}", "sized", "--type=merge",
            "-p", '{"spec":{"size":7}}',
        )  # fmt: skip
        (drift,) = wait_until(
            lambda: events(cluster, namespace, "DriftCorrected"),
            timeout=30,
            describe="a DriftCorrected Event",
        )
        assert "from 7 to 2" in drift["message"], drift["message"]
        assert size() == 2
    finally:
        cluster.kubectl("delete", "crd", f"sizeds.{group}", "--wait=false", check=False)


def test_plan_shows_every_kind_the_flags_name(
    cluster: Cluster, namespace: str, nodes: NodeFactory
) -> None:
    """`plan` watches what `run` watches: every apps/v1 kind and each --workload by default,
    only the --kind ones when given."""
    group = f"{namespace}.example.com"
    apply(cluster, crd(group, "agents", scale=True))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/agents.{group}", "--timeout=60s")
    try:
        nodes.add_many(2, labels={"suite": namespace})
        items = [
            confined(namespace, "web"),
            statefulset(namespace, "sts"),
            replicaset(namespace, "rs"),
            custom_object(namespace, group, "Agent", "agent"),
        ]
        apply(cluster, {"apiVersion": "v1", "kind": "List", "items": items})
        everything = plan(cluster, "--namespace", namespace, "--workload", f"{group}/v1/agents")
        assert sorted((t["kind"], t["name"], t["desired"]) for t in everything) == [
            ("Agent", "agent", 2),
            ("Deployment", "web", 2),
            ("ReplicaSet", "rs", 2),
            ("StatefulSet", "sts", 2),
        ]
        only = plan(cluster, "--namespace", namespace, "--kind", "StatefulSet")
        assert [(t["kind"], t["name"]) for t in only] == [("StatefulSet", "sts")]
    finally:
        cluster.kubectl("delete", "crd", f"agents.{group}", "--wait=false", check=False)


def documented_rbac_snippet(group: str, plural: str) -> list[dict[str, Any]]:
    """docs/annotations.md's rules for a custom resource, with its group and resource put in."""
    documented = (ROOT / "docs" / "annotations.md").read_text()
    after = documented.split("For a custom resource, add these rules", 1)[1]
    block = after.split("```yaml\n", 1)[1]
    text = block.split("```", 1)[0].replace("argoproj.io", group).replace("rollouts", plural)
    rules: list[dict[str, Any]] = yaml.safe_load(text)
    return rules


def test_custom_resource_with_the_documented_rbac(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> None:
    """The shipped RBAC and policies plus the snippet of docs/annotations.md, with a
    TokenRequest token of the shipped service account: a custom resource's replicas follow the
    nodes."""
    group = f"{namespace}.example.com"
    definition = crd(group, "agents", scale=True)
    apply(cluster, definition)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/agents.{group}", "--timeout=60s")
    role = f"nodecount-scaler-{namespace}"
    extra: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": documented_rbac_snippet(group, "agents"),
    }
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}],
    }
    try:
        with installed(cluster, BASE):
            apply(cluster, {"apiVersion": "v1", "kind": "List", "items": [extra, binding]})
            nodes.add_many(2, labels={"suite": namespace})
            apply(cluster, custom_object(namespace, group, "Agent", "agent"))
            kubeconfig = service_account_kubeconfig(cluster, tmp_path)
            scalers.start(
                "--namespace", namespace, "--workload", f"{group}/v1/agents", kubeconfig=kubeconfig
            )
            wait_until(
                lambda: replicas_of(cluster, namespace, "agents", "agent", f"{group}/v1") == 2,
                timeout=60,
                describe="the custom resource scaled with the shipped token and the snippet",
            )
    finally:
        for kind in ("clusterrolebinding", "clusterrole"):
            cluster.kubectl("delete", kind, role, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "crd", f"agents.{group}", "--wait=false", check=False)


def test_migrate_cpa_targets_of_every_kind(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """CPA's --target names any of the kind table's kinds; the printed `kubectl annotate`
    commands, run as printed, opt each one in and the service scales it."""
    suite = {"suite": namespace}
    nodes.add_many(2, labels=suite)
    objects = [
        statefulset(namespace, "sts"),
        replicaset(namespace, "rs"),
        replicationcontroller(namespace, "rc"),
    ]
    for obj in objects:
        obj["metadata"]["annotations"] = {}
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": objects})
    cpa_args = (
        "--target=StatefulSet/sts,replicasets/rs,replicationcontroller/rc "
        f"--namespace={namespace} --nodelabels=suite={namespace} "
        # Single-quoted, as in a shell: the JSON keeps its double quotes.
        '\'--default-params={"linear":{"nodesPerReplica":1,"min":1}}\''
    )
    done = run_cli(cluster, "migrate-cpa", "--cpa-args", cpa_args)
    assert done.returncode == 0, done.stderr
    assert "--kind ReplicationController" in done.stdout
    commands = [
        shlex.split(command.replace("\\\n", " "))
        for command in done.stdout.split("\n\n")
        if command.startswith("kubectl ")
    ]
    assert [c[:4] for c in commands] == [
        ["kubectl", "annotate", "statefulset", "sts"],
        ["kubectl", "annotate", "replicaset", "rs"],
        ["kubectl", "annotate", "replicationcontroller", "rc"],
    ]
    for command in commands:
        cluster.kubectl(*command[1:])
    kinds = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")
    scalers.start("--namespace", namespace, *(a for k in kinds for a in ("--kind", k)))

    def scaled(count: int) -> bool:
        return [
            replicas_of(cluster, namespace, "statefulsets", "sts"),
            replicas_of(cluster, namespace, "replicasets", "rs"),
            replicas_of(cluster, namespace, "replicationcontrollers", "rc", group="v1"),
        ] == [count] * 3

    wait_until(lambda: scaled(2), timeout=60, describe="2 nodes: 2 replicas of each kind")
    nodes.add(labels=suite)
    wait_until(lambda: scaled(3), timeout=60, describe="3 nodes: 3 replicas of each kind")
