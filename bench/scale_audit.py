"""What the API server's audit log says about a run: the scaler's requests by verb and
resource, its Event writes, node change -> scale write latency, and its start-up requests.

Every time here is the API server's own `requestReceivedTimestamp` (wall clock, UTC), so
latency is measured server side, not by the scaler about itself.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
EVENT_WRITE_VERBS = frozenset({"create", "update", "patch"})


def parse_time(text: str) -> float:
    """An RFC 3339 timestamp (audit log, JSON log lines) as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Request:
    user: str
    agent: str
    verb: str
    resource: str
    namespace: str
    name: str
    code: int
    received: float
    completed: float

    @property
    def is_scale_write(self) -> bool:
        """A write of a target's replicas: a patch of deployments/scale (the scale
        subresource) or of the Deployment itself."""
        return self.verb in ("patch", "update") and self.resource in (
            "deployments",
            "deployments/scale",
        )


def read_requests(log: Path) -> list[Request]:
    found = []
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("stage") != "ResponseComplete":
            continue
        found.append(_request(event))
    found.sort(key=lambda r: r.received)
    return found


def _request(event: dict[str, Any]) -> Request:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "") or event.get("requestURI", "").partition("?")[0]
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    return Request(
        user=(event.get("user") or {}).get("username", ""),
        agent=event.get("userAgent", ""),
        verb=event.get("verb", ""),
        resource=resource,
        namespace=ref.get("namespace", ""),
        name=ref.get("name", ""),
        code=int((event.get("responseStatus") or {}).get("code", 0)),
        received=parse_time(event["requestReceivedTimestamp"]),
        completed=parse_time(event["stageTimestamp"]),
    )


def by_verb_and_resource(requests: list[Request]) -> dict[str, int]:
    counts = Counter(f"{r.verb} {r.resource}" for r in requests)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def in_window(requests: list[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.received <= end]


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def reaction_latencies(requests: list[Request], scaler: str) -> list[tuple[float, str]]:
    """For every scale write of the scaler: seconds since the latest Node write before it
    (by anyone else: the benchmark's churn, kwok, the node lifecycle controller), and that
    write's verb and writer. At one node change a second and answers well under a second,
    the latest Node write is the change the write answers."""
    node_writes = sorted(
        (r.received, f"{r.verb} {r.resource} by {r.agent.partition('/')[0]}")
        for r in requests
        if r.user != scaler and r.verb in NODE_WRITE_VERBS and r.resource.startswith("nodes")
    )
    times = [t for t, _ in node_writes]
    latencies = []
    for request in requests:
        if request.user != scaler or not request.is_scale_write:
            continue
        i = bisect.bisect_right(times, request.received)
        if i:
            latencies.append((request.received - times[i - 1], node_writes[i - 1][1]))
    return latencies


def latency_by_cause(latencies: list[tuple[float, str]]) -> dict[str, str]:
    """p50 / p99 / max in ms and the count, per kind of Node write answered."""
    causes: dict[str, list[float]] = {}
    for seconds, cause in latencies:
        causes.setdefault(cause, []).append(seconds * 1000)
    return {
        cause: f"n={len(v)} p50 {percentile(v, 0.5):.1f} p99 {percentile(v, 0.99):.1f} "
        f"max {max(v):.1f}"
        for cause, v in sorted(causes.items())
    }


@dataclass(frozen=True, slots=True)
class StartUp:
    """From the scaler's process start to its first scale write, and where the time went."""

    first_write: float | None
    lists: dict[str, tuple[float, float]]

    def summary(self, spawned: float) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "to_first_write_s": None if self.first_write is None else self.first_write - spawned
        }
        for resource, (start, end) in sorted(self.lists.items()):
            out[f"list_{resource}_s"] = end - start
            out[f"list_{resource}_from_start_s"] = start - spawned
        return out


def start_up(requests: list[Request], scaler: str) -> StartUp:
    mine = [r for r in requests if r.user == scaler]
    first = next((r.received for r in mine if r.is_scale_write), None)
    lists: dict[str, tuple[float, float]] = {}
    for request in mine:
        if request.verb != "list" or (first is not None and request.received > first):
            continue
        start, end = lists.get(request.resource, (request.received, request.completed))
        lists[request.resource] = (min(start, request.received), max(end, request.completed))
    return StartUp(first, lists)
