"""The HTTP endpoint: /healthz, /readyz, /metrics, /status (aiohttp)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from nodecount_scaler import metrics


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Probes:
    health: Callable[[], Check]
    ready: Callable[[], Check]
    status: Callable[[], dict[str, Any]]


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_INDENT_2),
        status=status,
        content_type="application/json",
    )


def make_app(probes: Probes) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        check = probes.health()
        return _json({"ok": check.ok, **check.detail}, 200 if check.ok else 503)

    async def readyz(request: web.Request) -> web.Response:
        check = probes.ready()
        return _json({"ok": check.ok, **check.detail}, 200 if check.ok else 503)

    async def status(request: web.Request) -> web.Response:
        return _json(probes.status())

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.REGISTRY))
    return app


async def start_server(app: web.Application, address: str) -> web.AppRunner:
    """Listen on host:port; returns the runner (close with runner.cleanup())."""
    host, _, port = address.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "0.0.0.0", int(port))
    await site.start()
    return runner
