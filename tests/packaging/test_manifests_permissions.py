"""What the service account may do in each shipped variant, from the kustomize directories
and from the chart with the values that stand for them: the RBAC grants (resolved through
the bindings) and the admission policies, rendered and checked as data."""

from __future__ import annotations

import re

import pytest

from nodecount_scaler import limits
from nodecount_scaler.control.events import COMPONENT, EVENT_REASONS
from nodecount_scaler.kube.resources import FIELD_MANAGER
from nodecount_scaler.model.keys import ENABLED
from nodecount_scaler.model.pods import DELETION_COST_ANNOTATION, LEAVING_NODE_DELETION_COST
from tests.manifests import (
    BASE,
    NAMESPACE,
    NAMESPACED,
    NO_POD_DELETION_COST,
    POLICIES,
    SERVICE_ACCOUNT,
    USERNAME,
    Obj,
    Source,
    chart,
    one,
    render,
    rule_tuples,
)
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

# Each built-in kind's spec: every field but replicas must come out of a write unchanged.
SPEC_FIELDS = {
    ("nodecount-scaler-replicas", "deployments"): (
        "selector",
        "template",
        "strategy",
        "minReadySeconds",
        "revisionHistoryLimit",
        "paused",
        "progressDeadlineSeconds",
    ),
    ("nodecount-scaler-replicas-statefulsets", "statefulsets"): (
        "selector",
        "template",
        "serviceName",
        "volumeClaimTemplates",
        "podManagementPolicy",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
        "minReadySeconds",
        "revisionHistoryLimit",
    ),
    ("nodecount-scaler-replicas-replicasets", "replicasets"): (
        "selector",
        "template",
        "minReadySeconds",
    ),
    ("nodecount-scaler-replicas-replicationcontrollers", "replicationcontrollers"): (
        "selector",
        "template",
        "minReadySeconds",
    ),
}

KUSTOMIZE: dict[str, Source] = {
    "base": BASE,
    "namespaced": NAMESPACED,
    "no-pod-deletion-cost": NO_POD_DELETION_COST,
}
# The chart's values that stand for each kustomize variant (test_chart_parity.py).
CHART: dict[str, Source] = {
    "base": chart(),
    "namespaced": chart(namespaces=["team-a", "team-b"]),
    "no-pod-deletion-cost": chart(podDeletionCost=False),
}
SOURCES = {"kustomize": KUSTOMIZE, "chart": CHART}
VARIANTS = [(source, name) for source, variants in SOURCES.items() for name in variants]


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{s}-{n}" for s, n in VARIANTS])
def variant(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    source, name = request.param
    return name, render(SOURCES[source][name])


@pytest.fixture(scope="module", params=list(SOURCES))
def rendered(request: pytest.FixtureRequest) -> dict[str, list[Obj]]:
    """Each variant of one source: the kustomize directories, or the chart."""
    return {name: render(source) for name, source in SOURCES[request.param].items()}


# ---- RBAC --------------------------------------------------------------------------


def test_base_grants_exactly_what_the_service_uses(rendered: dict[str, list[Obj]]) -> None:
    """Cluster-wide: nodes, targets, HPAs, Events, pods; the Lease in its namespace."""
    assert (
        grants(rendered["base"])
        == scoped(CLUSTER, NODES, TARGETS, PODS) | scoped(NAMESPACE, LEASE) | AUTH
    )
    assert settings_of(rendered["base"]).pod_deletion_cost is True


def test_without_pod_deletion_cost_nothing_on_pods(rendered: dict[str, list[Obj]]) -> None:
    """The component removes every pod grant and switches steering off in the container."""
    docs = rendered["no-pod-deletion-cost"]
    assert grants(docs) == scoped(CLUSTER, NODES, TARGETS) | scoped(NAMESPACE, LEASE) | AUTH
    assert not any(
        d["metadata"]["name"] == "nodecount-scaler-pods" for d in docs if "Role" in d["kind"]
    )
    assert settings_of(docs).pod_deletion_cost is False


def test_namespaced_grants_namespaced_resources_only_in_its_namespaces(
    rendered: dict[str, list[Obj]],
) -> None:
    """Only nodes cluster-wide; targets and pods in exactly the namespaces it watches."""
    docs = rendered["namespaced"]
    watched = settings_of(docs).namespaces
    assert watched == ("team-a", "team-b")
    expected = scoped(CLUSTER, NODES) | scoped(NAMESPACE, LEASE) | AUTH
    for namespace in watched:
        expected |= scoped(namespace, TARGETS, PODS)
    assert grants(docs) == expected


def test_no_wildcards_and_nothing_on_secrets_or_configmaps(variant: tuple[str, list[Obj]]) -> None:
    """No "*" in any rule of any role; secrets, configmaps and non-resource URLs never named
    (the only ConfigMap is the built-in one of the delegated-authentication grants; the
    only non-resource URLs are the metrics reader's, bound to nobody)."""
    _, docs = variant
    for role in (d for d in docs if d["kind"] in ("ClusterRole", "Role")):
        if role["metadata"]["name"] == "nodecount-scaler-metrics-reader":
            assert role["rules"] == [{"nonResourceURLs": ["/metrics", "/status"], "verbs": ["get"]}]
            continue
        assert all("nonResourceURLs" not in rule for rule in role["rules"])
        for group, resource, verb, name in rule_tuples(role["rules"]):
            assert "*" not in (group, resource, verb, name), role["metadata"]["name"]
            assert resource.split("/")[0] not in {"secrets", "configmaps"}


def test_bindings_name_only_the_service_account(variant: tuple[str, list[Obj]]) -> None:
    """Every binding grants to the service account the pods run as, and to nothing else."""
    _, docs = variant
    for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
        ]
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"


