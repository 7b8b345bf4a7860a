"""The scale benchmark's printout, the start-up breakdown, and the before/after table.

    .venv/bin/python -m bench.scale_report before.json after.json ...

prints a Markdown table of the figures of several runs (the results tables of bench/README.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.scale_audit import StartUp, parse_time


def _log_time(lines: list[dict[str, Any]], event: str, **fields: str) -> float | None:
    for line in lines:
        if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
            stamp = line.get("timestamp")
            return parse_time(stamp) if isinstance(stamp, str) else None
    return None


def start_up_phases(
    found: StartUp, logs: list[dict[str, Any]], spawned: float
) -> dict[str, float | None]:
    """Process start -> first scale write, cut at the scaler's own log lines: `started`
    (interpreter, imports, configuration), `listed` nodes (its LIST requests and their
    decoding), `caches synced` (the other lists), then the reconciles up to the write."""
    phases = found.summary(spawned)
    marks = {
        "started_s": _log_time(logs, "started"),
        "nodes_listed_s": _log_time(logs, "listed", resource="nodes"),
        "synced_s": _log_time(logs, "caches synced; reconciling"),
    }
    for name, stamp in marks.items():
        phases[name] = None if stamp is None else stamp - spawned
    nodes_list = found.lists.get("nodes")
    listed = marks["nodes_listed_s"]
    if nodes_list is not None and listed is not None:
        # From the last node page's answer to the log line after the sink took the list.
        phases["nodes_decode_s"] = listed - nodes_list[1]
    return {k: None if v is None else round(v, 3) for k, v in phases.items()}


def print_report(result: dict[str, Any]) -> None:
    print(
        f"run {result['label'] or '-'}: {result['nodes']} nodes x {result['targets']} "
        f"targets, {'with' if result['pods'] else 'without'} pods, {result['rate']:g} "
        f"change/s for {result['minutes']:g} min (setup {result['setup_s']} s)"
    )
    print(f"  node changes: {result['node_changes']}")
    print(f"  changes of a target's count: {result['count_changes']}")
    print(
        f"  Node writes by others: {result['node_writes_by_agent']}; node watch events "
        f"decoded by the scaler: {result['node_watch_events']:g}"
    )
    print(f"  scaler requests in the window: {result['requests']}")
    for key, count in result["requests_by_verb_resource"].items():
        per = count / result["count_changes"] if result["count_changes"] else float("nan")
        print(f"    {key:<40} {count:>7}  {per:7.3f} per count change")
    print(f"  requests per count change: {result['requests_per_count_change']}")
    print(
        f"  Event writes: {result['event_writes']} "
        f"({result['event_writes_per_target_per_5min']} per target per 5 min)"
    )
    print(f"  CPU: {result['cpu_s']} s ({result['cpu_ms_per_node_change']} ms per node change)")
    print(
        f"  RSS MiB: idle {result['rss_idle_mib']}, peak {result['rss_peak_mib']}, "
        f"end {result['rss_end_mib']}, high-water mark {result['rss_hwm_mib']}"
    )
    print(
        f"  node change -> scale write ({result['latency_writes']} writes): p50 "
        f"{result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms, "
        f"max {result['latency_max_ms']} ms"
    )
    for cause, figures in result["latency_by_cause"].items():
        print(f"    after {cause}: {figures}")
    print(f"  start-up: {result['start_up']}")
    print(f"  converged after the churn: {result['converged_after']}")


Cell = Callable[[dict[str, Any]], object]
COLUMNS: tuple[tuple[str, Cell], ...] = (
    ("run", lambda r: r["label"] or "-"),
    (
        "nodes x targets",
        lambda r: f"{r['nodes']:,} x {r['targets']}" + (" pods" if r["pods"] else ""),
    ),
    ("count changes", lambda r: r["count_changes"]),
    ("requests / change", lambda r: r["requests_per_count_change"]),
    ("Event writes / target / 5 min", lambda r: r["event_writes_per_target_per_5min"]),
    ("CPU s", lambda r: r["cpu_s"]),
    (
        "RSS idle / peak / end MiB",
        lambda r: f"{r['rss_idle_mib']} / {r['rss_peak_mib']} / {r['rss_end_mib']}",
    ),
    ("p50 / p99 ms", lambda r: f"{r['latency_p50_ms']} / {r['latency_p99_ms']}"),
    ("start -> first write s", lambda r: r["start_up"].get("to_first_write_s")),
)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for result in results:
        lines.append("| " + " | ".join(str(cell(result)) for _, cell in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    print(table([json.loads(p.read_text()) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
