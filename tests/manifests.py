"""The shipped manifests, rendered as kubectl renders them (no cluster needed): the kustomize
directories with `kubectl kustomize`, the Helm chart with `helm template`."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from devcluster import shipped
from nodecount_scaler.model.kinds import BUILTIN
from tests.helm import helm

REPO: Final = Path(__file__).resolve().parents[1]
BASE: Final = REPO / "manifests"
NAMESPACED: Final = BASE / "overlays" / "namespaced"
NO_POD_DELETION_COST: Final = BASE / "overlays" / "no-pod-deletion-cost"
CHART: Final = REPO / "charts" / "nodecount-scaler"
NAMESPACE: Final = "nodecount-scaler"
SERVICE_ACCOUNT: Final = "nodecount-scaler"
USERNAME: Final = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
# The admission policies of the base (each with a binding of the same name).
POLICIES: Final = (
    *(kind.policy for kind in BUILTIN),
    "nodecount-scaler-pod-deletion-cost",
    "nodecount-scaler-events",
)
# What `kubectl apply -k manifests/` creates: the service's objects, no example targets.
BASE_KINDS: Final = (
    "Namespace",
    "ServiceAccount",
    *("ClusterRole",) * 3,  # nodecount-scaler (targets), -nodes, -pods
    *("ClusterRoleBinding",) * 3,
    "Role",  # the Lease
    "RoleBinding",
    *("ValidatingAdmissionPolicy",) * len(POLICIES),
    *("ValidatingAdmissionPolicyBinding",) * len(POLICIES),
    "Deployment",
    "PodDisruptionBudget",
    "Service",
    # delegated-auth.yaml, metrics-reader.yaml, networkpolicy.yaml
    "ClusterRoleBinding",
    "RoleBinding",
    "ClusterRole",
    "NetworkPolicy",
)
# The objects that say what the service account may do.
PERMISSION_KINDS: Final = shipped.PERMISSION_KINDS


# The labels the chart adds to every object's metadata beside the base's name label.
HELM_LABELS: Final = frozenset(
    {
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "helm.sh/chart",
    }
)


@dataclass(frozen=True)
class Chart:
    """The chart as `helm template nodecount-scaler charts/nodecount-scaler -n NAMESPACE
    -f VALUES` renders it. `values` is JSON text (so that a Chart is hashable)."""

    values: str = "{}"
    namespace: str = NAMESPACE

    def __str__(self) -> str:
        return f"chart -n {self.namespace} {self.values}"


def chart(*, release_namespace: str = NAMESPACE, **values: Any) -> Chart:
    """The chart with these values (keyword per top-level key), installed in
    `release_namespace`."""
    return Chart(json.dumps(values, sort_keys=True), release_namespace)


Source = Path | Chart

# Every value of the chart turned from its default (for lint and the server's dry run).
CHART_EVERY_OPTION: Final[dict[str, Any]] = {
    "namespace": {"create": False},
    "image": {"repository": "registry.example/ncs", "tag": "9.9", "pullPolicy": "Always"},
    "replicas": 1,
    "namespaces": ["team-a"],
    "podDeletionCost": False,
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    "logFormat": "console",
    "unreadyGrace": 45,
    "extraArgs": ["--replica-cap=50"],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"podAntiAffinity": None},
    "networkPolicy": {"scrapers": {"namespaces": ["monitoring", "observability"]}},
    "metricsReaders": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}],
    "serviceMonitor": {"enabled": True, "labels": {"release": "kps"}, "interval": "30s"},
    "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
}


def render(source: Source) -> list[dict[str, Any]]:
    """The objects of a kustomize directory or of the chart, one dict each."""
    return render_chart(source) if isinstance(source, Chart) else render_kustomize(source)


def render_chart(source: Chart) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values:
        values.write(source.values)
        values.flush()
        result = helm(
            "template", "nodecount-scaler", str(CHART), "-n", source.namespace, "-f", values.name
        )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def without_helm_labels(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`docs` with the chart's own labels taken out of each object's metadata."""
    out = []
    for doc in docs:
        labels = {
            k: v for k, v in doc["metadata"].get("labels", {}).items() if k not in HELM_LABELS
        }
        out.append({**doc, "metadata": {**doc["metadata"], "labels": labels}})
    return out


def render_kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIRECTORY`, one dict per object."""
    try:
        return shipped.render_kustomize(directory)
    except shipped.RenderError as e:
        pytest.fail(str(e), pytrace=False)


Obj = dict[str, Any]


def one(
    docs: list[Obj], kind: str, name: str = SERVICE_ACCOUNT, namespace: str | None = None
) -> Obj:
    """The single object of that kind and name (and namespace, when given)."""
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def rule_tuples(rules: list[Obj]) -> set[tuple[str, str, str, str | None]]:
    """(apiGroup, resource, verb, resourceName or None for any) of every grant."""
    out: set[tuple[str, str, str, str | None]] = set()
    for rule in rules:
        names: list[str | None] = list(rule.get("resourceNames") or [None])
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in names:
                        out.add((group, resource, verb, name))
    return out
