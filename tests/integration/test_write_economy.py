"""Write economy: one scale write per real change of the desired count, none otherwise.

The writes are counted where they land, in the API server's audit log (patches of
the Deployment by user agent nodecount-scaler/...), not in the service's own logs.
The expected desired count after every step comes from a small model of the scenario kept
by the test (the eligibility rules the scenario touches: the annotation selector, the
template nodeSelector, cordons, NoSchedule / PreferNoSchedule taints, deletion).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, replica_writes

GROUP = "economy.test/group"
ROLE = "economy.test/role"
COLOR = "economy.test/color"
SELECTOR = "nodecount-scaler.io/node-selector"
TARGET = "web"


@dataclass
class ModelNode:
    labels: dict[str, str]
    cordoned: bool = False
    taints: list[dict[str, str]] = field(default_factory=list)


class Scenario:
    """The nodes of the test and the model the expected count is computed from."""

    def __init__(self, cluster: Cluster, nodes: NodeFactory, group: str) -> None:
        self.cluster = cluster
        self.nodes = nodes
        self.group = group
        self.model: dict[str, ModelNode] = {}

    def desired(self) -> int:
        """Target: annotation selector GROUP=<group>, template nodeSelector ROLE=web."""
        return sum(
            1
            for n in self.model.values()
            if n.labels.get(GROUP) == self.group
            and n.labels.get(ROLE) == "web"
            and not n.cordoned
            and not any(t["effect"] in ("NoSchedule", "NoExecute") for t in n.taints)
        )

    def add(self, labels: dict[str, str], count: int = 1) -> list[str]:
        names = self.nodes.add_many(count, labels=labels)
        for name in names:
            self.model[name] = ModelNode(dict(labels))
        return names

    def delete(self, name: str) -> None:
        self.nodes.delete(name)
        del self.model[name]

    def label(self, name: str, key: str, value: str | None) -> None:
        self.cluster.api.merge_patch(
            f"/api/v1/nodes/{name}", {"metadata": {"labels": {key: value}}}
        )
        if value is None:
            self.model[name].labels.pop(key, None)
        else:
            self.model[name].labels[key] = value

    def cordon(self, name: str, on: bool) -> None:
        self.cluster.api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": on}})
        self.model[name].cordoned = on

    def taint(self, name: str, key: str, effect: str) -> None:
        node = self.cluster.get_node(name) or {}
        taints = [*(node["spec"].get("taints") or []), {"key": key, "effect": effect}]
        self.cluster.api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"taints": taints}})
        self.model[name].taints.append({"key": key, "effect": effect})

    def annotate(self, name: str, key: str, value: str) -> None:
        self.cluster.api.merge_patch(
            f"/api/v1/nodes/{name}", {"metadata": {"annotations": {key: value}}}
        )

    def heartbeat_all(self) -> None:
        """What kubelets' status updates do: new heartbeat times, same conditions."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in self.model:
            node = self.cluster.get_node(name) or {}
            conditions = [
                {"type": c["type"], "lastHeartbeatTime": now}
                for c in node.get("status", {}).get("conditions") or []
            ]
            self.cluster.api.request(
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                {"status": {"conditions": conditions}},
                content_type="application/strategic-merge-patch+json",
            )


