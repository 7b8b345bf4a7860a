"""How long nodecount-scaler takes from raw API bytes to desired replica counts, and what the
state costs in memory.

    python -m bench.bench_sync [--nodes 5000 --targets 100 --seed 1 --events 3000]

Synthetic but realistically sized Nodes (>= 10 KB of JSON each) and opted-in Deployments
with distinct selectors (bench/synthetic*.py) go through the service's own code paths
(bench/measure.py, bench/memory.py). Prints a table (bench/report.py); bench/README.md
explains each figure. Not a test: nothing fails but a cross-check of the memoised eligible
sets against a brute-force `is_eligible` count.
"""

from __future__ import annotations

import argparse
import gc
import time

from bench.measure import apply_events, cross_check, measure_sync
from bench.memory import measure_memory
from bench.report import Table, data_rows, event_rows, machine_rows, memory_rows, sync_rows
from bench.synthetic import EVENT_SPACING, generate, make_events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args(argv)

    table = Table()
    machine_rows(table)
    began = time.perf_counter()
    data = generate(args.nodes, args.targets, args.seed)
    data_rows(table, data, args.targets, time.perf_counter() - began)

    sync, state = measure_sync(data)
    sync_rows(table, sync, data.node_count)
    pairs = sync.pairs
    del sync

    # (b) Events on a warm state, with the benchmark's own garbage collected first.
    events = make_events(data, args.events, args.seed)
    gc.collect()
    applied = apply_events(state, events)
    cross_check(state, 2000.0 + len(events) * EVENT_SPACING)
    event_rows(table, applied)
    del state, events

    # (c) Memory in a fresh process that reads one page at a time.
    memory_rows(table, measure_memory(data))
    table.print()
    # Reached only if every cross-check above passed (each raises SystemExit otherwise).
    print(f"\ncross-check: ok ({pairs} pairs per check, after both sync orders and the events)")


if __name__ == "__main__":
    main()
