"""The two HTTP applications: probes (plain, open) and metrics (/metrics, /status; HTTPS
with delegated authentication and authorization unless --no-metrics-secure).

Probes are cheap and answered on every request. /metrics and /status are rendered afresh
for a client that asks now and then; under a flood at most RENDERS_PER_SECOND times a
second and within RENDER_CPU_SHARE of a core, and the same bytes go to every client in
between. Each answer is written a chunk at a time as the client takes it (within
RESPONSE_WRITE_TIMEOUT), at most METRICS_MAX_IN_FLIGHT at once and within a budget of
bytes a second (RESPONSE_BYTES_PER_SECOND; past it 503 with Retry-After), so a
flood costs a bounded share of the loop and a bounded amount of buffered memory whatever
its size. Each identity (the user a request authenticated as) may write at most
METRICS_IN_FLIGHT_PER_IDENTITY answers at once and take RESPONSE_BYTES_IDENTITY_SHARE of
the bytes (past either 429 with Retry-After), so one identity's flood leaves the rest to
the others.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST

from nodecount_scaler import limits, metrics
from nodecount_scaler.http.auth import DelegatedAuth, ReviewUnavailable, bearer_token
from nodecount_scaler.http.auth import certificate_user as user_of_certificate
from nodecount_scaler.http.cache import Rendered, TokenBucket, TtlLru
from nodecount_scaler.http.listener import BoundedListener
from nodecount_scaler.model.fairness import Shares

PROBE_PATHS: Final = ("/healthz", "/livez", "/readyz")
METRICS_PATHS: Final = ("/metrics", "/status")
# The request's key for the user it authenticated as (absent without authentication: then
# every reader is one identity, "").
IDENTITY: Final = web.RequestKey("identity", str)


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Probes:
    health: Callable[[], Check]
    ready: Callable[[], Check]
    status: Callable[[], dict[str, Any]]


def _json_bytes(body: object) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=_json_bytes(body), status=status, content_type="application/json")


def bounded_strings(value: Any, limit: int = limits.STATUS_STRING_MAX) -> Any:
    """`value` with every string (keys included) cut to `limit` characters, marked with the
    count of what was cut: no annotation value, API error or message quoting one can make
    /status carry a long string."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}...({len(value) - limit} more)"
    if isinstance(value, dict):
        return {bounded_strings(k, limit): bounded_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bounded_strings(v, limit) for v in value]
    return value


