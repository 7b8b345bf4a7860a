"""(c) Memory of the state, measured in a fresh child process so that the benchmark's own
buffers do not count: `python -m bench.memory DIRECTORY [--trace]` loads the pages written
there one at a time and prints its figures as JSON."""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from bench.measure import UNREADY_GRACE, all_desired, sync_targets
from bench.synthetic import Dataset
from nodecount_scaler.kube.resources import NODE_PROJECTION as NODES
from nodecount_scaler.kube.watch import Rejections, decode_list_page
from nodecount_scaler.model.state import ClusterState

# Objects the bench generates all project; a rejection would be a bench bug.
REJECTIONS = Rejections("bench")

REPO = Path(__file__).resolve().parents[1]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    # VmHWM, not getrusage: ru_maxrss keeps the high-water mark of the forked parent image
    # across exec, so in a child it can report the parent's size.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def malloc_trim() -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.malloc_trim(0)
    return True


def memory_child(directory: Path, trace: bool) -> None:
    """Load the pages one at a time into a ClusterState; print the figures as JSON."""
    gc.collect()
    malloc_trim()
    base_rss = rss_bytes()
    if trace:
        tracemalloc.start()
    base_traced = tracemalloc.get_traced_memory()[0] if trace else 0
    before = tracemalloc.take_snapshot() if trace else None
    now = 1000.0
    state = ClusterState(UNREADY_GRACE)
    items = {}
    for path in sorted(directory.glob("nodes-*.json")):
        raw = path.read_bytes()
        items.update(decode_list_page(raw, NODES, REJECTIONS).items)
        del raw
    state.replace_nodes(items.values(), now)
    del items
    gc.collect()
    figures: dict[str, Any] = {
        "nodes_rss": rss_bytes() - base_rss,
        "nodes_traced": tracemalloc.get_traced_memory()[0] - base_traced if trace else 0,
    }
    sync_targets(state, [(directory / "deployments.json").read_bytes()], now)
    desired = all_desired(state)
    gc.collect()
    figures["all_rss"] = rss_bytes() - base_rss
    figures["peak_rss"] = peak_rss_bytes() - base_rss
    if trace and before is not None:
        figures["all_traced"] = tracemalloc.get_traced_memory()[0] - base_traced
        diff = tracemalloc.take_snapshot().compare_to(before, "lineno")
        figures["sites"] = [
            (f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}", s.size_diff)
            for s in sorted(diff, key=lambda s: -s.size_diff)[:6]
        ]
        tracemalloc.stop()
    gc.collect()
    figures["trimmed"] = malloc_trim()
    figures["all_rss_trimmed"] = rss_bytes() - base_rss
    figures["nodes"] = len(state.nodes)
    figures["targets"] = len(desired)
    print(json.dumps(figures))


def measure_memory(data: Dataset) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        directory = Path(tmp)
        for n, page in enumerate(data.node_pages):
            (directory / f"nodes-{n:04d}.json").write_bytes(page)
        (directory / "deployments.json").write_bytes(data.deployment_pages[0])
        found: dict[str, Any] = {}
        for trace in (False, True):
            command = [sys.executable, "-m", "bench.memory", str(directory)]
            if trace:
                command.append("--trace")
            out = subprocess.run(
                command, check=True, capture_output=True, text=True, cwd=REPO
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            if trace:
                found.update({k: v for k, v in figures.items() if "traced" in k or k == "sites"})
            else:
                found.update(figures)
        return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--trace", action="store_true", help="also measure with tracemalloc")
    args = parser.parse_args(argv)
    memory_child(args.directory, args.trace)


if __name__ == "__main__":
    main()
