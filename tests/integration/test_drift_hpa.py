"""A hand edit of spec.replicas is set back at once (Normal DriftCorrected); an HPA on the
same Deployment makes the service write nothing (Warning ConflictingAutoscaler) until the
HPA is deleted.

The assertions about "nothing written" are about OUR writes: the scaler's "rescaled" log
lines, audit-log replica writes to the Deployment with the scaler's user agent, and the
`nodecount-scaler` field manager in the Deployment's managedFields."""

from __future__ import annotations

import time
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import deployment, events, replicas
from tests.integration.workloads import apply, log_time, nginx_everywhere, replica_writes

APP = "nginx-everywhere"
MANAGER = "nodecount-scaler"


def _target(namespace: str, replicas: int | None = None) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, **{"nodecount-scaler.io/node-selector": f"suite={namespace}"})
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"suite": namespace}
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def _hpa(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }


def _our_scale_writes(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return replica_writes(cluster, namespace, APP)


def _managers(cluster: Cluster, namespace: str) -> set[str]:
    fields = deployment(cluster, namespace, APP)["metadata"].get("managedFields") or []
    return {str(f.get("manager")) for f in fields}


def test_hand_scale_is_undone_at_once_with_drift_corrected(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    nodes.add_many(2, labels={"suite": namespace})
    apply(cluster, _target(namespace))
    scaler = scalers.start("--namespace", namespace)
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="2 replicas")
    wait_until(
        lambda: (scaler.target(namespace, APP) or {}).get("current") == 2,
        timeout=10,
        describe="the scaler sees its own write",
    )
    assert events(cluster, namespace, "DriftCorrected") == []

    before = len(scaler.log_events("rescaled"))
    scaled_at = time.time()
    cluster.kubectl("-n", namespace, "scale", f"deployment/{APP}", "--replicas=7")
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=10, describe="back to 2")
    (fix,) = scaler.wait_log("rescaled", before + 1)[before:]
    assert (fix["from"], fix["to"], fix["eligible"]) == (7, 2, 2)
    assert fix["reason"] == "spec.replicas was changed by someone else"
    undone = log_time(fix) - scaled_at
    assert undone < 5.0, f"hand scale undone only after {undone:.1f} s"

    drift = wait_until(
        lambda: events(cluster, namespace, "DriftCorrected"),
        timeout=10,
        describe="a DriftCorrected Event",
    )
    assert [(e["type"], e["involvedObject"]["name"]) for e in drift] == [("Normal", APP)]
    assert "from 7 to 2" in drift[0]["message"]
    assert events(cluster, namespace, "Rescaled"), "the adoption write was a Rescaled Event"
    print(f"\nkubectl scale --replicas=7 -> set back to 2 after {undone:.3f} s")


def test_hpa_blocks_writes_until_deleted(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    nodes.add_many(2, labels={"suite": namespace})
    # 5 replicas (!= 2 eligible nodes) and an HPA on the Deployment from the start.
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [_target(namespace, 5), _hpa(namespace, "web")],
        },
    )
    scaler = scalers.start("--namespace", namespace)

    conflict = wait_until(
        lambda: events(cluster, namespace, "ConflictingAutoscaler"),
        timeout=30,
        describe="a ConflictingAutoscaler Event",
    )
    assert [(e["type"], e["involvedObject"]["name"]) for e in conflict] == [("Warning", APP)]
    assert "HorizontalPodAutoscaler web" in conflict[0]["message"]
    status = scaler.target(namespace, APP)
    assert status is not None
    assert (status["autoscalers"], status["eligible"], status["current"], status["desired"]) == (
        ["web"],
        2,
        5,
        2,
    )

    # A hand scale while the HPA exists is not "drift": it stays.
    cluster.kubectl("-n", namespace, "scale", f"deployment/{APP}", "--replicas=6")
    wait_until(
        lambda: (scaler.target(namespace, APP) or {}).get("current") == 6,
        timeout=10,
        describe="the scaler sees 6 replicas",
    )
    time.sleep(3)
    assert scaler.log_events("rescaled") == []
    assert _our_scale_writes(cluster, namespace) == []
    assert MANAGER not in _managers(cluster, namespace)
    assert events(cluster, namespace, "DriftCorrected") == []
    # kube-controller-manager's HPA controller has no metrics API here: it leaves an
    # in-range replica count alone, so the hand-set value is still there.
    assert replicas(cluster, namespace, APP) == 6

    cluster.kubectl("-n", namespace, "delete", "hpa", "web")
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="taken over: 2")
    (write,) = scaler.wait_log("rescaled", 1)
    assert (write["from"], write["to"], write["eligible"]) == (6, 2, 2)
    assert len(_our_scale_writes(cluster, namespace)) == 1
    assert MANAGER in _managers(cluster, namespace)
    wait_until(
        lambda: (scaler.target(namespace, APP) or {}).get("autoscalers") == [],
        timeout=10,
        describe="/status lists no autoscaler",
    )


def test_hpa_on_a_converged_target_is_reported(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """docs/annotations.md: 'if an HPA's scaleTargetRef is a managed workload, nothing is written
    to it and a Warning Event ConflictingAutoscaler says so' - also while replicas happen to
    equal the node count."""
    nodes.add_many(2, labels={"suite": namespace})
    apply(cluster, _target(namespace))
    scaler = scalers.start("--namespace", namespace)
    wait_until(lambda: replicas(cluster, namespace, APP) == 2, timeout=30, describe="2 replicas")
    apply(cluster, _hpa(namespace, "web"))
    wait_until(
        lambda: (scaler.target(namespace, APP) or {}).get("autoscalers") == ["web"],
        timeout=10,
        describe="/status lists the HPA",
    )
    wait_until(
        lambda: events(cluster, namespace, "ConflictingAutoscaler"),
        timeout=6,
        describe="a ConflictingAutoscaler Event",
    )
