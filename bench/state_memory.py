"""What the cluster state holds for N nodes and T targets of a scale workload.

    .venv/bin/python -m bench.state_memory [--workload mix|all] [--nodes 5000] [--targets 2000]

Nodes and targets are the scale benchmark's (bench/scale_mix.py), each Node with
`--extra-labels` more labels of unique or shared values (real nodes carry about 40:
hostname, instance ids, topology, provider labels); they are decoded and projected as the
watches do it and stored in a ClusterState. Prints the bytes tracemalloc counts as held by
the state after the nodes, then after the targets: per node and per target (the targets'
share includes their eligible sets; `all` makes every target count every node). Then,
in the same run, the bytes the same eligible sets take as bits (model/nodeset.py) and as
Python sets of the same name strings, as the state held them before it numbered the nodes.
No cluster; one process; the projection memo is dropped before the count.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

import orjson

from bench.scale_mix import Profile
from nodecount_scaler.kube import wire
from nodecount_scaler.model.nodes import NodeView, project_node
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetView, project_target


def node_views(profile: Profile, count: int, extra: int) -> list[NodeView]:
    views = []
    for i in range(count):
        labels = profile.node_labels(i)
        for k in range(extra):
            # A third unique to the node (ids, hostname), the rest shared (provider, arch).
            labels[f"example.com/label-{k:02d}"] = f"n{i}-{k}" if k % 3 == 0 else f"v{k % 5}"
        body = orjson.dumps(profile.node_body(f"node-{i:05d}", labels, "v1.37.2"))
        view = project_node(wire.node_fields(body))
        assert isinstance(view, NodeView), view
        views.append(view)
    return views


def target_views(profile: Profile, count: int) -> list[TargetView]:
    views = []
    for t in range(count):
        view = project_target(orjson.loads(orjson.dumps(profile.target(t, "bench"))))
        assert isinstance(view, TargetView), view
        views.append(view)
    return views


def eligible_set_bytes(state: ClusterState) -> tuple[int, int]:
    """The targets' eligible sets as they are held (bits), and as sets of names."""
    held = sum(
        sys.getsizeof(t.eligible) + sys.getsizeof(getattr(t.eligible, "bits", 0))
        for t in state.targets.values()
    )
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    # The node names are shared with the state: only the sets' own tables are counted. Each
    # is copied from a set, so sized as set algebra sizes it (the former index's way); a set
    # filled one name at a time grows to twice that.
    as_names = [set(frozenset(t.eligible)) for t in state.targets.values()]
    names = tracemalloc.get_traced_memory()[0] - before
    del as_names
    return held, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state_memory", description=__doc__)
    parser.add_argument("--workload", choices=("mix", "all"), default="mix")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--extra-labels", type=int, default=36)
    args = parser.parse_args(argv)
    profile = Profile(args.workload)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    nodes = node_views(profile, args.nodes, args.extra_labels)
    state = ClusterState(0.0)
    state.replace_nodes(nodes, 0.0)
    del nodes
    gc.collect()
    after_nodes = tracemalloc.get_traced_memory()[0] - base
    targets = target_views(profile, args.targets)
    started = time.process_time()
    state.replace_targets(targets, 0.0)
    cpu = time.process_time() - started
    del targets
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    eligible = sum(len(t.eligible) for t in state.targets.values())
    print(
        f"{args.workload}: {args.nodes:,} nodes ({args.extra_labels + 4} labels of ours each), "
        f"{args.targets:,} targets counting {eligible / max(1, args.targets):,.0f} nodes on "
        f"average\n  nodes: {after_nodes / 2**20:.1f} MiB ({after_nodes / args.nodes / 1024:.2f}"
        f" KiB a node)\n  targets: {(held - after_nodes) / 2**20:.1f} MiB "
        f"({(held - after_nodes) / args.targets / 1024:.2f} KiB a target, views and eligible "
        f"sets; stored in {cpu:.2f} s of CPU)\n  state in all: {held / 2**20:.1f} MiB"
    )
    as_bits, as_names = eligible_set_bytes(state)
    print(
        f"  eligible sets as bits: {as_bits / 2**20:.1f} MiB; as sets of names: "
        f"{as_names / 2**20:.1f} MiB ({as_names / max(1, as_bits):,.0f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
