"""A TCP listener with bounded connections in front of an aiohttp application.

aiohttp's own sites accept every connection the kernel hands over, and read a request head
for as long as the client cares to trickle it: 1,100 slow clients then hold 1,100 file
descriptors, and the watches of the same process fail with "Too many open files". Here the
accept loop is this module's own:

- at most `max_connections` sockets are open per listener, TLS handshakes included. A new
  connection past the cap displaces the oldest one still waiting for its request head (a
  slow client loses its place to a prompt one) and, among those, one of the identity that
  holds the most connections (the user its last request authenticated as; "" when that
  failed, None before any request), so one identity's flood of reconnects displaces its
  own connections, not another's; when every connection is busy with a request, the new
  one is closed at once;
- a connection must deliver a complete request head within `header_timeout` seconds of its
  accept (TLS handshake included) and of the end of each response, or it is aborted;
- an accept that fails (EMFILE and the like) is counted, logged at most once per interval,
  and retried after a pause instead of spinning.

The application's first middleware (`middleware`) marks when a request head has arrived
and bounds the requests handled at once, in all and by the identity of the connection
(`max_in_flight_per_identity`; past it 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from nodecount_scaler import limits, metrics
from nodecount_scaler.model.fairness import Shares, to_displace

log = structlog.get_logger(__name__)

# After a failed accept (no descriptors left, say) the loop waits this long before the next.
ACCEPT_RETRY: Final = 0.1
ACCEPT_ERROR_LOG_INTERVAL: Final = 60.0


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    max_connections: int
    max_in_flight: int
    header_timeout: float = limits.HEADER_TIMEOUT
    max_body: int = limits.MAX_BODY_BYTES
    # Of max_in_flight, what one identity's connections may hold (None: all of it).
    max_in_flight_per_identity: int | None = None


PROBE_LIMITS: Final = ListenerLimits(limits.PROBE_MAX_CONNECTIONS, limits.PROBE_MAX_IN_FLIGHT)
METRICS_LIMITS: Final = ListenerLimits(
    limits.METRICS_MAX_CONNECTIONS,
    limits.METRICS_MAX_IN_FLIGHT,
    max_in_flight_per_identity=limits.METRICS_IN_FLIGHT_PER_IDENTITY,
)


def handler_args() -> dict[str, Any]:
    """aiohttp's RequestHandler bounds on one request head; no lingering over unread bodies
    (a refused body closes the connection instead of being read)."""
    return {
        "max_line_size": limits.MAX_REQUEST_LINE,
        "max_field_size": limits.MAX_HEADER_FIELD,
        "max_headers": limits.MAX_HEADERS,
        "lingering_time": 0.0,
        # Our own header timeout closes idle connections; aiohttp's would be the same rule.
        "keepalive_timeout": limits.HEADER_TIMEOUT,
    }


class _Connection:
    """One accepted socket: its slot in the listener, and the deadline for its next head."""

    __slots__ = ("_listener", "_timer", "identity", "released", "task", "transport")

    def __init__(self, listener: BoundedListener) -> None:
        self._listener = listener
        # Who holds this connection: None until a request says (see the module).
        self.identity: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.released = False

    def await_head(self) -> None:
        """From now on the client has header_timeout seconds to send a request head."""
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._listener.limits.header_timeout, self._expire)
        self._listener.waiting[self] = None

    def head_arrived(self) -> None:
        self._cancel_timer()
        self._listener.waiting.pop(self, None)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._listener.reject("header_timeout")
        self.close()

    def close(self) -> None:
        """Abort at once: a slow client is owed no graceful TLS shutdown."""
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
        elif self.task is not None:
            self.task.cancel()
        self.release()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self._cancel_timer()
        self._listener.forget(self)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's RequestHandler, with the slot freed when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, connection: _Connection) -> None:
        self._inner = inner
        self._connection = connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connection.transport = transport
        self._connection._listener.by_protocol[self._inner] = self._connection
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection._listener.by_protocol.pop(self._inner, None)
        self._connection.release()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class BoundedListener:
    """Accepts connections for one aiohttp application within `limits`; see the module."""

    def __init__(
        self,
        name: str,
        limits: ListenerLimits,
        tls: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self.name = name
        self.limits = limits
        self._tls = tls
        self.open: set[_Connection] = set()
        # Connections waiting for a request head, oldest first: the ones to displace.
        self.waiting: OrderedDict[_Connection, None] = OrderedDict()
        self.by_protocol: dict[asyncio.BaseProtocol, _Connection] = {}
        self._in_flight = 0
        # Requests in flight by the identity of their connection (known from its earlier
        # requests; a fresh connection's first request counts only in the total): a
        # hundred requests waiting on one identity's token review cannot fill the listener.
        self._shares: Shares[str] = Shares(
            limits.max_in_flight_per_identity or limits.max_in_flight
        )
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._last_accept_error = -float("inf")
        self._gauge = metrics.HTTP_CONNECTIONS.labels(name)

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        return int(self._sock.getsockname()[1])

    def reject(self, reason: str) -> None:
        metrics.HTTP_REJECTED.labels(self.name, reason).inc()

    def identify(self, request: web.Request, identity: str) -> None:
        """The connection of `request` is held by `identity` ("" for one that failed to
        authenticate) until a later request on it says otherwise."""
        connection = self.by_protocol.get(request.protocol)
        if connection is not None:
            connection.identity = identity

    def forget(self, connection: _Connection) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)
        self._gauge.set(len(self.open))

    # -- serving

    async def start(self, app: web.Application, address: str) -> None:
        """Listen on host:port and serve `app` (whose first middleware must be ours)."""
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        runner = web.AppRunner(app, access_log=None, handle_signals=False, **handler_args())
        await runner.setup()
        self._runner = runner
        sock = socket.create_server((host, int(port)), family=family, backlog=limits.BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        self._accepting = asyncio.create_task(self._accept_loop(), name=f"accept {self.name}")

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._sock is not None:
            self._sock.close()
        if self._runner is not None:
            # Closes the connections aiohttp knows (those past their TLS handshake).
            await self._runner.cleanup()
        for connection in list(self.open):
            connection.close()

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(self._sock)
            except OSError as exc:
                self._accept_failed(exc)
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            self._admit(sock)
            # sock_accept returns without yielding while connections are queued: yield, so
            # that the connections just taken get read before newer ones can displace them.
            await asyncio.sleep(0)

    def _accept_failed(self, exc: OSError) -> None:
        self.reject("accept_error")
        now = time.monotonic()
        if now - self._last_accept_error >= ACCEPT_ERROR_LOG_INTERVAL:
            self._last_accept_error = now
            log.error("cannot accept connections", listener=self.name, error=str(exc))

    def _admit(self, sock: socket.socket) -> None:
        if len(self.open) >= self.limits.max_connections:
            if not self.waiting:
                self.reject("connections")
                sock.close()
                return
            self.reject("displaced")
            self._displaced().close()
        connection = _Connection(self)
        self.open.add(connection)
        self._gauge.set(len(self.open))
        connection.await_head()
        connection.task = asyncio.create_task(self._connect(connection, sock))

    def _displaced(self) -> _Connection:
        """The waiting connection to close for a new one (see the module)."""
        held = Counter(c.identity for c in self.open)
        waiting = list(self.waiting)
        index = to_displace([c.identity for c in waiting], held)
        return waiting[index or 0]

    async def _connect(self, connection: _Connection, sock: socket.socket) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        server = self._runner.server
        context = self._tls() if self._tls is not None else None
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: _GuardedProtocol(server(), connection),
                sock,
                ssl=context,
                ssl_handshake_timeout=self.limits.header_timeout if context else None,
            )
        except (OSError, asyncio.CancelledError, TimeoutError):
            # A failed or abandoned handshake; asyncio has closed the transport, if any.
            sock.close()
            connection.release()
        finally:
            connection.task = None

    # -- the application's first middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = self.by_protocol.get(request.protocol)
        if connection is not None:
            connection.head_arrived()
        try:
            return await self._bounded(request, handler, connection)
        finally:
            if connection is not None and not connection.released:
                connection.await_head()

    async def _bounded(
        self, request: web.Request, handler: Handler, connection: _Connection | None
    ) -> web.StreamResponse:
        length = request.content_length
        chunked = "chunked" in request.headers.get(hdrs.TRANSFER_ENCODING, "").lower()
        if chunked or (length is not None and length > self.limits.max_body):
            self.reject("body_too_large")
            response = web.Response(status=413, text="request body too large\n")
            response.force_close()
            return response
        who = connection.identity if connection is not None else None
        if who is not None and self._shares.holding(who) >= self._shares.per_identity:
            self.reject("identity_busy")
            return web.Response(status=429, text="too many at once\n", headers={"Retry-After": "1"})
        if self._in_flight >= self.limits.max_in_flight:
            self.reject("busy")
            return web.Response(status=503, text="busy\n", headers={"Retry-After": "1"})
        if who is not None:
            self._shares.take(who)
        self._in_flight += 1
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1
            if who is not None:
                self._shares.give_back(who)
