"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.scripted_api import ScriptedApi, scripted_api


@pytest.fixture
async def api() -> AsyncIterator[ScriptedApi]:
    """A scripted API server that records every request (see tests/scripted_api.py)."""
    async with scripted_api() as server:
        yield server
