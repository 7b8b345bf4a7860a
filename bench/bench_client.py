"""CPU per API request of KubeClient: N merge-patches against a local fake API server.

The server runs in a child process, so the figure is the client's alone (process CPU time
of this process over the requests, divided by N). Usage:

    .venv/bin/python bench/bench_client.py --requests 1000 [--trust-env]

`--trust-env` turns on aiohttp's trust_env (as kubernetes-asyncio's rest client sets it)
on the client's session, to show what it costs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time

from aiohttp import web

from nodecount_scaler.kube.client import KubeClient

PATH = "/apis/apps/v1/namespaces/ns/deployments/d/scale"
SCALE = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "d"}}


def serve(sock: socket.socket) -> None:
    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({**SCALE, "spec": body["spec"], "status": {"replicas": 1}})

    app = web.Application()
    app.router.add_patch(PATH, handle)
    web.run_app(app, sock=sock, print=None, handle_signals=True)


async def measure(url: str, requests: int, trust_env: bool) -> float:
    async with KubeClient.for_url(url) as client:
        await client.merge_patch(PATH, {"spec": {"replicas": 0}}, field_manager="bench")
        if trust_env:
            client._open()._trust_env = True
        started = time.process_time()
        for n in range(requests):
            await client.merge_patch(PATH, {"spec": {"replicas": n}}, field_manager="bench")
        return (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--trust-env", action="store_true")
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = multiprocessing.get_context("fork").Process(target=serve, args=(sock,))
    server.start()
    try:
        per_request = asyncio.run(
            measure(f"http://127.0.0.1:{port}", args.requests, args.trust_env)
        )
    finally:
        server.terminate()
        server.join()
    print(
        f"{args.requests} PATCHes{' (trust_env)' if args.trust_env else ''}: "
        f"{per_request * 1e6:.0f} us CPU per request in the client"
    )


if __name__ == "__main__":
    main()
