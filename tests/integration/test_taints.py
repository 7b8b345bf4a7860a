"""Custom taints: an untolerated NoSchedule or NoExecute taint excludes a node, a matching
toleration brings it back, PreferNoSchedule never excludes, and a NoExecute taint tolerated
only with tolerationSeconds does not count (the pod would be evicted)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

TAINT_KEY = "example.com/dedicated"
TAINT_VALUE = "gpu"

# Target name -> tolerations of its pod template.
TOLERATIONS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "equal": [{"key": TAINT_KEY, "operator": "Equal", "value": TAINT_VALUE}],
    "exists-all": [{"operator": "Exists"}],
    "wrong-value": [{"key": TAINT_KEY, "operator": "Equal", "value": "cpu"}],
    # tolerationSeconds needs effect NoExecute (API validation)
    "noexecute-300s": [
        {"key": TAINT_KEY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ],
}

# Effect of the taint on one of the two nodes -> eligible count per target.
EXPECTED: dict[str, dict[str, int]] = {
    "NoSchedule": {
        "none": 1,
        "equal": 2,
        "exists-all": 2,
        "wrong-value": 1,
        "noexecute-300s": 1,
    },
    "NoExecute": {
        "none": 1,
        "equal": 2,
        "exists-all": 2,
        "wrong-value": 1,
        "noexecute-300s": 1,
    },
    "PreferNoSchedule": dict.fromkeys(TOLERATIONS, 2),
}


def _counts(
    cluster: Cluster, scaler: ScalerProcess, namespace: str
) -> dict[str, tuple[int, int | None]]:
    return {
        name: (
            replicas(cluster, namespace, name),
            (scaler.target(namespace, name) or {}).get("eligible"),
        )
        for name in TOLERATIONS
    }


@pytest.mark.parametrize("effect", ["NoSchedule", "NoExecute", "PreferNoSchedule"])
def test_taint_and_toleration(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, effect: str
) -> None:
    """Two nodes; taint one (kubectl taint) -> the table; remove the taint -> 2 everywhere.
    A node created with the taint already on it gives the same table."""
    label = {"suite": namespace}
    _plain, tainted = nodes.add_many(2, labels=label)
    items = []
    for name, tolerations in TOLERATIONS.items():
        obj = nginx_everywhere(
            namespace, name, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"}
        )
        obj["spec"]["template"]["spec"]["nodeSelector"] = label
        obj["spec"]["template"]["spec"]["tolerations"] = tolerations
        items.append(obj)
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": items})
    scaler = scalers.start("--namespace", namespace)

    all_two = dict.fromkeys(TOLERATIONS, (2, 2))
    wait_until(
        lambda: _counts(cluster, scaler, namespace) == all_two, timeout=30, describe="2 each"
    )

    taint = f"{TAINT_KEY}={TAINT_VALUE}:{effect}"
    cluster.kubectl("taint", "nodes", tainted, taint)
    want = {name: (n, n) for name, n in EXPECTED[effect].items()}
    wait_until(
        lambda: _counts(cluster, scaler, namespace) == want,
        timeout=30,
        describe=f"after tainting {taint}: {want}",
    )
    # The 2 -> 1 writes went to exactly the targets that do not tolerate the taint.
    excluded = {name for name, n in EXPECTED[effect].items() if n == 1}
    down = {
        line["target"]
        for line in scaler.log_events("rescaled")
        if (line["from"], line["to"]) == (2, 1)
    }
    assert down == excluded
    if effect == "PreferNoSchedule":
        # Nothing to wait for: prove that nothing moves over a window instead.
        writes = len(scaler.log_events("rescaled"))
        time.sleep(3)
        assert _counts(cluster, scaler, namespace) == want
        assert len(scaler.log_events("rescaled")) == writes

    cluster.kubectl("taint", "nodes", tainted, f"{taint}-")
    wait_until(
        lambda: _counts(cluster, scaler, namespace) == all_two, timeout=30, describe="untainted"
    )

    # A node that joins with the taint already set counts the same way.
    nodes.add(labels=label, taints=[{"key": TAINT_KEY, "value": TAINT_VALUE, "effect": effect}])
    want = {name: (n + 1, n + 1) for name, n in EXPECTED[effect].items()}
    wait_until(
        lambda: _counts(cluster, scaler, namespace) == want,
        timeout=30,
        describe=f"third node joins with {taint}: {want}",
    )
