"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nodecount_scaler.kube.client import KubeClient
from tests.scripted_api import ScriptedApi, scripted_api
from tests.unit.fake_watch_api import FakeApi


@pytest.fixture
async def api() -> AsyncIterator[ScriptedApi]:
    """A scripted API server that records every request (see tests/scripted_api.py)."""
    async with scripted_api() as server:
        yield server


@pytest.fixture
async def fake() -> AsyncIterator[FakeApi]:
    """A scripted list-and-watch server for the Reflector (see tests/unit/fake_watch_api.py)."""
    server = FakeApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def kube(fake: FakeApi) -> AsyncIterator[KubeClient]:
    """A client of `fake`."""
    async with KubeClient.for_url(fake.host) as client:
        yield client
