"""The benchmark's table: one section per part, each row a figure, its goal and verdict."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any, Final

import orjson

from bench.measure import RUNS, EventResult, SyncFigures, latency, percentile
from bench.synthetic import EVENT_KINDS, PAGE_SIZE, Dataset

GOAL_SYNC_RATIO: Final = 2.0
GOAL_EVENT_P99_MS: Final = 2.0
GOAL_MEMORY_MIB: Final = 50.0


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def section(self, title: str) -> None:
        self.rows.append((f"[{title}]", "", "", ""))

    def row(self, name: str, value: str, goal: str = "", verdict: str = "") -> None:
        self.rows.append((name, value, goal, verdict))

    def print(self) -> None:
        body = [r for r in self.rows if not (r[0].startswith("[") and not r[1])]
        widths = [max(len(r[i]) for r in body) for i in range(4)]
        for row in self.rows:
            if row[0].startswith("[") and not row[1]:
                print(f"\n{row[0]}")
                continue
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            print("  " + "  ".join(cells).rstrip())


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_rows(table: Table) -> None:
    table.section("machine")
    command = [Path(sys.executable).name, "-m", "bench.bench_sync", *sys.argv[1:]]
    table.row("command", shlex.join(command))
    table.row("python", f"{platform.python_implementation()} {platform.python_version()}")
    table.row("orjson", orjson.__version__)
    table.row("cpu", f"{cpu_model()}; {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable")
    load = os.getloadavg()[0]
    # The benchmark itself is one runnable task.
    busy = load >= (os.cpu_count() or 1) + 0.5
    note = " (busy machine: wall times include waits for a CPU)" if busy else ""
    table.row("load average (1 min)", f"{load:.1f}{note}")


def data_rows(table: Table, data: Dataset, targets: int, generated_s: float) -> None:
    table.section("data")
    table.row("nodes", f"{data.node_count} in {len(data.node_pages)} pages of {PAGE_SIZE}")
    mean = data.node_json_bytes / data.node_count
    table.row("mean node JSON", f"{mean / 1024:.1f} KiB", ">= 10 KiB", verdict(mean >= 10 * 1024))
    table.row("node list bytes", mib(sum(len(p) for p in data.node_pages)))
    stats, count = data.stats, data.node_count
    table.row(
        "per node",
        f"{stats.labels / count:.0f} labels, {stats.images / count:.0f} images, "
        f"{stats.cordoned / count:.1%} cordoned, {stats.not_ready / count:.1%} NotReady",
    )
    table.row(
        "taints per node",
        ", ".join(f"{n}: {stats.taints[n] / count:.0%}" for n in sorted(stats.taints)),
        ", ".join(f"{effect} {n}" for effect, n in sorted(stats.effects.items())),
    )
    table.row(
        "targets",
        f"{targets} Deployments, distinct selectors, "
        f"{sum(len(p) for p in data.deployment_pages) // max(targets, 1)} B each",
    )
    table.row("generated in", f"{generated_s:.1f} s")


def sync_rows(table: Table, sync: SyncFigures, node_count: int) -> None:
    table.section("(a) initial sync: list bytes -> desired counts for every target (CPU time)")
    loads, decode, per_node = sync.loads, sync.decode, 1e6 / node_count
    table.row("orjson.loads of node pages", str(loads), f"{loads.cpu * per_node:.0f} us/node")
    table.row(
        "decode_list_page(NODES)",
        str(decode),
        f"{decode.cpu * per_node:.0f} us/node",
        f"{decode.cpu / loads.cpu:.2f}x loads",
    )
    for label, result in (
        ("nodes then targets", sync.nodes_first),
        ("targets then nodes", sync.targets_first),
    ):
        ratio = result.timing.cpu / loads.cpu
        table.row(
            f"sync, {label} (best of {RUNS})",
            str(result.timing),
            f"{ratio:.2f}x loads (goal <= {GOAL_SYNC_RATIO})",
            verdict(ratio <= GOAL_SYNC_RATIO),
        )
        table.row(
            "  phases", ", ".join(f"{k} {t.cpu * 1e3:.0f} ms" for k, t in result.phases.items())
        )
    table.row(
        "sync, nodes then targets, cold (1st run)",
        str(sync.cold),
        f"{sync.cold.cpu / loads.cpu:.2f}x loads",
    )
    eligible = sync.eligible
    table.row(
        "eligible nodes per target",
        f"min {min(eligible)}, median {statistics.median(eligible):.0f}, max {max(eligible)}",
    )
    table.row("cross-check", "ok", f"{sync.pairs} (node, target) pairs vs is_eligible, every order")


def event_rows(table: Table, applied: EventResult) -> None:
    events = len(applied.kinds)
    table.section(f"(b) one node event: watch line bytes -> decision ({events} events)")
    p99 = percentile(applied.cpu_ns, 0.99)
    table.row(
        "all events, CPU time",
        latency(applied.cpu_ns),
        f"p99 goal <= {GOAL_EVENT_P99_MS} ms",
        verdict(p99 <= GOAL_EVENT_P99_MS),
    )
    table.row("all events, wall time", latency(applied.wall_ns))
    for kind in EVENT_KINDS:
        values = [ns for ns, k in zip(applied.cpu_ns, applied.kinds, strict=True) if k == kind]
        if values:
            table.row(f"  {kind} ({len(values)}), CPU", latency(values))
    table.row("view unchanged (no re-evaluation)", f"{applied.unchanged_views} events")
    table.row(
        "targets re-decided",
        f"{applied.changed_targets} ({applied.changed_targets / events:.2f} per event)",
    )
    table.row("cross-check after events", "ok")


def memory_rows(table: Table, memory: dict[str, Any]) -> None:
    table.section(
        f"(c) memory of the state, fresh process ({memory['nodes']} nodes, "
        f"{memory['targets']} targets)"
    )
    table.row(
        "RSS growth, nodes only", mib(memory["nodes_rss"]), f"traced {mib(memory['nodes_traced'])}"
    )
    total = memory["all_rss"]
    table.row(
        "RSS growth, nodes + targets",
        mib(total),
        f"goal <= {GOAL_MEMORY_MIB:.0f} MiB",
        verdict(total <= GOAL_MEMORY_MIB * 2**20),
    )
    table.row(
        "  after malloc_trim(0)", mib(memory["all_rss_trimmed"]) if memory["trimmed"] else "n/a"
    )
    table.row("  traced (tracemalloc) retained", mib(memory["all_traced"]))
    table.row(
        "  RSS not held by live objects",
        mib(total - memory["all_traced"]),
        "allocator keeps what one page's decode used",
    )
    table.row("  peak RSS growth while loading", mib(memory["peak_rss"]))
    for site, size in memory["sites"]:
        table.row(f"  retained at {site}", mib(size))
