"""A managed target edited into an invalid state: a Warning Event within a second, no more
scaling with its old settings, shown invalid in /status and `plan`, before and after a
restart; a valid target beside it keeps converging. One case per class of bad number."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from tests.integration.test_bad_input import _output, _plan, _target
from tests.integration.workloads import apply, log_time

P = "nodecount-scaler.io/"
MIN = P + "min-replicas"
NPR = P + "nodes-per-replica"
SELECTOR = P + "node-selector"

# Target name -> the annotation edit that makes it invalid.
EDITS: dict[str, tuple[str, str]] = {
    "double-minus": (MIN, "--1"),
    "plus-minus": (MIN, "+-1"),
    "superscript": (MIN, "\u00b2"),
    "digits-5000": (NPR, "9" * 5000),
    "tiny-exponent": (NPR, "1e-999999"),
    "huge-exponent": (NPR, "1e999999"),
    "chars-10000": (SELECTOR, "k" * 10_000),
}


def _edited_at(cluster: Cluster, namespace: str, name: str) -> float:
    """Server-side time of the last PATCH of the Deployment (the annotate), from the audit log."""
    patches = [
        e
        for e in cluster.audit_events(namespace=namespace, name=name)
        if e.get("verb") == "patch"
        and not e.get("objectRef", {}).get("subresource")
        # The service's own replica writes are patches of the Deployment too.
        and not str(e.get("userAgent", "")).startswith("nodecount-scaler")
    ]
    stamp = str(patches[-1]["stageTimestamp"]).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(stamp).timestamp()


def _assert_invalid(scaler: ScalerProcess, namespace: str) -> None:
    for name, (key, _) in EDITS.items():
        status = scaler.target(namespace, name)
        assert status is not None, f"{name} vanished from /status"
        assert (status["valid"], status["desired"]) == (False, None), status
        assert any(key in e for e in status["errors"]), status
        assert all(len(e) < 400 for e in status["errors"]), "long values are cut in /status"


def test_bad_edits_take_effect_at_once(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    nodes.add(labels={"suite": namespace})
    names = [*EDITS, "good"]
    apply(
        cluster,
        {"apiVersion": "v1", "kind": "List", "items": [_target(namespace, n, {}) for n in names]},
    )
    scaler = scalers.start("--namespace", namespace)
    wait_until(lambda: all(replicas(cluster, namespace, n) == 1 for n in names), timeout=30)

    delays: dict[str, float] = {}
    for name, (key, value) in EDITS.items():
        cluster.kubectl(
            "-n", namespace, "annotate", "--overwrite", f"deployment/{name}", f"{key}={value}"
        )
        line = wait_until(
            lambda name=name: next(  # type: ignore[misc]
                (
                    line
                    for line in scaler.log_events("invalid annotation, target left untouched")
                    if line["target"] == name
                ),
                None,
            ),
            10,
            describe=f"the invalid-annotation log line of {name}",
        )
        delays[name] = log_time(line) - _edited_at(cluster, namespace, name)
    print(f"\nedit -> InvalidAnnotation (s): { {n: round(d, 3) for n, d in delays.items()} }")
    assert max(delays.values()) < 1.0, delays

    def warned() -> set[str] | None:
        found = {
            e["involvedObject"]["name"] for e in events(cluster, namespace, "InvalidAnnotation")
        }
        return found if found >= EDITS.keys() else None

    assert "good" not in wait_until(warned, 10, describe="an InvalidAnnotation Event each")
    _assert_invalid(scaler, namespace)
    assert scaler.metric("nodecount_scaler_invalid_targets") == len(EDITS)

    # A second node: the valid target follows; the invalid ones keep their replicas.
    nodes.add(labels={"suite": namespace})
    wait_until(lambda: replicas(cluster, namespace, "good") == 2, timeout=30, describe="good: 2")
    assert {n: replicas(cluster, namespace, n) for n in EDITS} == dict.fromkeys(EDITS, 1)

    # The same on first sight: a restarted service lists them as invalid, not skipped.
    scaler.stop()
    restarted = scalers.start("--namespace", namespace)
    _assert_invalid(restarted, namespace)
    assert not restarted.log_events("skipped malformed object")
    planned: list[dict[str, Any]] = json.loads(
        _output(_plan(cluster, namespace, "--output", "json").stdout)
    )
    assert {t["name"]: t["valid"] for t in planned} == {**dict.fromkeys(EDITS, False), "good": True}
