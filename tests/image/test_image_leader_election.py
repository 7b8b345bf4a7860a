"""Two pods of the shipped Deployment (its `--leader-elect` and its lease settings, the Lease
in the pods' namespace): one leads, and when its container is killed (SIGKILL, nothing
released, as when its node dies) the other takes the Lease once it expires and scales."""

from __future__ import annotations

import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.image.conftest import StartPod
from tests.integration.workloads import apply

SELECTOR = "nodecount-scaler.io/node-selector"
APP = "nginx-everywhere"
LEASE = "nodecount-scaler"  # --leader-election-id's default: the Deployment does not set it
# The default lease duration (15 s) and retry period (2 s, with client-go's jitter): a
# standby takes an expired lease within about 20 s of the last renewal.
TAKEOVER_BUDGET = 30.0


def holder(cluster: Cluster, namespace: str) -> str:
    lease: dict[str, Any] | None = cluster.api.get_or_none(
        f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
    )
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def test_one_leads_and_the_other_takes_over_when_its_container_is_killed(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    deployment: dict[str, Any],
    pods: StartPod,
    figures: list[str],
) -> None:
    assert "--leader-elect" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    lease_namespace = deployment["metadata"]["namespace"]
    both = {pod.name: pod for pod in (pods(), pods())}

    def leader() -> str | None:
        name = holder(cluster, lease_namespace).rpartition("_")[0]
        return name if name in both else None

    first = both.pop(wait_until(leader, 30, describe="a leader among the two pods"))
    (standby,) = both.values()
    label = {"image-test": namespace}
    apply(cluster, nginx_everywhere(namespace, **{SELECTOR: f"image-test={namespace}"}))
    nodes.add_many(2, labels=label)
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, 30, describe="2 replicas")

    killed = time.monotonic()
    first.kill()
    wait_until(lambda: leader() == standby.name, TAKEOVER_BUDGET, describe=f"{standby.name} leads")
    took = time.monotonic() - killed
    nodes.add(labels=label)
    wait_until(lambda: replicas(cluster, namespace, APP) == 3, 30, describe="3 replicas")
    assert standby.log_events("became leader"), standby.log_path
    figures.append(f"leader's container killed: the other pod led {took:.1f} s later")
