"""A namespace with the three kinds of target the alerts and the dashboard are about, made
for real on the local control plane:

- ``healthy``: valid; scaled to the eligible count;
- ``bad``: an invalid annotation (min-replicas -1): the target is left untouched;
- ``stuck``: valid, but a ValidatingAdmissionPolicy denies every write of its replicas
  (403 Forbidden, as a missing RBAC rule or a policy engine would), so its spec.replicas
  never reaches the desired count.

All three count only the test's own nodes (their node-selector annotation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devcluster import Cluster
from devcluster.api import ApiError
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

HEALTHY, BAD, STUCK = "healthy", "bad", "stuck"
SELECTOR_KEY = "nodecount-scaler.io/node-selector"
POLICIES = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


@dataclass(frozen=True)
class Targets:
    namespace: str
    nodes: list[str]
    label: tuple[str, str]


def _deny_policy(name: str, namespace: str, target: str) -> tuple[dict[str, Any], ...]:
    policy: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["deployments", "deployments/scale"],
                        "resourceNames": [target],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "false",
                    "reason": "Forbidden",
                    "message": f"writes of {target}'s replicas are denied by policy {name}",
                }
            ],
        },
    }
    binding: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace},
                }
            },
        },
    }
    return policy, binding


def _denied(cluster: Cluster, namespace: str, target: str) -> bool:
    """True once a write of the target's replicas meets the policy (it is then in force)."""
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{target}"
    try:
        cluster.api.merge_patch(path, {"spec": {"replicas": 1}})
    except ApiError as e:
        return e.status == 403
    return False


@contextlib.contextmanager
def denied_scale_writes(cluster: Cluster, namespace: str, target: str) -> Iterator[None]:
    """Every write of `target`'s replicas is refused with 403 while the block runs."""
    name = f"deny-scale-{namespace}"[:63]
    policy, binding = _deny_policy(name, namespace, target)
    cluster.api.post(POLICIES, policy)
    cluster.api.post(BINDINGS, binding)
    try:
        wait_until(
            lambda: _denied(cluster, namespace, target),
            timeout=30,
            interval=0.2,
            describe="the admission policy to refuse scale writes",
        )
        yield
    finally:
        cluster.api.delete(f"{BINDINGS}/{name}")
        cluster.api.delete(f"{POLICIES}/{name}")


def create_targets(cluster: Cluster, namespace: str, nodes: NodeFactory) -> Targets:
    """Two of the test's own nodes and the three targets, each selecting those nodes."""
    label = ("nodecount-test", namespace)
    names = nodes.add_many(2, labels=dict([label]))
    selector = {SELECTOR_KEY: f"{label[0]}={label[1]}"}
    invalid = {"nodecount-scaler.io/min-replicas": "-1"}
    for name, extra in ((HEALTHY, {}), (BAD, invalid), (STUCK, {})):
        apply(cluster, nginx_everywhere(namespace, name, **selector, **extra))
    return Targets(namespace, names, label)


def start_shipped(scalers: ScalerFactory, namespace: str) -> ScalerProcess:
    """The service as shipped, watching `namespace`: leader election (its Lease there) and
    /metrics over HTTPS behind delegated authentication."""
    return scalers.start(
        "--namespace",
        namespace,
        "--leader-elect",
        "--leader-election-namespace",
        namespace,
        secure=True,
    )
