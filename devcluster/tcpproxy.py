"""A TCP forwarder that a test can cut (a network partition for one client), and that stands
in for kube-proxy in front of the API server for containers (devcluster/container.py).

    with TcpProxy("127.0.0.1", apiserver_port) as proxy:
        kubeconfig server = f"https://{proxy.address}"   # TLS passes through untouched
        proxy.sever()      # every open connection is reset; new ones are blackholed
        proxy.heal()       # new connections are forwarded again

Runs its own asyncio loop in a daemon thread, so it works from synchronous tests.

`sever(mode)`: every forwarded connection is aborted (RST to both ends) at once; then
- "blackhole": new connections are accepted and whatever they send is read and dropped,
  nothing is ever answered (the client waits for its own timeouts, as behind a dropped
  route);
- "refuse": new connections are reset as soon as they are accepted (the client sees
  ECONNRESET at once; like a refused connection, but the port stays ours).
`heal()` resets the blackholed connections (their streams are garbage by then) and
forwards new connections again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, Literal, Self, TypeVar

Mode = Literal["blackhole", "refuse"]
T = TypeVar("T")
CHUNK = 64 * 1024


class TcpProxy:
    def __init__(
        self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1"
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = 0
        self.severed: Mode | None = None
        self.accepted = 0
        self.aborted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        # Open forwarded connections: the two transports of each.
        self._links: set[tuple[asyncio.WriteTransport, asyncio.WriteTransport]] = set()
        self._holes: set[asyncio.WriteTransport] = set()

    # ------------------------------------------------------------------ public (any thread)

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        self._server = self._run(
            asyncio.start_server(self._accept, self.listen_host, 0, reuse_address=True)
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def sever(self, mode: Mode = "blackhole") -> int:
        """Cut the link; returns how many open connections were reset."""
        return self._run(self._sever(mode))

    def heal(self) -> int:
        """Forward again; returns how many blackholed connections were reset."""
        return self._run(self._heal())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loop side

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _sever(self, mode: Mode) -> int:
        self.severed = mode
        links = list(self._links)
        self._links.clear()
        for client, upstream in links:
            client.abort()
            upstream.abort()
        self.aborted += len(links)
        return len(links)

    async def _heal(self) -> int:
        self.severed = None
        holes = list(self._holes)
        self._holes.clear()
        for transport in holes:
            transport.abort()
        return len(holes)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._sever("refuse")
        await self._heal()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.severed == "refuse":
            writer.transport.abort()
            return
        if self.severed == "blackhole":
            await self._blackhole(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self.severed is not None:  # cut while we were connecting
            up_writer.transport.abort()
            writer.transport.abort()
            return
        link = (writer.transport, up_writer.transport)
        self._links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._links.discard(link)
            writer.transport.abort()
            up_writer.transport.abort()

    async def _blackhole(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._holes.add(writer.transport)
        try:
            while await reader.read(CHUNK):
                pass
        except OSError:
            pass
        finally:
            self._holes.discard(writer.transport)
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction until EOF or error; then end the whole link."""
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
