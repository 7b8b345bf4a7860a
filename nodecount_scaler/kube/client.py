"""The one module that sends HTTP requests to the Kubernetes API.

Raw JSON over one aiohttp session: no generated client, no models (their deserialization
costs about 40x a plain `orjson.loads` and their import 63 MiB). Configuration (where, TLS,
proxy, credentials) comes from kube/config.py; the Authorization header is asked of the
Configuration before every request, so rotated service-account tokens and expiring exec
credentials are refreshed by kubernetes-asyncio's hooks.

Every body read is bounded (limits.py): past its bound a response is dropped unread, with
an error, a log line and a metric, never a larger share of memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, NamedTuple, Self

import aiohttp
import orjson
import structlog
from aiohttp.connector import AddrInfoType

from nodecount_scaler import __version__, limits, metrics
from nodecount_scaler.kube.config import (
    ConfigError,
    Configuration,
    Endpoint,
    endpoint,
    load_configuration,
)

__all__ = ["ApiError", "ConfigError", "Configuration", "JsonObject", "KubeClient", "Query"]

log = structlog.get_logger(__name__)

JsonObject = dict[str, Any]
Query = Sequence[tuple[str, str]]

USER_AGENT: Final = f"nodecount-scaler/{__version__}"
MERGE_PATCH: Final = "application/merge-patch+json"
# Statuses whose Retry-After is honoured (client-go's checkWait: 429, and 5xx with one).
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
# TCP keepalive: a watch may be legitimately silent for minutes, but a peer that vanished
# (a node or load balancer gone without a reset) stops answering probes: about 60 s
# (30 s idle, then 3 probes 10 s apart) until the read fails, whatever the silence.
KEEPALIVE: Final = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
# Connections one client holds at most (aiohttp's TCPConnector default).
DEFAULT_CONNECTION_LIMIT: Final = 100


class ApiError(Exception):
    """A request that did not succeed; status 0 means no HTTP answer (connection, timeout).

    `retry_after`: seconds the server asked to wait (429, 503), at most RETRY_AFTER_MAX.
    A plain Exception subclass, not a frozen dataclass: raising through a context manager
    assigns __traceback__, which a frozen dataclass refuses."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        reason: str,
        message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(method, path, status, reason, message)
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        wait = f" (retry after {self.retry_after:g}s)" if self.retry_after is not None else ""
        return f"{self.method} {self.path} -> {self.status} {self.reason}{detail}{wait}"

    @property
    def retryable(self) -> bool:
        # 409 Conflict (optimistic concurrency), 429 (priority and fairness) and 5xx are
        # transient by the API conventions; 0 is a network failure.
        return self.status in (0, 409, 429) or self.status >= 500

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def _keepalive_socket(addr_info: AddrInfoType) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE:
        option = getattr(socket, name, None)  # Linux names; other systems keep their defaults
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
    return sock


class Payload(NamedTuple):
    """What one exchange sends besides method, path and query."""

    body: bytes | None
    content_type: str | None
    seconds: float
    # Another media type than JSON to ask for (the JWKS document is served only as
    # application/jwk-set+json).
    accept: str | None = None


