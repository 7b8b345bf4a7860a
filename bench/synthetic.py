"""A synthetic cluster as the API server would serve it: LIST pages of Nodes and
Deployments (pages of 500, with resourceVersion and continue) and watch lines of node
events. Generated from a seed: the same seed gives the same bytes."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import orjson

from bench.node_facts import T0, apply_facts, facts_of, ts
from bench.synthetic_nodes import TIERS, hex_digits, image_catalogue, make_node
from bench.synthetic_targets import make_targets

Json = dict[str, Any]

PAGE_SIZE: Final = 500  # what the Reflector asks for (limit=500)
EVENT_SPACING: Final = 0.01  # seconds of fake clock between two watch events


def list_page(kind: str, items: list[bytes], resource_version: int, token: str) -> bytes:
    """A LIST response page as the API server writes it, with the items already encoded."""
    meta = {"resourceVersion": str(resource_version)}
    if token:
        meta["continue"] = token
    head = orjson.dumps({"kind": kind, "apiVersion": "v1", "metadata": meta})
    return head[:-1] + b',"items":[' + b",".join(items) + b"]}"


@dataclass(slots=True)
class NodeStats:
    labels: int = 0
    images: int = 0
    cordoned: int = 0
    not_ready: int = 0
    taints: Counter[int] = field(default_factory=Counter)  # nodes by number of taints
    effects: Counter[str] = field(default_factory=Counter)

    def add(self, node: Json) -> None:
        taints = node["spec"].get("taints") or ()
        self.labels += len(node["metadata"]["labels"])
        self.images += len(node["status"]["images"])
        self.cordoned += bool(node["spec"].get("unschedulable"))
        self.not_ready += any(
            c["status"] != "True" for c in node["status"]["conditions"] if c["type"] == "Ready"
        )
        self.taints[len(taints)] += 1
        self.effects.update(t["effect"] for t in taints)


@dataclass(slots=True)
class Dataset:
    node_pages: list[bytes]
    deployment_pages: list[bytes]
    node_bytes: list[bytes]  # each node's own encoding, for building watch events
    node_count: int
    stats: NodeStats

    @property
    def node_json_bytes(self) -> int:
        return sum(len(b) for b in self.node_bytes)


def generate(nodes: int, targets: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    images = image_catalogue(rng)
    stats = NodeStats()
    node_bytes = []
    for i in range(nodes):
        node = make_node(i, rng, images)
        stats.add(node)
        node_bytes.append(orjson.dumps(node))
    pages = []
    for start in range(0, nodes, PAGE_SIZE):
        more = start + PAGE_SIZE < nodes
        token = hex_digits(rng, 96) if more else ""
        pages.append(list_page("NodeList", node_bytes[start : start + PAGE_SIZE], 812345678, token))
    deployments = [orjson.dumps(d) for d in make_targets(targets, rng)]
    deployment_pages = [
        list_page("DeploymentList", deployments[start : start + PAGE_SIZE], 812345678, "")
        for start in range(0, max(len(deployments), 1), PAGE_SIZE)
    ]
    return Dataset(pages, deployment_pages, node_bytes, nodes, stats)


# --- watch events -----------------------------------------------------------------------------

EVENT_KINDS: Final = ("heartbeat", "label", "taint", "cordon", "ready")
EVENT_WEIGHTS: Final = (40, 15, 15, 15, 15)
LABEL_FLIPS: Final = {
    "env": ("prod", "staging"),
    "tier": TIERS,
    "example.com/generation": ("1", "2", "3", "4", "5"),
    "example.com/rack": tuple(f"rack-{n:02d}" for n in range(50)),
}


def make_events(data: Dataset, count: int, seed: int) -> list[tuple[str, bytes]]:
    """Watch lines for `count` MODIFIED events; each bumps heartbeats and resourceVersion,
    and all but heartbeat-only ones change what eligibility reads."""
    rng = random.Random(seed * 7919 + 1)
    current = list(data.node_bytes)
    resource_version = 900_000_000
    events = []
    for n in range(count):
        index = rng.randrange(len(current))
        node = orjson.loads(current[index])
        kind = rng.choices(EVENT_KINDS, weights=EVENT_WEIGHTS)[0]
        resource_version += 1
        at = T0 + timedelta(seconds=10 + n * EVENT_SPACING)
        node["metadata"]["resourceVersion"] = str(resource_version)
        for condition in node["status"]["conditions"]:
            condition["lastHeartbeatTime"] = ts(at)
        node["metadata"]["managedFields"][-1]["time"] = ts(at)
        facts = facts_of(node)
        if kind == "label":
            key = rng.choice(tuple(LABEL_FLIPS))
            labels = node["metadata"]["labels"]
            labels[key] = rng.choice([v for v in LABEL_FLIPS[key] if v != labels[key]])
        elif kind == "taint":
            facts.maintenance = not facts.maintenance
        elif kind == "cordon":
            facts.cordoned = not facts.cordoned
        elif kind == "ready":
            facts.ready = not facts.ready
        if kind != "heartbeat":
            apply_facts(node, facts)
        current[index] = orjson.dumps(node)
        events.append((kind, orjson.dumps({"type": "MODIFIED", "object": node})))
    return events