def probe_app(listener: BoundedListener, probes: Probes) -> web.Application:
    def answer(check: Callable[[], Check]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            result = check()
            return _json({"ok": result.ok, **result.detail}, 200 if result.ok else 503)

        return handle

    app = web.Application(middlewares=[listener.middleware])
    app.router.add_get("/healthz", answer(probes.health))
    app.router.add_get("/livez", answer(probes.health))
    app.router.add_get("/readyz", answer(probes.ready))
    return app


def metrics_app(
    listener: BoundedListener, probes: Probes, auth: DelegatedAuth | None
) -> web.Application:
    """/metrics and /status, each rendered at most RENDERS_PER_SECOND times a second once
    RENDER_BURST renderings are spent."""
    exposition = Rendered(
        metrics.metrics_bytes,
        limits.RENDERS_PER_SECOND,
        limits.RENDER_BURST,
        limits.RENDER_CPU_SHARE,
        report=metrics.RENDER_SECONDS.labels("metrics").set,
    )
    status = Rendered(
        lambda: _json_bytes(bounded_strings(probes.status())),
        limits.RENDERS_PER_SECOND,
        limits.RENDER_BURST,
        limits.RENDER_CPU_SHARE,
        report=metrics.RENDER_SECONDS.labels("status").set,
    )

    fair = FairAnswers(listener)

    async def answer(request: web.Request, body: bytes, content_type: str) -> web.StreamResponse:
        return await fair.send(request, body, content_type)

    async def get_metrics(request: web.Request) -> web.StreamResponse:
        return await answer(request, exposition.get(), CONTENT_TYPE_LATEST)

    async def get_status(request: web.Request) -> web.StreamResponse:
        return await answer(request, status.get(), "application/json")

    middlewares = [listener.middleware]
    if auth is not None:
        middlewares.append(_auth_middleware(listener, auth))
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/status", get_status)
    return app


class FairAnswers:
    """The byte budget of every answer together, and each identity's share of it and of
    the answers being written at once (limits.py, *HTTP listeners*): past its share an
    identity is told 429, and the rest stays for the others."""

    def __init__(self, listener: BoundedListener, clock: Callable[[], float] = time.monotonic):
        self._listener = listener
        self._clock = clock
        self._sent = TokenBucket(
            limits.RESPONSE_BYTES_PER_SECOND, limits.RESPONSE_BYTES_BURST, clock
        )
        self._writing: Shares[str] = Shares(limits.METRICS_IN_FLIGHT_PER_IDENTITY)
        self._shares: TtlLru[str, TokenBucket] = TtlLru(limits.FAIR_SHARE_IDENTITIES, clock)

    def _share(self, identity: str) -> TokenBucket:
        _, bucket = self._shares.get(identity)
        if bucket is None:
            share = limits.RESPONSE_BYTES_IDENTITY_SHARE
            rate, burst = limits.RESPONSE_BYTES_PER_SECOND, limits.RESPONSE_BYTES_BURST
            bucket = TokenBucket(rate * share, burst * share, self._clock)
        # Refilled in burst / rate seconds: a bucket dropped at its expiry was full.
        self._shares.put(
            identity, bucket, limits.RESPONSE_BYTES_BURST / limits.RESPONSE_BYTES_PER_SECOND
        )
        return bucket

    async def send(
        self, request: web.Request, body: bytes, content_type: str
    ) -> web.StreamResponse:
        identity = request.get(IDENTITY, "")
        if not self._writing.take(identity):
            return _refuse(self._listener, 429, "identity_busy", "too many answers at once")
        try:
            if not self._share(identity).take(len(body)):
                return _refuse(self._listener, 429, "identity_bytes", "over your byte share")
            if not self._sent.take(len(body)):
                return _refuse(self._listener, 503, "bytes", "answers over their byte budget")
            return await send_chunked(self._listener, request, body, content_type)
        finally:
            self._writing.give_back(identity)


async def send_chunked(
    listener: BoundedListener, request: web.Request, body: bytes, content_type: str
) -> web.StreamResponse:
    """Write `body` a chunk at a time, each once the transport has taken the ones before
    (aiohttp's writer drains past 64 KiB buffered); a client that does not take it all
    within RESPONSE_WRITE_TIMEOUT loses the connection. Every chunk is a view of the one
    rendered body, shared by all its readers: nothing is copied per client."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(body)
    view = memoryview(body)
    step = limits.RESPONSE_CHUNK_BYTES
    try:
        async with asyncio.timeout(limits.RESPONSE_WRITE_TIMEOUT):
            await response.prepare(request)
            if request.method != "HEAD":
                for start in range(0, len(view), step):
                    await response.write(view[start : start + step])
            await response.write_eof()
    except TimeoutError:
        listener.reject("write_timeout")
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:
        # The reader hung up mid-answer: counted, not logged (aiohttp's own handler logs
        # about 8 KB of traceback a time, which a reader that keeps hanging up turns into
        # megabytes of log).
        listener.reject("reader_gone")
    return response


def _peer_certificate(request: web.Request) -> dict[str, Any] | None:
    """The client certificate (decoded by ssl), only when the handshake verified it against
    the client CA: ssl decodes a peer certificate only once it is verified."""
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(tls, ssl.SSLObject) or tls.context.verify_mode == ssl.CERT_NONE:
        return None
    return tls.getpeercert() or None


def _refuse(listener: BoundedListener, status: int, reason: str, text: str) -> web.Response:
    listener.reject(reason)
    headers = {"Retry-After": "1"} if status in (429, 503) else {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="nodecount-scaler"'
    return web.Response(status=status, text=text + "\n", headers=headers)


def _auth_middleware(listener: BoundedListener, auth: DelegatedAuth) -> Any:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            peer = _peer_certificate(request)
            if peer is not None:
                user = user_of_certificate(peer)
            else:
                token = bearer_token(request.headers.get("Authorization"))
                user = await auth.token_user(token) if token else None
            listener.identify(request, user.name if user is not None else "")
            if user is None:
                return _refuse(listener, 401, "unauthenticated", "Unauthorized")
            request[IDENTITY] = user.name
            if request.path not in METRICS_PATHS:
                # Known to be nothing here; no review is spent on arbitrary paths.
                raise web.HTTPNotFound()
            if not await auth.allowed(user, request.path):
                return _refuse(
                    listener, 403, "forbidden", f"Forbidden: {user.name[:64]} may not get it"
                )
        except ReviewUnavailable as exc:
            reason = "rate_limited" if exc.status == 429 else "review_error"
            return _refuse(listener, exc.status, reason, str(exc))
        return await handler(request)

    return authenticate
