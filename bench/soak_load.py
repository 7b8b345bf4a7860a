"""What the soak does to the service besides the HTTP flood: a hostile tenant re-applying
the 32,000-requirement node selector and a 200 KB invalid value, and node churn (nodes
added, deleted, cordoned, tainted with Cluster Autoscaler's unique taint and back), each
step followed by the time every affected good target takes to converge."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from bench.soak_cluster import P, Soak, create_target, replicas_and_expected
from devcluster.api import ApiError
from devcluster.sampling import Ticker
from testkit.builders import absent_keys_selector
from testkit.workloads import nginx_everywhere

HUGE_REQUIREMENTS: Final = 32_000
VALUE_BYTES: Final = 200_000
CA_TAINT: Final = "ToBeDeletedByClusterAutoscaler"
# Nodes each churn step touches: few enough that no good target loses half its replicas
# at once (the blast-radius guard would hold it, which is not what the soak measures).
STEP_NODES: Final = 2
POLL: Final = 0.1
CHURN_STEPS: Final = ("add", "delete", "cordon", "uncordon", "taint", "untaint")


class Loop:
    """Runs `step` every `every` seconds on a daemon thread until stopped; counts the steps
    and keeps the text of the last few errors (the soak goes on through API errors)."""

    def __init__(self, name: str, every: float, step: Callable[[int], None]) -> None:
        self.name, self._step = name, step
        self.steps = 0
        self.errors: list[str] = []
        self._ticker = Ticker(self._once, every, name=name)

    def _once(self) -> None:
        try:
            self._step(self.steps)
        except (ApiError, OSError, TimeoutError) as exc:
            self.errors = [*self.errors[-9:], f"{type(exc).__name__}: {exc}"[:300]]
        self.steps += 1

    def start(self) -> Loop:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._ticker.stop(timeout=60)


# The toggling tenant's nodes-per-replica, by step parity: 12 -> 1 replica and back, a
# scale-down of its own every other step (it must cost no node list).
TOGGLE_RATIOS: Final = ("12", "1")


@dataclass
class Tenant:
    """Three hostile Deployments, patched each step: one with a huge selector (alternating
    between two, so each edit is a change), one with a fresh 200 KB invalid value, one
    toggling its nodes-per-replica (pool a: 12 replicas, then 1); and `huge` legal
    Deployments of about 1.4 MB (15,000 tolerations), one of them edited each step in
    turn."""

    soak: Soak
    huge: int = 0
    edits: int = 0

    def create(self) -> None:
        for name in ("huge-selector", "big-value"):
            create_target(self.soak.cluster, self.soak.hostile, name, {P + "min-replicas": "x"})
        pool_a = {P + "node-selector": f"suite={self.soak.good},pool=a"}
        create_target(self.soak.cluster, self.soak.hostile, "toggler", pool_a)
        collection = f"/apis/apps/v1/namespaces/{self.soak.hostile}/deployments"
        for i in range(self.huge):
            self.soak.cluster.api.post(collection, huge_target(self.soak.hostile, f"huge-{i:02d}"))

    def step(self, n: int) -> None:
        base = f"/apis/apps/v1/namespaces/{self.soak.hostile}/deployments"
        huge = absent_keys_selector(HUGE_REQUIREMENTS)
        selector = huge if n % 2 == 0 else huge.replace("!k", "!j")
        value = f"v{n}-{'x' * VALUE_BYTES}"
        for name, notes in (
            ("huge-selector", {P + "node-selector": selector, P + "min-replicas": None}),
            ("big-value", {P + "node-selector": value, P + "min-replicas": None}),
            ("toggler", {P + "nodes-per-replica": TOGGLE_RATIOS[n % 2]}),
        ):
            self.soak.cluster.api.merge_patch(
                f"{base}/{name}", {"metadata": {"annotations": notes}}
            )
            self.edits += 1
        if self.huge:
            edit = {"metadata": {"annotations": {"soak/edit": str(n)}}}
            self.soak.cluster.api.merge_patch(f"{base}/huge-{n % self.huge:02d}", edit)
            self.edits += 1


def huge_target(namespace: str, name: str) -> dict[str, Any]:
    """A valid opted-in Deployment of about 1.4 MB: a pod template of 15,000 tolerations."""
    obj = nginx_everywhere(namespace, name)
    obj["spec"]["replicas"] = 0
    obj["spec"]["template"]["spec"]["tolerations"] = [
        {"key": f"example.com/k-{i:05d}", "operator": "Equal", "value": f"value-{i:05d}",
         "effect": "NoSchedule"}
        for i in range(15_000)
    ]  # fmt: skip
    return obj


@dataclass
class Churn:
    """One change of the nodes per step, in a cycle; after each, every good target whose
    expected replicas changed is timed until its spec.replicas equals them."""

    soak: Soak
    timeout: float
    rng: random.Random = field(default_factory=lambda: random.Random(13))
    steps: list[dict[str, Any]] = field(default_factory=list)
    _touched: list[str] = field(default_factory=list)

    def step(self, n: int) -> None:
        kind = CHURN_STEPS[n % len(CHURN_STEPS)]
        before = {k: e for k, (_, e) in replicas_and_expected(self.soak).items()}
        getattr(self, f"_{kind}")()
        changed_at = time.monotonic()
        self.steps.append(
            {"step": kind, "at": time.time(), "converged": self._converge(before, changed_at)}
        )

    def _converge(self, before: dict[str, int | None], since: float) -> dict[str, float | None]:
        """Seconds from `since` until each target whose expected count moved has it; None
        for one that did not get there within the timeout."""
        times: dict[str, float | None] = {}
        pending: set[str] | None = None
        while time.monotonic() - since < self.timeout:
            now = replicas_and_expected(self.soak)
            if pending is None:
                pending = {k for k, (_, e) in now.items() if e != before.get(k)}
            for name in sorted(pending):
                actual, expected = now[name]
                if actual == expected:
                    times[name] = round(time.monotonic() - since, 3)
                    pending.discard(name)
            if not pending:
                return times
            time.sleep(POLL)
        return {**times, **dict.fromkeys(pending or (), None)}

    def _patch(self, name: str, body: dict[str, Any]) -> None:
        self.soak.cluster.api.merge_patch(f"/api/v1/nodes/{name}", body)

    def _add(self) -> None:
        pool = self.rng.choice(sorted(self.soak.pools))
        self.soak.add_nodes(STEP_NODES, pool)

    def _delete(self) -> None:
        for name in self.soak.pick(STEP_NODES, self.rng):
            self.soak.delete_node(name)

    def _cordon(self) -> None:
        self._touched = self.soak.pick(STEP_NODES, self.rng)
        for name in self._touched:
            self._patch(name, {"spec": {"unschedulable": True}})

    def _uncordon(self) -> None:
        for name in self._touched:
            self._patch(name, {"spec": {"unschedulable": None}})

    def _taint(self) -> None:
        self._touched = self.soak.pick(STEP_NODES, self.rng)
        stamp = str(int(time.time()))
        for name in self._touched:
            taint = {"key": CA_TAINT, "value": stamp, "effect": "NoSchedule"}
            self._patch(name, {"spec": {"taints": [taint]}})

    def _untaint(self) -> None:
        for name in self._touched:
            self._patch(name, {"spec": {"taints": None}})
