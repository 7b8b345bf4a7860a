"""The floor under the scaler's CPU per write: a bare loop of merge PATCHes through the
package's own client (KubeClient: aiohttp, TLS, orjson), one at a time, nothing else.

    V/bin/python -I bench/patch_floor.py KUBECONFIG PATH COUNT

prints one JSON line: the loop's CPU seconds and wall seconds per PATCH. The scale
benchmark runs it against a Deployment that has not opted in, in the same run as the
scaler, so "the scaler's CPU per write / this" is a ratio that travels between machines.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from nodecount_scaler.kube.client import KubeClient


async def patch_loop(kubeconfig: str, path: str, count: int) -> dict[str, float]:
    async with await KubeClient.connect(kubeconfig) as client:
        # One request first: the connection and TLS session are not what is measured.
        await client.merge_patch(path, _patch(0), field_manager="bench")
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(1, count + 1):
            await client.merge_patch(path, _patch(i), field_manager="bench")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "patches": count,
        "cpu_ms_per_patch": cpu * 1000 / count,
        "wall_ms_per_patch": wall * 1000 / count,
    }


def _patch(i: int) -> dict[str, object]:
    return {"metadata": {"annotations": {"bench/patch": str(i)}}}


def main() -> int:
    kubeconfig, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(patch_loop(kubeconfig, path, count))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