def scale_writes(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """Replica writes of the service to the target, from the audit log."""
    return replica_writes(cluster, namespace, TARGET)


def node_events_seen(scaler: ScalerProcess) -> float:
    return scaler.metric_sum("nodecount_scaler_watch_events_total", resource="nodes")


def test_one_write_per_change_of_the_desired_count(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    group = f"g{secrets.token_hex(4)}"
    other = f"o{secrets.token_hex(4)}"
    s = Scenario(cluster, nodes, group)
    web = s.add({GROUP: group, ROLE: "web"}, 3)
    target = nginx_everywhere(namespace, TARGET, **{SELECTOR: f"{GROUP}={group}"})
    # The template places pods on the group's web nodes only (the scheduler does not read
    # the annotation); its nodeSelector is one of the rules the service evaluates.
    target["spec"]["template"]["spec"]["nodeSelector"] = {GROUP: group, ROLE: "web"}
    apply(cluster, target)
    scaler = scalers.start("--namespace", namespace)
    wait_until(lambda: replicas(cluster, namespace, TARGET) == 3, timeout=30, describe="3 replicas")
    wait_until(lambda: len(scale_writes(cluster, namespace)) == 1, timeout=10, describe="adoption")

    holder: dict[str, str] = {}

    def add_db() -> None:
        holder["db"] = s.add({GROUP: group, ROLE: "db"})[0]

    def add_other() -> None:
        holder["other"] = s.add({GROUP: other, ROLE: "web"})[0]

    def add_web() -> None:
        holder["web4"] = s.add({GROUP: group, ROLE: "web"})[0]

    # Whether a step changes the desired count is decided by the model, not by the list.
    steps: list[tuple[str, Callable[[], None]]] = [
        ("add a web node", add_web),
        ("add a db node of the group", add_db),
        ("add a web node of another group", add_other),
        ("cordon a web node", lambda: s.cordon(web[0], True)),
        ("uncordon it", lambda: s.cordon(web[0], False)),
        ("label a web node with an unselected key", lambda: s.label(web[1], COLOR, "blue")),
        ("relabel that label", lambda: s.label(web[1], COLOR, "green")),
        (
            "PreferNoSchedule taint on a web node",
            lambda: s.taint(web[2], "soft", "PreferNoSchedule"),
        ),
        ("annotate a web node", lambda: s.annotate(web[0], "economy.test/note", "hello")),
        ("heartbeat every node", s.heartbeat_all),
        ("cordon the other group's node", lambda: s.cordon(holder["other"], True)),
        (
            "relabel the other group's node to a third group",
            lambda: s.label(holder["other"], GROUP, "third"),
        ),
        ("relabel a web node to db", lambda: s.label(web[1], ROLE, "db")),
        ("relabel the db node to web", lambda: s.label(holder["db"], ROLE, "web")),
        ("NoSchedule taint on a web node", lambda: s.taint(web[2], "hard", "NoSchedule")),
        ("move the other node into the group", lambda: s.label(holder["other"], GROUP, group)),
        ("uncordon it", lambda: s.cordon(holder["other"], False)),
        ("delete an ineligible node (tainted)", lambda: s.delete(web[2])),
        ("delete an eligible node", lambda: s.delete(holder["web4"])),
        ("remove the group label from an eligible node", lambda: s.label(web[0], GROUP, None)),
        ("heartbeat every node again", s.heartbeat_all),
    ]

    desired = s.desired()
    assert desired == 3
    expected_values = [3]
    rows = []
    irrelevant_writes = 0
    for description, action in steps:
        before = len(scale_writes(cluster, namespace))
        seen = node_events_seen(scaler)
        action()
        new_desired = s.desired()
        if new_desired != desired:
            expected_values.append(new_desired)

            def scaled(want: int = new_desired) -> bool:
                return replicas(cluster, namespace, TARGET) == want

            wait_until(
                scaled,
                timeout=15,
                interval=0.05,
                describe=f"{new_desired} replicas after: {description}",
            )
        else:

            def noticed(seen: float = seen) -> bool:
                return node_events_seen(scaler) > seen

            wait_until(
                noticed,
                timeout=15,
                interval=0.05,
                describe=f"the service to see: {description}",
            )
        time.sleep(0.4)  # time for a (wrong) write to happen
        made = len(scale_writes(cluster, namespace)) - before
        want = int(new_desired != desired)
        rows.append((description, desired, new_desired, made))
        if not want:
            irrelevant_writes += made
        assert made == want, (
            f"step {description!r}: desired {desired} -> {new_desired}, "
            f"expected {want} write(s), the audit log shows {made}"
        )
        desired = new_desired

    time.sleep(1.0)
    writes = scale_writes(cluster, namespace)
    codes = [int((e.get("responseStatus") or {}).get("code", 0)) for e in writes]
    logged = [int(e["to"]) for e in scaler.log_events("rescaled") if e.get("target") == TARGET]
    changes = len(expected_values)  # including the adoption write
    print(
        "\n"
        + "\n".join(f"  {d:50s} desired {a} -> {b}: {m} write(s)" for d, a, b, m in rows)
        + f"\nscale writes in the audit log: {len(writes)}, expected {changes} "
        f"(desired sequence {expected_values}); writes on irrelevant changes: "
        f"{irrelevant_writes}"
    )
    assert len(writes) == changes
    assert codes == [200] * len(writes)
    assert logged == expected_values
    assert replicas(cluster, namespace, TARGET) == expected_values[-1]
