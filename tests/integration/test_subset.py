"""Only the nodes a target selects count: template nodeSelector / required node affinity and
the `nodecount-scaler.io/node-selector` annotation (equality and set-based), and the count
follows nodes being relabelled in and out."""

from __future__ import annotations

from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply

NODE_SELECTOR = "nodecount-scaler.io/node-selector"


def _target(
    namespace: str,
    name: str,
    *,
    annotation: str | None = None,
    node_selector: dict[str, str] | None = None,
    affinity: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The article's Deployment, selecting nodes by annotation and/or pod template."""
    extra = {} if annotation is None else {NODE_SELECTOR: annotation}
    obj = nginx_everywhere(namespace, name, **extra)
    spec = obj["spec"]["template"]["spec"]
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if affinity is not None:
        spec["affinity"]["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": affinity}]
            }
        }
    return obj


def _wait_counts(
    cluster: Cluster, scaler: ScalerProcess, namespace: str, expected: dict[str, int], step: str
) -> None:
    """Replicas of every target, and the eligible count /status shows, reach `expected`."""

    def observed() -> dict[str, tuple[int, int | None]]:
        return {
            name: (
                replicas(cluster, namespace, name),
                (scaler.target(namespace, name) or {}).get("eligible"),
            )
            for name in expected
        }

    want = {name: (count, count) for name, count in expected.items()}
    wait_until(
        lambda: observed() == want, timeout=30, describe=f"{step}: (replicas, eligible) {want}"
    )


def test_only_selected_nodes_count_and_relabelling_moves_the_count(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    suite = f"suite={namespace}"
    label = {"suite": namespace}
    a1, _a2 = nodes.add_many(2, labels={**label, "pool": "a"})
    b1 = nodes.add(labels={**label, "pool": "b"})
    n1 = nodes.add(labels=label)

    targets = [
        # template nodeSelector only (no annotation): equality on two labels
        _target(namespace, "tmpl-eq", node_selector={**label, "pool": "a"}),
        _target(namespace, "ann-eq", annotation=f"{suite},pool=b"),
        _target(namespace, "ann-in", annotation=f"{suite},pool in (a,b)"),
        _target(namespace, "ann-notin", annotation=f"{suite},pool notin (a)"),
        _target(namespace, "ann-absent", annotation=f"{suite},!pool"),
        # both: annotation `pool` exists AND template affinity pool NotIn (b)
        _target(
            namespace,
            "both",
            annotation=f"{suite},pool",
            affinity=[{"key": "pool", "operator": "NotIn", "values": ["b"]}],
        ),
    ]
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": targets})
    scaler = scalers.start("--namespace", namespace)

    # a1,a2: pool=a  b1: pool=b  n1: no pool
    _wait_counts(
        cluster,
        scaler,
        namespace,
        {"tmpl-eq": 2, "ann-eq": 1, "ann-in": 3, "ann-notin": 2, "ann-absent": 1, "both": 2},
        "initial",
    )

    # relabel in with kubectl: n1 joins pool a
    cluster.kubectl("label", "node", n1, "pool=a")
    _wait_counts(
        cluster,
        scaler,
        namespace,
        {"tmpl-eq": 3, "ann-eq": 1, "ann-in": 4, "ann-notin": 1, "ann-absent": 0, "both": 3},
        "n1 labelled pool=a",
    )

    # relabel out with a merge patch: a1 loses its pool, b1 moves to pool c
    cluster.api.merge_patch(f"/api/v1/nodes/{a1}", {"metadata": {"labels": {"pool": None}}})
    cluster.api.merge_patch(f"/api/v1/nodes/{b1}", {"metadata": {"labels": {"pool": "c"}}})
    _wait_counts(
        cluster,
        scaler,
        namespace,
        {"tmpl-eq": 2, "ann-eq": 0, "ann-in": 2, "ann-notin": 2, "ann-absent": 1, "both": 3},
        "a1 unlabelled, b1 pool=c",
    )

    # Every write was logged with the eligible count it was based on.
    last = {line["target"]: line for line in scaler.log_events("rescaled")}
    assert {name: (line["to"], line["eligible"]) for name, line in last.items()} == {
        "tmpl-eq": (2, 2),
        "ann-eq": (0, 0),
        "ann-in": (2, 2),
        "ann-notin": (2, 2),
        "ann-absent": (1, 1),
        "both": (3, 3),
    }