class KubeClient:
    """Raw-JSON requests against the API server, with a timeout on every call.

    Built from a kubernetes-asyncio Configuration; for a plain-HTTP test server,
    `KubeClient.for_url("http://127.0.0.1:PORT")`.

    `connection_limit` bounds the connections of its pool (aiohttp's default, 100): a
    client of its own with a smaller pool keeps a group of streams (the pod watches) from
    ever taking a connection another client's requests need."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        request_timeout: float = 10.0,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        if connection_limit < 1:
            # aiohttp reads a limit of 0 as "no limit": never what a caller means here.
            raise ValueError(f"connection_limit must be at least 1, not {connection_limit}")
        self.configuration = configuration
        self.endpoint: Endpoint = endpoint(configuration)
        self.request_timeout = request_timeout
        self.connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, **kwargs: Any
    ) -> Self:
        return cls(await load_configuration(kubeconfig, context), **kwargs)

    @classmethod
    def for_url(cls, url: str, **kwargs: Any) -> Self:
        configuration = Configuration()
        configuration.host = url
        return cls(configuration, **kwargs)

    @property
    def host(self) -> str:
        return self.endpoint.base_url

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self.endpoint.ssl if self.endpoint.ssl is not None else True,
                socket_factory=_keepalive_socket,
                limit=self.connection_limit,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Proxies were resolved once (kube/config.py); trust_env would look them up
                # and read ~/.netrc in a thread for every request.
                trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {} if content_type is None else {"Content-Type": content_type}
        # Runs the configuration's refresh hook: a rotated token file, an exec plugin.
        token = await self.configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: aiohttp.ClientTimeout,
        accept: str | None = None,
    ) -> aiohttp.ClientResponse:
        # aiohttp's timeout starts with the HTTP exchange; this one also bounds the token or
        # exec-plugin refresh that comes first. For a stream it covers the headers.
        budget = timeout.total if timeout.total is not None else (timeout.connect or 10.0) * 2
        point = self.endpoint
        try:
            async with asyncio.timeout(budget):
                headers = await self._headers(content_type)
                if accept is not None:
                    headers["Accept"] = accept
                response = await self._open().request(
                    method,
                    point.base_url + path,
                    params=list(query),
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    proxy=point.proxy,
                    server_hostname=point.server_hostname,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            metrics.API_REQUESTS.labels(method, "error").inc()
            raise ApiError(method, path, 0, type(exc).__name__, str(exc)) from exc
        metrics.API_REQUESTS.labels(method, str(response.status)).inc()
        return response

    def _timeout_for(self, method: str, path: str, timeout: float | None) -> float:
        """The timeout of one `request`: a hook for a client that bounds or refuses writes."""
        return self.request_timeout if timeout is None else timeout

    async def _exchange(
        self, method: str, path: str, query: Query, payload: Payload, max_bytes: int
    ) -> bytes:
        """Send one request and return the raw body; raise ApiError unless 2xx."""
        return (await self._dated_exchange(method, path, query, payload, max_bytes))[0]

    async def _dated_exchange(
        self, method: str, path: str, query: Query, payload: Payload, max_bytes: int
    ) -> tuple[bytes, float | None]:
        """The raw body and the server's time when it received the request, at the
        latest (`served_after`); raise ApiError unless 2xx."""
        started = time.perf_counter()
        response = await self._send(
            method,
            path,
            query=query,
            body=payload.body,
            content_type=payload.content_type,
            timeout=aiohttp.ClientTimeout(total=payload.seconds),
            accept=payload.accept,
        )
        try:
            raw = await read_bounded(response, max_bytes, method, path)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            response.close()
            raise ApiError(method, path, 0, type(exc).__name__, str(exc)) from exc
        finally:
            response.release()
            metrics.API_LATENCY.labels(method).observe(time.perf_counter() - started)
        if not 200 <= response.status < 300:
            raise error_from(method, path, response, raw)
        return raw, served_after(response.headers.get("Date"), time.perf_counter() - started)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str | None = None,
    ) -> JsonObject:
        """Send one request and return the decoded JSON body; raise ApiError unless 2xx.
        `accept`: a JSON media type other than application/json to ask for."""
        seconds = self._timeout_for(method, path, timeout)
        payload = (
            Payload(None, None, seconds, accept)
            if body is None
            else Payload(orjson.dumps(body), content_type, seconds)
        )
        raw = await self._exchange(method, path, query, payload, limits.MAX_RESPONSE_BYTES)
        if not raw:
            return {}
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # A proxy's HTML page with a 2xx status, say: an API failure, not a crash.
            raise ApiError(method, path, 0, "InvalidResponse", str(exc)) from exc
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    async def get_bytes(
        self,
        path: str,
        *,
        query: Query = (),
        timeout: float,
        max_bytes: int = limits.MAX_RESPONSE_BYTES,
    ) -> bytes:
        """GET returning the undecoded body, so a list page is parsed exactly once."""
        return await self._exchange("GET", path, query, Payload(None, None, timeout), max_bytes)

    async def get_dated(
        self,
        path: str,
        *,
        query: Query = (),
        timeout: float,
        max_bytes: int = limits.MAX_RESPONSE_BYTES,
    ) -> tuple[bytes, float | None]:
        """get_bytes, and a server time no later than the request's arrival there."""
        payload = Payload(None, None, timeout)
        return await self._dated_exchange("GET", path, query, payload, max_bytes)

    @asynccontextmanager
    async def stream(
        self, path: str, *, query: Query, connect_timeout: float, read_timeout: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a watch stream. `read_timeout` bounds the silence between two reads; a stalled
        connection would otherwise hang for ever (tomplus/kubernetes_asyncio#360)."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        response = await self._send("GET", path, query=query, timeout=timeout)
        try:
            if response.status != 200:
                try:
                    raw = await read_bounded(response, limits.MAX_RESPONSE_BYTES, "GET", path)
                except (aiohttp.ClientError, TimeoutError, OSError, ApiError):
                    raw = b""
                raise error_from("GET", path, response, raw)
            yield response
        finally:
            response.release()

    async def merge_patch(
        self,
        path: str,
        patch: Mapping[str, Any],
        *,
        field_manager: str,
        timeout: float | None = None,
    ) -> JsonObject:
        return await self.request(
            "PATCH",
            path,
            query=[("fieldManager", field_manager)],
            body=dict(patch),
            content_type=MERGE_PATCH,
            timeout=timeout,
        )


def over_limit(limit: str, method: str, path: str, size: str, bound: int) -> ApiError:
    """Count, log and describe an input past one of the bounds in limits.py."""
    metrics.LIMIT_EXCEEDED.labels(limit).inc()
    log.error(
        "response over its size limit; dropped",
        limit=limit,
        request=f"{method} {path}",
        size=size,
        bound=bound,
    )
    return ApiError(method, path, 0, "ResponseTooLarge", f"{limit}: {size} > {bound} bytes")


async def read_bounded(
    response: aiohttp.ClientResponse, max_bytes: int, method: str, path: str
) -> bytes:
    """The whole body, or ApiError (and the connection closed) past `max_bytes`: a server
    that sends a gigabyte costs this process at most `max_bytes` and one chunk."""
    length = response.content_length
    if length is not None and length > max_bytes:
        response.close()
        raise over_limit("response_bytes", method, path, f"Content-Length {length}", max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            chunks.clear()
            response.close()
            raise over_limit("response_bytes", method, path, f"over {size}", max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def served_after(date: str | None, took: float) -> float | None:
    """A server time (Unix seconds) no later than the request's arrival there: the response's
    Date (whole seconds, truncated: the true time is at most 1 s later, never earlier)
    less the whole exchange as timed here. None without a readable Date."""
    if not date:
        return None
    try:
        sent = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if sent.tzinfo is None:
        return None
    return sent.timestamp() - took


def retry_after(headers: Mapping[str, str], status_object: object) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), else the
    Status's details.retryAfterSeconds; bounded by RETRY_AFTER_MAX, never negative.
    `headers` is the response's case-insensitive header mapping."""
    seconds: float | None = None
    header = headers.get("Retry-After", "").strip()
    if header.isdigit():
        seconds = float(header[:9])
    elif header:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if seconds is None and isinstance(status_object, dict):
        details = status_object.get("details")
        value = details.get("retryAfterSeconds") if isinstance(details, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), limits.RETRY_AFTER_MAX)


def error_from(method: str, path: str, response: aiohttp.ClientResponse, raw: bytes) -> ApiError:
    status, reason = response.status, response.reason or ""
    message = ""
    try:
        status_object = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        status_object = None
    if isinstance(status_object, dict):
        message = str(status_object.get("message", ""))[:1000]
        reason = str(status_object.get("reason", reason))[:100] or reason
    elif raw:
        message = raw[:200].decode("utf-8", "replace")
    wait = retry_after(response.headers, status_object) if status in RETRY_AFTER_STATUSES else None
    return ApiError(method, path, status, reason, message, wait)
