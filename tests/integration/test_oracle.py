"""The oracle: random cluster states, the real scheduler, and an independent reference.

For each random state (nodes with random pools, zones, taints and cordons; one target with
a random annotation selector, template nodeSelector / required node affinity, tolerations,
sometimes a template nodeName, plus required hostname anti-affinity and maxSurge 0), after
reconciliation:

- replicas == the number of eligible nodes, computed here from the Node and Deployment
  objects by a small reference written from the rules of docs/eligibility.md (nodecount_scaler's own
  eligibility code is deliberately not imported);
- the real kube-scheduler placed every replica (no Pending pod), one pod per node;
- "strong" states (every node where a pod could stay is also eligible, i.e. the annotation
  excludes nothing the template allows): every eligible node runs exactly one pod;
- where DaemonSet semantics coincide with eligibility for every node of the state (checked
  node by node with a DaemonSet reference: cordons, NoExecute tolerated only with
  tolerationSeconds and template nodeName make them differ), a DaemonSet with the same pod
  template (minus anti-affinity, plus the annotation's requirements) has
  status.desiredNumberScheduled == replicas.

The seed is printed; ORACLE_SEED=<n> replays a run, ORACLE_STATES=<n> changes the count.
One scaler process and one namespace serve the whole batch; every template carries a
nodeSelector on the state's own label, so the scheduler only sees the state's nodes.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.api import ApiError
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import pods

# The server-dependent part that runs on every supported release (hack/test.sh compat).
pytestmark = pytest.mark.compat


STATE_LABEL = "oracle.test/state"
POOL = "oracle.test/pool"
ZONE = "oracle.test/zone"
T1 = "oracle.test/t1"
T2 = "oracle.test/t2"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
ANNOTATION_ENABLED = "nodecount-scaler.io/enabled"
ANNOTATION_SELECTOR = "nodecount-scaler.io/node-selector"
PAUSE = "registry.k8s.io/pause:3.10"
SETTLE_TIMEOUT = 45.0

# (key, operator, values): one label requirement, rendered both as a kubectl-syntax selector
# (the annotation) and as a NodeSelectorRequirement (template affinity, DaemonSet).
Req = tuple[str, str, tuple[str, ...]]


# --------------------------------------------------------------------------- reference


def _req_matches(labels: Mapping[str, str], key: str, op: str, values: Sequence[str]) -> bool:
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        if key not in labels or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    raise AssertionError(f"unknown operator {op}")


def _term_matches(node: Mapping[str, Any], term: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    labels = node["metadata"].get("labels") or {}
    for e in exprs:
        if not _req_matches(labels, e["key"], e["operator"], e.get("values") or ()):
            return False
    for f in fields:
        assert f["key"] == "metadata.name"
        if not _req_matches(
            {"metadata.name": node["metadata"]["name"]}, f["key"], f["operator"], f["values"]
        ):
            return False
    return True


def _affinity_matches(node: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or None
    if required is None:
        return True
    return any(_term_matches(node, t) for t in required.get("nodeSelectorTerms") or [])


def _tolerates(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if tol.get("effect") and tol["effect"] != taint["effect"]:
        return False
    operator = tol.get("operator") or "Equal"
    key = tol.get("key") or ""
    if not key:
        return operator == "Exists"
    if key != taint["key"]:
        return False
    if operator == "Exists":
        return True
    return bool((tol.get("value") or "") == (taint.get("value") or ""))


def _taint_tolerated(
    taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]], *, seconds_count: bool
) -> bool:
    for tol in tolerations:
        if not _tolerates(tol, taint):
            continue
        if taint["effect"] == "NoExecute" and tol.get("tolerationSeconds") is not None:
            if seconds_count:
                return True
            continue  # the pod would be evicted when the time runs out
        return True
    return False


def _ready(node: Mapping[str, Any]) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def _placement_ok(node: Mapping[str, Any], spec: Mapping[str, Any], *, seconds_count: bool) -> bool:
    """Rules 3-6 of docs/eligibility.md for a Deployment pod (the scheduler's filters,
    with NoExecute tolerated only by tolerationSeconds counting as a pod that cannot stay
    unless ``seconds_count``)."""
    if spec.get("nodeName") and spec["nodeName"] != node["metadata"]["name"]:
        return False
    if not _affinity_matches(node, spec):
        return False
    tolerations = spec.get("tolerations") or []
    cordon = {"key": UNSCHEDULABLE, "effect": "NoSchedule"}
    if (node.get("spec") or {}).get("unschedulable") and not _taint_tolerated(
        cordon, tolerations, seconds_count=False
    ):
        return False
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint["effect"] not in ("NoSchedule", "NoExecute"):
            continue
        if not _taint_tolerated(taint, tolerations, seconds_count=seconds_count):
            return False
    return True


def parse_annotation_selector(text: str) -> list[Req]:
    """The kubectl selector forms this test writes (k=v, k!=v, k in (..), k notin (..), k,
    !k), read back from the stored annotation."""
    reqs: list[Req] = []
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for part in (p.strip() for p in parts if p.strip()):
        if " notin " in part or " in " in part:
            key, op, rest = part.partition(" notin " if " notin " in part else " in ")
            values = tuple(v.strip() for v in rest.strip().strip("()").split(","))
            reqs.append((key.strip(), "NotIn" if "notin" in op else "In", values))
        elif "!=" in part:
            key, _, value = part.partition("!=")
            reqs.append((key.strip(), "NotIn", (value.strip(),)))
        elif "=" in part:
            key, _, value = part.partition("=")
            reqs.append((key.strip(), "In", (value.strip(),)))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "DoesNotExist", ()))
        else:
            reqs.append((part, "Exists", ()))
    return reqs


def reference_eligible(
    node: Mapping[str, Any], annotation: Sequence[Req], spec: Mapping[str, Any]
) -> bool:
    """The rules of docs/eligibility.md, written independently of nodecount_scaler."""
    labels = node["metadata"].get("labels") or {}
    return (
        all(_req_matches(labels, k, op, vals) for k, op, vals in annotation)
        and not node["metadata"].get("deletionTimestamp")
        and _placement_ok(node, spec, seconds_count=False)
        and _ready(node)
    )


def pod_can_stay(node: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """A node where the scheduler may place a pod of the template and it is not evicted
    (the annotation selector plays no part: the scheduler does not read it)."""
    return _placement_ok(node, spec, seconds_count=False)


def daemonset_should_run(node: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """The DaemonSet controller (see docs/eligibility.md): nodeName, affinity, and
    NoSchedule/NoExecute taints tolerated (tolerationSeconds ignored) with the automatic
    DaemonSet tolerations; no Ready check."""
    if spec.get("nodeName") and spec["nodeName"] != node["metadata"]["name"]:
        return False
    if not _affinity_matches(node, spec):
        return False
    automatic = [
        {"key": k, "operator": "Exists", "effect": e}
        for k, e in (
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            (UNSCHEDULABLE, "NoSchedule"),
        )
    ]
    tolerations = [*(spec.get("tolerations") or []), *automatic]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint["effect"] not in ("NoSchedule", "NoExecute"):
            continue
        if not _taint_tolerated(taint, tolerations, seconds_count=True):
            return False
    return True


# --------------------------------------------------------------------------- random states


@dataclass
class NodePlan:
    labels: dict[str, str]
    taints: list[dict[str, str]]
    cordoned: bool


@dataclass
class StatePlan:
    index: int
    label: str
    nodes: list[NodePlan]
    annotation: list[Req]
    mirrored: bool
    node_selector: dict[str, str]
    affinity_terms: list[list[Req]]
    tolerations: list[dict[str, Any]]
    node_name_index: int | None
    names: list[str] = field(default_factory=list)

    @property
    def deployment(self) -> str:
        return f"s{self.index}"

    def describe(self) -> str:
        nodes = []
        for name, n in zip(self.names, self.nodes, strict=True):
            bits = [f"{k.split('/')[-1]}={v}" for k, v in n.labels.items() if k != STATE_LABEL]
            bits += [f"{t['key'].split('/')[-1]}={t['value']}:{t['effect']}" for t in n.taints]
            if n.cordoned:
                bits.append("cordoned")
            nodes.append(f"{name[-6:]}[{' '.join(bits)}]")
        return (
            f"nodes {' '.join(nodes)}; annotation {render_selector(self.annotation)!r}"
            f"{' (mirrored)' if self.mirrored else ''}; nodeSelector {self.node_selector}; "
            f"affinity {self.affinity_terms}; tolerations {self.tolerations}; "
            f"nodeName {self.node_name_index}"
        )


def _random_req(rng: random.Random) -> Req:
    key, values = rng.choice([(POOL, ("a", "b", "c")), (ZONE, ("z1", "z2"))])
    op = rng.choice(["In", "In", "NotIn", "NotIn", "Exists", "Exists", "DoesNotExist"])
    if op == "In":
        return key, op, tuple(sorted(rng.sample(values, len(values) - 1)))
    if op == "NotIn":
        return key, op, tuple(sorted(rng.sample(values, rng.randint(1, len(values) - 1))))
    return key, op, ()


def _random_tolerations(rng: random.Random) -> list[dict[str, Any]]:
    candidates: list[dict[str, Any]] = [
        {"key": T1, "operator": "Equal", "value": "x", "effect": "NoSchedule"},
        {"key": T1, "operator": "Exists"},
        {"key": T2, "operator": "Equal", "value": "y"},
        {"key": T2, "operator": "Exists", "effect": "NoExecute"},
        {"key": T1, "operator": "Equal", "value": "x", "effect": "NoExecute"},
        {"key": T1, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0},
        {
            "key": T2,
            "operator": "Equal",
            "value": "x",
            "effect": "NoExecute",
            "tolerationSeconds": 0,
        },
        {"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"},
    ]
    chosen = [t for t in candidates if rng.random() < 0.35]
    if rng.random() < 0.04:
        chosen.append({"operator": "Exists"})  # tolerates everything
    return chosen


def draw_state(rng: random.Random, index: int, run: str) -> StatePlan:
    label = f"{run}-{index}"
    node_plans = []
    for _ in range(rng.randint(4, 6)):
        labels = {STATE_LABEL: label}
        pool = rng.choice(["a", "a", "b", "b", "c", None])
        zone = rng.choice(["z1", "z1", "z2", "z2", None])
        if pool:
            labels[POOL] = pool
        if zone:
            labels[ZONE] = zone
        taints: dict[tuple[str, str], dict[str, str]] = {}
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            t = {
                "key": rng.choice([T1, T2]),
                "value": rng.choice(["x", "y"]),
                "effect": rng.choice(["NoSchedule", "NoExecute", "PreferNoSchedule"]),
            }
            taints[(t["key"], t["effect"])] = t  # the API rejects a duplicate key+effect
        node_plans.append(NodePlan(labels, list(taints.values()), rng.random() < 0.15))
    annotation = [_random_req(rng) for _ in range(rng.choice([0, 0, 1, 1, 2]))]
    mirrored = bool(annotation) and rng.random() < 0.6
    node_selector = {STATE_LABEL: label}
    if rng.random() < 0.15:
        node_selector[POOL] = rng.choice(["a", "b", "c"])
    terms: list[list[Req]] = []
    if rng.random() < 0.4:
        sizes = [rng.choice([1, 1, 2]) for _ in range(rng.randint(1, 2))]
        terms = [[_random_req(rng) for _ in range(size)] for size in sizes]
    node_name_index = rng.randrange(len(node_plans)) if rng.random() < 0.08 else None
    return StatePlan(
        index,
        label,
        node_plans,
        annotation,
        mirrored,
        node_selector,
        terms,
        _random_tolerations(rng),
        node_name_index,
    )


def render_selector(reqs: Sequence[Req]) -> str:
    parts = []
    for key, op, values in reqs:
        if op == "In":
            parts.append(
                f"{key}={values[0]}" if len(values) == 1 else f"{key} in ({','.join(values)})"
            )
        elif op == "NotIn":
            parts.append(
                f"{key}!={values[0]}" if len(values) == 1 else f"{key} notin ({','.join(values)})"
            )
        elif op == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


def _expressions(reqs: Sequence[Req]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, op, values in reqs:
        expr: dict[str, Any] = {"key": key, "operator": op}
        if values:
            expr["values"] = list(values)
        out.append(expr)
    return out


def _node_affinity(terms: Sequence[Sequence[Req]], extra: Sequence[Req]) -> dict[str, Any] | None:
    """Required node affinity; ``extra`` is ANDed into every term ((T1|T2)&S)."""
    if not terms and not extra:
        return None
    full = [[*t, *extra] for t in terms] if terms else [list(extra)]
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": _expressions(t)} for t in full]
        }
    }


def pod_spec(plan: StatePlan, *, for_daemonset: bool) -> dict[str, Any]:
    app = plan.deployment
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": PAUSE}],
        "terminationGracePeriodSeconds": 0,
        "nodeSelector": dict(plan.node_selector),
    }
    if plan.tolerations:
        spec["tolerations"] = [dict(t) for t in plan.tolerations]
    if plan.node_name_index is not None:
        spec["nodeName"] = plan.names[plan.node_name_index]
    affinity: dict[str, Any] = {}
    # The DaemonSet has no annotation: its requirements go into the template instead.
    extra = plan.annotation if (plan.mirrored or for_daemonset) else []
    node_affinity = _node_affinity(plan.affinity_terms, extra)
    if node_affinity:
        affinity["nodeAffinity"] = node_affinity
    if not for_daemonset:
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": app}},
                }
            ]
        }
    if affinity:
        spec["affinity"] = affinity
    return spec


def deployment_object(namespace: str, plan: StatePlan) -> dict[str, Any]:
    app = plan.deployment
    annotations = {ANNOTATION_ENABLED: "true"}
    if plan.annotation:
        annotations[ANNOTATION_SELECTOR] = render_selector(plan.annotation)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": namespace, "annotations": annotations},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": app}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": pod_spec(plan, for_daemonset=False),
            },
        },
    }


def daemonset_object(namespace: str, plan: StatePlan) -> dict[str, Any]:
    app = f"ds-{plan.deployment}"
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": app, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": pod_spec(plan, for_daemonset=True),
            },
        },
    }


# --------------------------------------------------------------------------- one state


@dataclass
class Outcome:
    strong: bool
    daemonset: int | None
    eligible: int
    seconds: float


def _create_nodes(cluster: Cluster, nodes: NodeFactory, plan: StatePlan) -> None:
    for n in plan.nodes:
        plan.names += nodes.add_many(1, labels=n.labels, taints=n.taints, ready_wait=False)
    for name in plan.names:
        cluster.wait_node_ready(name, timeout=60)
    for name, n in zip(plan.names, plan.nodes, strict=True):
        if n.cordoned:
            cluster.api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}})


def _observe(cluster: Cluster, namespace: str, app: str) -> tuple[int, Counter[str], list[str]]:
    dep = cluster.api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{app}")
    live = pods(cluster, namespace, app)
    running = Counter(
        p["spec"].get("nodeName", "") for p in live if p.get("status", {}).get("phase") == "Running"
    )
    others = [
        f"{p['metadata']['name']}:{p.get('status', {}).get('phase')}@{p['spec'].get('nodeName')}"
        for p in live
        if p.get("status", {}).get("phase") != "Running"
    ]
    return int(dep["spec"].get("replicas", 1)), running, others


def run_state(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scaler: ScalerProcess,
    plan: StatePlan,
) -> Outcome:
    started = time.monotonic()
    _create_nodes(cluster, nodes, plan)
    api_nodes = [cluster.get_node(n) or {} for n in plan.names]
    dep_obj = deployment_object(namespace, plan)
    cluster.api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", dep_obj)
    # The reference reads what the API server stored (defaults applied).
    stored = cluster.api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{plan.deployment}")
    spec = stored["spec"]["template"]["spec"]
    annotation = parse_annotation_selector(
        (stored["metadata"].get("annotations") or {}).get(ANNOTATION_SELECTOR, "")
    )
    assert sorted(annotation) == sorted(plan.annotation), "the test's own selector parser"
    eligible = {n["metadata"]["name"] for n in api_nodes if reference_eligible(n, annotation, spec)}
    can_stay = {n["metadata"]["name"] for n in api_nodes if pod_can_stay(n, spec)}
    strong = can_stay == eligible
    assert eligible <= can_stay, "an eligible node must be one where a pod can stay"

    ds_spec = pod_spec(plan, for_daemonset=True)
    coincide = plan.node_name_index is None and all(
        daemonset_should_run(n, ds_spec) == (n["metadata"]["name"] in eligible) for n in api_nodes
    )
    ds_path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets"
    if coincide:
        cluster.api.post(ds_path, daemonset_object(namespace, plan))

    app = plan.deployment
    last: tuple[int, Counter[str], list[str]] = (0, Counter(), [])

    def settled() -> bool:
        nonlocal last
        last = reps, running, others = _observe(cluster, namespace, app)
        if reps != len(eligible) or others or sum(running.values()) != reps:
            return False
        if any(c != 1 for c in running.values()) or not set(running) <= can_stay:
            return False
        return not strong or set(running) == eligible

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not settled():
        if time.monotonic() > deadline:
            target = scaler.target(namespace, app)
            raise AssertionError(
                f"state {plan.index} did not settle: {plan.describe()}\n"
                f"reference eligible={sorted(eligible)} can_stay={sorted(can_stay)}\n"
                f"(replicas, running per node, other pods)={last}\n"
                f"scaler's view: {target}"
            )
        time.sleep(0.2)

    target = scaler.target(namespace, app)
    assert target is not None
    assert target["eligible"] == len(eligible), (target, plan.describe())
    # One write from 0 to the eligible count, none when it is 0.
    writes = [e for e in scaler.log_events("rescaled") if e.get("target") == app]
    assert [(e["from"], e["to"]) for e in writes] == ([(0, len(eligible))] if eligible else []), (
        writes,
        plan.describe(),
    )
    ds_desired: int | None = None
    if coincide:

        def ds_status() -> dict[str, Any] | None:
            ds = cluster.api.get(f"{ds_path}/ds-{app}")
            status: dict[str, Any] = ds.get("status") or {}
            if status.get("observedGeneration") != ds["metadata"]["generation"]:
                return None
            return status

        status = wait_until(ds_status, timeout=20, interval=0.2, describe="DaemonSet status")
        ds_desired = int(status.get("desiredNumberScheduled", 0))
        assert ds_desired == len(eligible), (
            f"state {plan.index}: DaemonSet desiredNumberScheduled={ds_desired} but "
            f"replicas={len(eligible)}: {plan.describe()}"
        )
        cluster.api.delete(f"{ds_path}/ds-{app}")
    cluster.api.delete(f"/apis/apps/v1/namespaces/{namespace}/deployments/{app}")
    for name in plan.names:
        nodes.delete(name)
    return Outcome(strong, ds_desired, len(eligible), time.monotonic() - started)


# --------------------------------------------------------------------------- the test


def test_oracle_random_states(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    seed = int(os.environ.get("ORACLE_SEED") or secrets.randbits(32))
    count = int(os.environ.get("ORACLE_STATES") or 30)
    print(f"\noracle seed: {seed} (replay with ORACLE_SEED={seed}); {count} states")
    rng = random.Random(seed)
    run = secrets.token_hex(3)
    scaler = scalers.start("--namespace", namespace)
    started = time.monotonic()
    outcomes = []
    for index in range(count):
        plan = draw_state(rng, index, run)
        try:
            outcome = run_state(cluster, namespace, nodes, scaler, plan)
        except (AssertionError, ApiError) as exc:
            raise AssertionError(f"oracle seed {seed}, state {index}: {exc}") from exc
        outcomes.append(outcome)
        print(
            f"  state {index:2d}: {len(plan.nodes)} nodes, eligible {outcome.eligible}, "
            f"{'strong' if outcome.strong else 'weak  '}, "
            f"daemonset {'-' if outcome.daemonset is None else outcome.daemonset}, "
            f"{outcome.seconds:.1f} s"
        )
        scaler.assert_alive()
    strong = sum(o.strong for o in outcomes)
    compared = sum(o.daemonset is not None for o in outcomes)
    print(
        f"oracle: {count} states in {time.monotonic() - started:.1f} s; {strong} strong, "
        f"{compared} compared with a DaemonSet; eligible counts "
        f"{sorted(Counter(o.eligible for o in outcomes).items())}"
    )
