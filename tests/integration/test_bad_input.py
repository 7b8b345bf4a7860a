"""Invalid annotations: a Warning InvalidAnnotation Event naming key and value, replicas
untouched, /status valid=false with the error, `plan` exits 1 and prints it; a valid target
in the same namespace still converges."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory
from devcluster.workloads import events, replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, replica_writes

P = "nodecount-scaler.io/"
NODE_SELECTOR = P + "node-selector"
MIN = P + "min-replicas"
MAX = P + "max-replicas"
NPR = P + "nodes-per-replica"

# Target -> (its extra annotations, the key and value the error must name, problem text).
BAD: dict[str, tuple[dict[str, str], str, str, str]] = {
    "bad-selector": (
        {NODE_SELECTOR: "pool in (a"},
        NODE_SELECTOR,
        "pool in (a",
        "invalid selector",
    ),
    "min-negative": ({MIN: "-1"}, MIN, "-1", "must be 0 or more"),
    "min-abc": ({MIN: "abc"}, MIN, "abc", "not an integer"),
    "min-gt-max": ({MIN: "3", MAX: "2"}, MIN, "3", "min-replicas 3 is greater than max-replicas 2"),
    "npr-zero": ({NPR: "0"}, NPR, "0", "must be greater than 0"),
}


def _target(namespace: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, name, **{NODE_SELECTOR: f"suite={namespace}", **annotations})
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"suite": namespace}
    obj["spec"]["replicas"] = 1
    return obj


def _plan(cluster: Cluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("nodecount-scaler")
    return subprocess.run(
        [
            str(command),
            "plan",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--namespace",
            namespace,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _output(stdout: str) -> str:
    """The command's output without the JSON log lines `plan` also prints to stdout."""
    return "\n".join(
        line for line in stdout.splitlines() if line.strip() and not line.startswith('{"')
    )


def test_invalid_annotations_are_reported_and_left_alone(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    nodes.add_many(2, labels={"suite": namespace})
    items = [_target(namespace, name, extra) for name, (extra, *_) in BAD.items()]
    items.append(_target(namespace, "good", {MIN: "1", MAX: "5", NPR: "1"}))
    apply(cluster, {"apiVersion": "v1", "kind": "List", "items": items})
    scaler = scalers.start("--namespace", namespace)

    wait_until(lambda: replicas(cluster, namespace, "good") == 2, timeout=30, describe="good: 2")

    def invalid_events() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for e in events(cluster, namespace, "InvalidAnnotation"):
            found.setdefault(e["involvedObject"]["name"], []).append(e)
        return found

    def every_bad_target_reported() -> dict[str, list[dict[str, Any]]] | None:
        found = invalid_events()
        return found if found.keys() >= BAD.keys() else None

    by_target = wait_until(
        every_bad_target_reported,
        timeout=30,
        describe="an InvalidAnnotation Event for every bad target",
    )
    assert set(by_target) == set(BAD), "no InvalidAnnotation for the valid target"
    for name, (_, key, value, problem) in BAD.items():
        (event,) = by_target[name]
        assert event["type"] == "Warning"
        message = event["message"]
        assert f"{key}={value!r}" in message, message
        assert problem in message, message

    time.sleep(2)  # a window in which a wrong write would show up
    written = {e["objectRef"]["name"] for e in replica_writes(cluster, namespace)}
    assert written == {"good"}
    assert {line["target"] for line in scaler.log_events("rescaled")} == {"good"}
    for name, (_, key, value, problem) in BAD.items():
        assert replicas(cluster, namespace, name) == 1, name
        status = scaler.target(namespace, name)
        assert status is not None
        assert (status["valid"], status["eligible"], status["desired"]) == (False, None, None)
        assert any(f"{key}={value!r}" in e and problem in e for e in status["errors"]), status
    good = scaler.target(namespace, "good")
    assert good is not None
    assert (good["valid"], good["eligible"], good["desired"], good["errors"]) == (True, 2, 2, [])
    # An invalid target is reported once, not on every reconcile.
    assert len(scaler.log_events("invalid annotation, target left untouched")) == len(BAD)

    # Fixing the annotation makes the target valid: it converges like any other.
    cluster.kubectl("-n", namespace, "annotate", "--overwrite", "deployment/min-abc", f"{MIN}=1")
    wait_until(
        lambda: replicas(cluster, namespace, "min-abc") == 2, timeout=30, describe="fixed: 2"
    )
    fixed = scaler.target(namespace, "min-abc")
    assert fixed is not None
    assert (fixed["valid"], fixed["errors"]) == (True, [])
    still_bad = {name: BAD[name] for name in BAD if name != "min-abc"}

    table = _plan(cluster, namespace)
    assert table.returncode == 1, table
    rows = {line.split()[1]: line for line in _output(table.stdout).splitlines()[1:]}
    assert set(rows) == {*BAD, "good"}, table.stdout
    for name, (_, key, value, problem) in still_bad.items():
        assert f"{key}={value!r}: {problem}" in rows[name], rows[name]
    assert rows["good"].split()[2:5] == ["2", "2", "2"], rows["good"]

    as_json = _plan(cluster, namespace, "--output", "json")
    assert as_json.returncode == 1, as_json
    planned = {t["name"]: t for t in json.loads(_output(as_json.stdout))}
    assert {n: t["valid"] for n, t in planned.items()} == {
        **dict.fromkeys(still_bad, False),
        "good": True,
        "min-abc": True,
    }
    assert planned["good"]["desired"] == 2


def test_plan_json_stdout_is_only_json(cluster: Cluster, namespace: str) -> None:
    apply(cluster, _target(namespace, "bad", {MIN: "abc"}))
    result = _plan(cluster, namespace, "--output", "json")
    assert result.returncode == 1, result
    planned = json.loads(result.stdout)
    assert [(t["name"], t["valid"]) for t in planned] == [("bad", False)]