# ---- admission policies ------------------------------------------------------------


def expressions(policy: Obj) -> str:
    spec = policy["spec"]
    parts = [v["expression"] for v in spec.get("variables", [])]
    parts += [v["expression"] for v in spec["validations"]]
    return "\n".join(parts)


def test_every_variant_ships_the_same_enforced_policies(rendered: dict[str, list[Obj]]) -> None:
    """Three policies, each bound with Deny and failing closed, in every variant."""
    for docs in rendered.values():
        for name in POLICIES:
            policy = one(docs, "ValidatingAdmissionPolicy", name)
            assert policy == one(rendered["base"], "ValidatingAdmissionPolicy", name)
            assert policy["spec"]["failurePolicy"] == "Fail"
            assert "paramKind" not in policy["spec"]
            binding = one(docs, "ValidatingAdmissionPolicyBinding", name)["spec"]
            assert binding == {"policyName": name, "validationActions": ["Deny"]}


@pytest.mark.parametrize("name", POLICIES)
def test_policy_applies_to_the_service_account_only(
    rendered: dict[str, list[Obj]], name: str
) -> None:
    """One match condition: the username of the shipped service account, exactly."""
    (condition,) = one(rendered["base"], "ValidatingAdmissionPolicy", name)["spec"][
        "matchConditions"
    ]
    expression = " ".join(condition["expression"].split())
    assert expression == f"request.userInfo.username == '{USERNAME}'"


@pytest.mark.parametrize(("name", "resource"), list(SPEC_FIELDS), ids=[r for _, r in SPEC_FIELDS])
def test_replica_policy_checks_the_opt_in_and_every_other_spec_field(
    rendered: dict[str, list[Obj]], name: str, resource: str
) -> None:
    """The opt-in annotation the code reads, the scale subresource refused, and every
    spec field of the kind but replicas compared old to new."""
    policy = one(rendered["base"], "ValidatingAdmissionPolicy", name)
    text = expressions(policy)
    assert f"'{ENABLED.key}'].orValue('') == 'true'" in text
    assert "request.?subResource.orValue('') == ''" in text
    for field in SPEC_FIELDS[name, resource]:
        assert re.search(rf"object\.spec\.\??{field} == oldObject\.spec\.\??{field}\b", text), field
    assert not re.search(r"object\.spec\.\??replicas", text)
    # Not an object another controls (a Deployment's ReplicaSets copy the opt-in), and
    # managedFields: only spec.replicas moves, to this service's own entry.
    assert "oldObject.metadata.?ownerReferences.orValue([]).exists(r, r.?controller" in text
    assert f"n.manager == '{FIELD_MANAGER}'" in text
    assert "'f:spec'" in text
    assert "'f:replicas'" in text
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == [resource, f"{resource}/scale"]


def test_pod_policy_allows_only_the_cost_the_code_writes(rendered: dict[str, list[Obj]]) -> None:
    """The annotation key and the one value the code sets, and the spec compared whole."""
    text = expressions(
        one(rendered["base"], "ValidatingAdmissionPolicy", "nodecount-scaler-pod-deletion-cost")
    )
    assert f"'{DELETION_COST_ANNOTATION}'" in text
    assert f"== '{LEAVING_NODE_DELETION_COST}'" in text
    assert "object.spec == oldObject.spec" in text
    assert f"'f:{DELETION_COST_ANNOTATION}'" in text  # managedFields: only that annotation


def test_event_policy_names_the_component_the_code_reports(
    rendered: dict[str, list[Obj]],
) -> None:
    """source.component and reportingComponent must be the recorder's COMPONENT."""
    text = expressions(
        one(rendered["base"], "ValidatingAdmissionPolicy", "nodecount-scaler-events")
    )
    assert f"object.?source.?component.orValue('') == '{COMPONENT}'" in text
    assert f"object.?reportingComponent.orValue('') == '{COMPONENT}'" in text


def test_event_policy_admits_the_reasons_and_bounds_the_recorder_writes(
    rendered: dict[str, list[Obj]],
) -> None:
    """Every reason the recorder can write and no other; its message, time and count
    bounds (limits.py), and its field manager."""
    policy = one(rendered["base"], "ValidatingAdmissionPolicy", "nodecount-scaler-events")
    (reasons,) = [v for v in policy["spec"]["variables"] if v["name"] == "reasons"]
    assert set(re.findall(r"'(\w+)'", reasons["expression"])) == set(EVENT_REASONS)
    text = expressions(policy)
    assert f"size(object.?message.orValue('')) <= {limits.EVENT_MESSAGE_LIMIT}" in text
    assert f"duration('{limits.EVENT_CLOCK_SKEW}s')" in text
    assert f"duration('{limits.EVENT_BACKDATE_MAX}s')" in text
    assert f"{limits.EVENT_COUNT_BASE} + {limits.EVENT_COUNT_PER_SECOND} *" in text
    assert f"e.manager == '{COMPONENT}'" in text
