"""What 2,000 watched targets hold in memory: their views and the projection's memo.

    .venv/bin/python -m bench.target_memory [--targets 2000] [--env 20]

Each target is an opted-in Deployment with an ordinary pod template (three containers of
`--env` environment variables, probes, resources, volume mounts; about 6.5 KB of JSON at
20), decoded as the watch decodes it and projected through the target projection of the
watch (kube/resources.py), which keeps a memo per target. Prints the bytes tracemalloc
counts as still held once every decoded object is dropped: what a cluster of that many
targets costs the process for as long as it watches them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from typing import Any

import orjson

from bench.scale_mix import deployment_body
from nodecount_scaler.kube.resources import target_projection
from nodecount_scaler.model.kinds import DEPLOYMENT


def body(i: int, env: int) -> bytes:
    obj: dict[str, Any] = deployment_body(
        f"t{i}", f"ns{i // 10}", {"nodecount-scaler.io/node-selector": "pool=a"}, {}
    )
    obj["metadata"]["uid"] = f"u{i}"
    container = {
        "image": "registry.example.com/team/app:1.2.3@sha256:" + "a" * 64,
        "env": [{"name": f"ENV_{k}", "value": f"value-{k}-" + "x" * 30} for k in range(env)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        "volumeMounts": [{"name": f"v{k}", "mountPath": f"/etc/app/v{k}"} for k in range(5)],
    }
    pod = obj["spec"]["template"]["spec"]
    pod["containers"] = [{"name": f"c{j}", **container} for j in range(3)]
    pod["volumes"] = [{"name": f"v{k}", "configMap": {"name": f"cm{k}"}} for k in range(5)]
    return orjson.dumps(obj)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.target_memory", description=__doc__)
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--env", type=int, default=20)
    args = parser.parse_args(argv)
    raws = [body(i, args.env) for i in range(args.targets)]
    projection = target_projection(DEPLOYMENT)
    gc.collect()
    tracemalloc.start()
    views = [projection.view(orjson.loads(raw)) for raw in raws]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    print(
        f"{len(views):,} targets of {len(raws[0]):,} bytes of JSON each: "
        f"{held / 2**20:.1f} MiB held ({held / len(views) / 1024:.1f} KiB a target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
