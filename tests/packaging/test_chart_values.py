"""The chart's values beyond the kustomize variants: each lands where it must, the container's
args and env parse with the real command line, and the service account's grants stay exact
(in another namespace, with namespaces and no pod-deletion-cost together, with readers)."""

from __future__ import annotations

from typing import Any

from tests.manifests import NAMESPACE, Obj, chart, one, render
from tests.permissions import (
    AUTH,
    CLUSTER,
    LEASE,
    NODES,
    PODS,
    TARGETS,
    grants,
    scoped,
    settings_of,
)

READER = "nodecount-scaler-metrics-reader"


def pod_spec(docs: list[Obj]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def test_container_values_reach_the_command_line() -> None:
    """Image, replicas, resources, log format, unready grace and extra flags, read back
    through the service's own flag parser."""
    docs = render(
        chart(
            image={"repository": "registry.example/ncs", "tag": "9.9", "pullPolicy": "Always"},
            replicas=3,
            resources={"requests": {"cpu": "100m", "memory": "128Mi"}},
            logFormat="console",
            unreadyGrace=45,
            extraArgs=["--replica-cap=50", "--workers=8"],
        )
    )
    (container,) = pod_spec(docs)["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (
        "registry.example/ncs:9.9",
        "Always",
    )
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    # A map given for resources is merged into the default one (Helm merges maps).
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    settings = settings_of(docs)
    assert settings.log_format == "console"
    assert settings.unready_grace == 45.0
    assert (settings.replica_cap, settings.workers) == (50, 8)
    assert settings.leader_elect


def test_one_replica_has_no_disruption_budget() -> None:
    """minAvailable 1 over a single pod would block every drain of its node."""
    kinds = [d["kind"] for d in render(chart(replicas=1))]
    assert "PodDisruptionBudget" not in kinds
    assert "PodDisruptionBudget" in [d["kind"] for d in render(chart(replicas=2))]


def test_placement_of_the_scaler_pods() -> None:
    """nodeSelector and tolerations as given; a given affinity is merged into the default
    anti-affinity, which `podAntiAffinity: null` drops."""
    node_affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
            ]
        }
    }
    toleration = {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    spec = pod_spec(
        render(
            chart(
                nodeSelector={"kubernetes.io/os": "linux"},
                tolerations=[toleration],
                affinity={"nodeAffinity": node_affinity},
            )
        )
    )
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [toleration]
    assert spec["affinity"]["nodeAffinity"] == node_affinity
    assert "podAntiAffinity" in spec["affinity"]
    dropped = pod_spec(render(chart(affinity={"podAntiAffinity": None})))
    assert "affinity" not in dropped
    default = pod_spec(render(chart()))
    assert "nodeSelector" not in default
    assert "tolerations" not in default


def test_network_policy_scrapers_and_switch() -> None:
    """The metrics port is open to the named namespaces, or to a selector given instead
    (which replaces the default rather than merging into it); off: no policy."""

    def scrapers(**network_policy: Any) -> list[Obj]:
        policy = one(render(chart(networkPolicy=network_policy)), "NetworkPolicy")
        _, metrics = policy["spec"]["ingress"]
        sources: list[Obj] = metrics["from"]
        return sources

    name = "kubernetes.io/metadata.name"
    assert scrapers(scrapers={"namespaces": ["obs"]}) == [
        {"namespaceSelector": {"matchLabels": {name: "obs"}}}
    ]
    assert scrapers(scrapers={"namespaces": ["obs", "monitoring"]}) == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": name, "operator": "In", "values": ["obs", "monitoring"]}
                ]
            }
        }
    ]
    selector = {"matchLabels": {"team": "observability"}}
    assert scrapers(scrapers={"namespaceSelector": selector}) == [{"namespaceSelector": selector}]
    assert "NetworkPolicy" not in [
        d["kind"] for d in render(chart(networkPolicy={"enabled": False}))
    ]


def test_metrics_readers_are_bound_to_the_reader_role_only() -> None:
    """The binding names exactly the given subjects; the service account gains nothing."""
    readers = [
        {"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"},
        {"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"},
    ]
    docs = render(chart(metricsReaders=readers))
    binding = one(docs, "ClusterRoleBinding", READER)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": READER,
    }
    assert binding["subjects"] == readers
    assert grants(docs) == grants(render(chart()))
    assert READER not in [d["metadata"]["name"] for d in render(chart()) if "Binding" in d["kind"]]


def test_another_namespace_moves_everything_and_the_policies_follow() -> None:
    """-n ops: every namespaced object in ops (but the client-CA binding, in kube-system),
    every binding names ops/nodecount-scaler, and so does every admission policy."""
    docs = render(chart(release_namespace="ops"))
    assert one(docs, "Namespace", "ops")
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        assert namespace in (None, "ops", "kube-system"), doc["kind"]
        for subject in doc.get("subjects", []):
            assert subject["namespace"] == "ops"
        if doc["kind"] == "ValidatingAdmissionPolicy":
            (condition,) = doc["spec"]["matchConditions"]
            assert condition["expression"] == (
                "request.userInfo.username == 'system:serviceaccount:ops:nodecount-scaler'"
            )
    assert (
        grants(docs, "ops") == scoped(CLUSTER, NODES, TARGETS, PODS) | scoped("ops", LEASE) | AUTH
    )
    assert grants(docs, NAMESPACE) == set()


def test_namespaces_without_pod_deletion_cost() -> None:
    """Both at once (no kustomize variant has it): targets in each namespace, no pods."""
    docs = render(chart(namespaces=["team-a", "team-b"], podDeletionCost=False))
    expected = scoped(CLUSTER, NODES) | scoped(NAMESPACE, LEASE) | AUTH
    for namespace in ("team-a", "team-b"):
        expected |= scoped(namespace, TARGETS)
    assert grants(docs) == expected
    settings = settings_of(docs)
    assert (settings.namespaces, settings.pod_deletion_cost) == (("team-a", "team-b"), False)


def test_existing_namespace_is_not_rendered() -> None:
    """namespace.create false: the objects go to the release's namespace, which is not one."""
    docs = render(chart(namespace={"create": False}))
    assert "Namespace" not in [d["kind"] for d in docs]
    assert one(docs, "Deployment")["metadata"]["namespace"] == NAMESPACE
