"""Synthetic opted-in Deployments (targets): ten families of node selectors and pod
placements whose (annotation selector, placement) pairs are all distinct (see README)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from bench.node_facts import DEDICATED_POOLS, MAINTENANCE_TAINT, POOL_COUNT, T0, ts
from bench.synthetic_nodes import REGIONS, TEAMS, TIERS, hex_digits, uid
from nodecount_scaler.model.keys import (
    ENABLED,
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
)
from nodecount_scaler.model.targets import TargetView, project_target
from testkit.builders import anti_affinity, expr, required_affinity, term, toleration

Json = dict[str, Any]
FAMILIES: Final = 10


@dataclass(slots=True)
class TargetShape:
    selector: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    terms: list[list[Json]] | None = None
    name_field: str = ""
    tolerations: list[Json] = field(default_factory=list)


def _zone(j: int) -> str:
    region = ("europe-west4", "us-central1")[j % 2]
    letters = REGIONS[region]
    return f"{region}-{letters[(j // 2) % len(letters)]}"


def _pool(j: int) -> str:
    return f"p{j % POOL_COUNT}"


def _tier(j: int) -> str:
    return TIERS[j % len(TIERS)]


def _other_tier(j: int) -> str:
    return TIERS[(j + 2) % len(TIERS)]


def _generation(j: int) -> str:
    return str(1 + j % 4)


# --- the ten families: the j-th member of each; families and j keep selectors distinct ---


def _annotation_equality(j: int) -> TargetShape:
    extra = ",env=prod" if j >= POOL_COUNT else ""
    return TargetShape(selector=f"pool={_pool(j)}{extra}")


def _annotation_set_based(j: int) -> TargetShape:
    return TargetShape(
        selector=f"topology.kubernetes.io/zone in ({_zone(j)},{_zone(j + 1)}),"
        f"tier notin ({_other_tier(j)}),example.com/generation!={_generation(j)}"
    )


def _annotation_not_key(j: int) -> TargetShape:
    return TargetShape(selector=f"!cloud.google.com/gke-spot,tier={_tier(j)},team={TEAMS[j % 12]}")


def _template_node_selector(j: int) -> TargetShape:
    env = ("prod", "staging")[j % 2]
    return TargetShape(node_selector={"pool": _pool(j), "kubernetes.io/arch": "amd64", "env": env})


def _affinity_in_not_in(j: int) -> TargetShape:
    return TargetShape(
        terms=[
            [
                expr("topology.kubernetes.io/zone", "In", _zone(j), _zone(j + 3)),
                expr("tier", "NotIn", _other_tier(j), "batch"),
                expr("example.com/rack", "NotIn", f"rack-{j:02d}"),
            ]
        ]
    )


def _affinity_gt_exists(j: int) -> TargetShape:
    gpu = toleration("nvidia.com/gpu", "Exists", effect="NoSchedule")
    return TargetShape(
        terms=[
            [
                expr("cloud.google.com/gke-cpu-scaling-level", "Gt", str(4 * (1 + j % 8))),
                expr("example.com/generation", "Gt", str((j // 8) % 4)),
                expr("nvidia.com/gpu" if j % 2 else "example.com/gpu-count", "Exists"),
            ]
        ],
        tolerations=[gpu] if j % 2 else [],
    )


def _tolerates_dedicated_pool(j: int) -> TargetShape:
    """Tolerates a custom NoSchedule taint, pinned to that pool."""
    dedicated = f"p{DEDICATED_POOLS[j % len(DEDICATED_POOLS)]}"
    return TargetShape(
        node_selector={"pool": dedicated},
        selector=f"example.com/generation>{(j // 3) % 4}" if j >= 3 else "",
        tolerations=[toleration("dedicated", "Equal", dedicated, "NoSchedule")],
    )


def _tolerates_everything(j: int) -> TargetShape:
    """operator Exists with no key, like a node agent."""
    return TargetShape(
        selector=f"tier={_tier(j)},env=prod" if j % 2 else f"team={TEAMS[j % 12]}",
        tolerations=[toleration(operator="Exists")],
    )


def _affinity_ored_terms(j: int) -> TargetShape:
    return TargetShape(
        terms=[
            [expr("pool", "In", _pool(j), f"p{(j + 5) % POOL_COUNT}")],
            [
                expr("topology.kubernetes.io/zone", "In", _zone(j)),
                expr("tier", "In", _tier(j)),
                expr("cloud.google.com/gke-spot", "DoesNotExist"),
            ],
        ]
    )


def _everything_at_once(j: int) -> TargetShape:
    """NoExecute toleration with and without seconds; two members keyed per node."""
    maintenance = toleration(
        MAINTENANCE_TAINT["key"],
        "Equal",
        MAINTENANCE_TAINT["value"],
        "NoExecute",
        600 if j % 2 else None,
    )
    shape = TargetShape(
        selector=f"env=prod,example.com/cost-center notin (cc-{1000 + j % 10})",
        node_selector={"tier": _tier(j)},
        terms=[[expr("example.com/generation", "In", _generation(j), str(5 - j % 4))]],
        tolerations=[maintenance],
    )
    if j == 1:
        # Keyed on a per-node label: one memo entry per node.
        shape.selector += ",kubernetes.io/hostname notin (a,b,c)"
    if j == 2:
        # Name-dependent rule: every node is a distinct memo key.
        shape.name_field = "gke-prod-p0-00000000-00000"
    return shape


SHAPES: Final[tuple[Callable[[int], TargetShape], ...]] = (
    _annotation_equality,
    _annotation_set_based,
    _annotation_not_key,
    _template_node_selector,
    _affinity_in_not_in,
    _affinity_gt_exists,
    _tolerates_dedicated_pool,
    _tolerates_everything,
    _affinity_ored_terms,
    _everything_at_once,
)


def target_shape(kind: int, j: int) -> TargetShape:
    """The j-th selector of one of the ten families."""
    return SHAPES[kind](j)


# --- Deployments ----------------------------------------------------------------------------


def _annotations(index: int, shape: TargetShape, rng: random.Random) -> dict[str, str]:
    annotations = {
        ENABLED.key: "true",
        "deployment.kubernetes.io/revision": str(rng.randint(1, 40)),
    }
    if shape.selector:
        annotations[NODE_SELECTOR.key] = shape.selector
    if index % 3 == 0:
        annotations[MIN_REPLICAS.key] = str(1 + index % 4)
    if index % 4 == 0:
        annotations[MAX_REPLICAS.key] = str(50 + index)
    if index % 5 == 0:
        annotations[NODES_PER_REPLICA.key] = ("2", "0.5", "3.5")[index % 3]
    return annotations


def _affinity(index: int, name: str, shape: TargetShape) -> Json:
    affinity: Json = {}
    if shape.terms is not None or shape.name_field:
        terms = [term(*expressions) for expressions in shape.terms or []] or [term()]
        if shape.name_field:
            terms[0]["matchFields"] = [expr("metadata.name", "NotIn", shape.name_field)]
        affinity.update(required_affinity(*terms))
    if index % 2:
        affinity.update(anti_affinity(name))
    return affinity


def _pod_spec(index: int, name: str, shape: TargetShape, rng: random.Random) -> Json:
    image = f"europe-west4-docker.pkg.dev/prod-platform-381204/services/{name}:v1.{index}.0"
    pod_spec: Json = {
        "containers": [
            {
                "name": name,
                "image": image,
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "env": [{"name": f"SETTING_{n}", "value": hex_digits(rng, 16)} for n in range(6)],
                "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"memory": "512Mi"},
                },
                "readinessProbe": {
                    "httpGet": {"path": "/readyz", "port": "http"},
                    "periodSeconds": 10,
                },
            }
        ],
        "serviceAccountName": name,
        "terminationGracePeriodSeconds": 30,
    }
    if shape.node_selector:
        pod_spec["nodeSelector"] = shape.node_selector
    affinity = _affinity(index, name, shape)
    if affinity:
        pod_spec["affinity"] = affinity
    if shape.tolerations:
        pod_spec["tolerations"] = shape.tolerations
    if index % 2 == 0:
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": name}},
            }
        ]
    return pod_spec


def make_deployment(index: int, shape: TargetShape, rng: random.Random) -> Json:
    # The random draws happen in a fixed order: a seed always gives the same targets.
    name = f"app-{index:03d}"
    namespace = f"team-{index % 12:02d}"
    annotations = _annotations(index, shape, rng)
    pod_spec = _pod_spec(index, name, shape, rng)
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid(rng),
            "resourceVersion": str(rng.randint(10**8, 10**9)),
            "generation": rng.randint(1, 40),
            "creationTimestamp": ts(T0 - timedelta(days=rng.randint(1, 300))),
            "labels": {"app": name, "app.kubernetes.io/part-of": "platform"},
            "annotations": annotations,
        },
        "spec": {
            "replicas": rng.randint(1, 100),
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": {"app": name, "team": namespace}},
                "spec": pod_spec,
            },
        },
        "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3},
    }


def make_targets(count: int, rng: random.Random) -> list[Json]:
    """`count` opted-in Deployments whose (annotation selector, placement) are all distinct."""
    seen: set[object] = set()
    deployments: list[Json] = []
    j_of_kind = [0] * FAMILIES
    while len(deployments) < count:
        kind = len(deployments) % FAMILIES
        j = j_of_kind[kind]
        j_of_kind[kind] += 1
        if j > 1000:
            raise SystemExit(f"bench bug: selector family {kind} has run out of distinct shapes")
        deployment = make_deployment(len(deployments), target_shape(kind, j), rng)
        view = project_target(deployment)
        if not isinstance(view, TargetView) or view.config is None or view.placement is None:
            raise SystemExit(f"bench bug: invalid target: {view}")
        identity = (view.config.node_selector, view.placement)
        if identity in seen:
            continue
        seen.add(identity)
        deployments.append(deployment)
    return deployments
