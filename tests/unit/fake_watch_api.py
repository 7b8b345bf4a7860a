"""A scripted API server for the Reflector tests and what they build on it.

The server answers each LIST and each WATCH request with the next responder of its script;
a WATCH past the end of the script is held open in silence, so a test that has seen its last
expected request sees no further ones. Backoff delays are tiny and recorded, so tests assert
whether a failure was backed off without timing anything.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web

from nodecount_scaler.kube.client import KubeClient
from nodecount_scaler.kube.watch import Backoff, Reflector
from tests.scripted_api import Reopenable
from tests.tasks import running_task
from tests.unit.string_projection import PROJECTION

PATH = "/api/v1/nodes"
# Generous: only the stall test relies on an inactivity timeout firing, and sets its own.
QUIET = 30.0
WAIT = 10.0

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]
Request = tuple[str, str]  # ("list", continue token) or ("watch", resourceVersion)


# --------------------------------------------------------------------------- objects


def node(name: str, rv: int, data: str = "x") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(rv)}, "data": data}


def event(event_type: str, body: object) -> bytes:
    return orjson.dumps({"type": event_type, "object": body}) + b"\n"


def bookmark(rv: int) -> bytes:
    return event("BOOKMARK", {"kind": "Node", "metadata": {"resourceVersion": str(rv)}})


def error_event(code: int, reason: str) -> bytes:
    return event("ERROR", {"kind": "Status", "code": code, "reason": reason, "message": reason})


class RecordingSink:
    """A dict-backed Sink that also logs every call, in order."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.calls: list[tuple[object, ...]] = []

    def replace(self, items: dict[str, str]) -> None:
        self.items = dict(items)
        self.calls.append(("replace", dict(items)))

    def upsert(self, key: str, view: str) -> None:
        self.items[key] = view
        self.calls.append(("upsert", key, view))

    def delete(self, key: str) -> None:
        self.items.pop(key, None)
        self.calls.append(("delete", key))


@dataclass(slots=True)
class RecordingBackoff(Backoff):
    """Tiny delays; remembers how many times run() backed off."""

    initial: float = 0.005
    cap: float = 0.02
    waits: int = 0

    def next_delay(self) -> float:
        self.waits += 1
        return Backoff.next_delay(self)


# --------------------------------------------------------------------------- scripted server


def status(code: int, reason: str, message: str = "") -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
        return web.json_response({**body, "reason": reason, "message": message}, status=code)

    return respond


def list_page(*items: dict[str, Any], rv: int = 0, cont: str = "") -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        metadata = {"resourceVersion": str(rv) if rv else "", "continue": cont}
        return web.Response(
            body=orjson.dumps({"kind": "NodeList", "metadata": metadata, "items": list(items)}),
            content_type="application/json",
        )

    return respond


def gated(responder: Responder, gate: asyncio.Event) -> Responder:
    """`responder`, once `gate` is set: lets a test look at the reflector mid-script."""

    async def respond(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return await responder(request)

    return respond


def raw_body(body: bytes) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="text/html")

    return respond


class FakeApi:
    """An API server for one collection, following a script of LIST and WATCH answers."""

    def __init__(self) -> None:
        self.lists: deque[Responder] = deque()
        self.watches: deque[Responder] = deque()
        self.requests: list[Request] = []
        self.limits: list[str] = []
        self._server = Reopenable(self._app, shutdown_timeout=1.0)
        self._stopping = asyncio.Event()

    @property
    def host(self) -> str:
        return self._server.host

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        return app

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        await self._server.start()

    async def stop(self) -> None:
        """Go away like a crashed API server: open streams are cut, new connections refused."""
        self._stopping.set()
        await self._server.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._stopping.is_set():
            return await self._cut(request)
        query = request.query
        if query.get("watch") in ("1", "true"):
            self.requests.append(("watch", query.get("resourceVersion", "")))
            responder = self.watches.popleft() if self.watches else self.stream()
        else:
            self.requests.append(("list", query.get("continue", "")))
            self.limits.append(query.get("limit", ""))
            responder = self.lists.popleft() if self.lists else status(500, "Unscripted")
        return await responder(request)

    def stream(self, *steps: bytes | asyncio.Event, end: str = "hold") -> Responder:
        """A watch response: headers, then each step (a chunk to send, or an Event to wait
        for), then `end`: "close" ends the response normally, "cut" closes the connection
        mid-body, "hold" keeps it open and silent until the server stops."""

        async def respond(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for step in steps:
                if isinstance(step, asyncio.Event):
                    await step.wait()
                else:
                    await response.write(step)
            if end == "hold":
                await self._stopping.wait()
                return await self._cut(request)
            if end == "cut":
                return await self._cut(request)
            await response.write_eof()
            return response

        return respond

    @staticmethod
    async def _cut(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        # Unwinds the handler; aiohttp does not log a dropped connection.
        raise asyncio.CancelledError


def make_reflector(
    client: KubeClient, sink: RecordingSink, backoff: RecordingBackoff, **kwargs: Any
) -> Reflector[str, str]:
    kwargs.setdefault("inactivity_timeout", QUIET)
    reflector = Reflector(client, "nodes", PATH, PROJECTION, sink, **kwargs)
    reflector._backoff = backoff  # no public knob; keeps failure paths fast
    return reflector


def running(reflector: Reflector[Any, Any]) -> AbstractAsyncContextManager[asyncio.Task[None]]:
    return running_task(reflector.run())


async def eventually(task: asyncio.Task[None], condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds; fail at once if run() ended (it never should)."""

    async def poll() -> None:
        while not condition():
            if task.done():
                task.result()  # re-raises what escaped run()
                pytest.fail("Reflector.run() returned")
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), WAIT)


def seen(api: FakeApi, count: int) -> Callable[[], bool]:
    return lambda: len(api.requests) >= count
