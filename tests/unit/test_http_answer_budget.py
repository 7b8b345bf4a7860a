"""/metrics and /status answers: written whole a chunk at a time, within a budget of bytes
a second for every reader together (past it 503 with Retry-After) and a share of it and of
the answers at once for each identity (past it 429 with Retry-After, the others served);
the CPU of their renderings reported."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

from nodecount_scaler import limits, metrics
from nodecount_scaler.http.app import IDENTITY, Check, FairAnswers, Probes, metrics_app
from nodecount_scaler.http.listener import METRICS_LIMITS, BoundedListener

BIG = {"targets": [{"name": f"t{i:05d}", "note": "x" * 200} for i in range(10_000)]}


async def test_answers_are_whole_and_within_the_byte_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "RESPONSE_BYTES_PER_SECOND", 1.0)
    monkeypatch.setattr(limits, "RESPONSE_BYTES_BURST", 6 * 2**20)
    # One identity here (no authentication), with a share past the whole budget: the
    # budget of every reader together is what binds.
    monkeypatch.setattr(limits, "RESPONSE_BYTES_IDENTITY_SHARE", 2.0)
    probes = Probes(lambda: Check(True, {}), lambda: Check(True, {}), lambda: BIG)
    listener = BoundedListener("metrics", METRICS_LIMITS)
    await listener.start(metrics_app(listener, probes, None), "127.0.0.1:0")
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{listener.port}/status"
            answers = []
            for _ in range(4):
                async with session.get(url) as response:
                    answers.append((response.status, await response.read(), response.headers))
    finally:
        await listener.stop()
    size = len(answers[0][1])
    assert size > 2 * 2**20  # more than 2 MiB: two fit the burst of 6, a third does not
    assert [status for status, _, _ in answers] == [200, 200, 503, 503]
    assert answers[0][1] == answers[1][1]
    assert orjson.loads(answers[0][1]) == BIG
    assert answers[2][2]["Retry-After"] == "1"
    assert (
        metrics.REGISTRY.get_sample_value("nodecount_scaler_render_seconds", {"endpoint": "status"})
        or 0
    ) > 0


async def test_an_identity_past_its_share_is_told_429_and_another_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "RESPONSE_BYTES_PER_SECOND", 1.0)
    monkeypatch.setattr(limits, "RESPONSE_BYTES_BURST", 4000)
    monkeypatch.setattr(limits, "RESPONSE_BYTES_IDENTITY_SHARE", 0.25)
    body = b"x" * 600
    fair = FairAnswers(BoundedListener("metrics", METRICS_LIMITS))

    async def as_user(name: str) -> int:
        request = make_mocked_request("GET", "/metrics")
        request[IDENTITY] = name
        return (await fair.send(request, body, "text/plain")).status

    # A share is a thousand bytes: one answer of 600 each, then 429 for that identity
    # while the budget of every reader together (4,000) still serves the next one.
    assert [await as_user("reader") for _ in range(3)] == [200, 429, 429]
    assert [await as_user("scraper") for _ in range(2)] == [200, 429]
    assert await as_user("third") == 200
    refused = make_mocked_request("GET", "/metrics")
    refused[IDENTITY] = "reader"
    response = await fair.send(refused, body, "text/plain")
    assert response.headers["Retry-After"] == "1"


async def test_an_identity_writes_at_most_its_share_of_answers_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fair = FairAnswers(BoundedListener("metrics", METRICS_LIMITS))
    held = [fair._writing.take("reader") for _ in range(limits.METRICS_IN_FLIGHT_PER_IDENTITY)]
    assert all(held)
    request = make_mocked_request("GET", "/metrics")
    request[IDENTITY] = "reader"
    assert (await fair.send(request, b"x", "text/plain")).status == 429
    other = make_mocked_request("GET", "/metrics")
    other[IDENTITY] = "scraper"
    assert (await fair.send(other, b"x", "text/plain")).status == 200


async def test_a_reader_that_hangs_up_mid_answer_is_counted_not_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /status reader that closes its connection after the headers: the write fails with
    a reset, which is counted under reader_gone and leaves no error log."""
    # Larger than any socket buffer of the loopback, so the reset meets a write.
    huge = {"targets": BIG["targets"] * 20}
    monkeypatch.setattr(limits, "RESPONSE_BYTES_BURST", 2**30)
    probes = Probes(lambda: Check(True, {}), lambda: Check(True, {}), lambda: huge)
    listener = BoundedListener("metrics", METRICS_LIMITS)
    await listener.start(metrics_app(listener, probes, None), "127.0.0.1:0")
    labels = {"listener": "metrics", "reason": "reader_gone"}
    before = metrics.REGISTRY.get_sample_value("nodecount_scaler_http_rejected_total", labels)
    caplog.set_level(logging.DEBUG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()  # a reset, not an orderly close
        for _ in range(200):
            now = metrics.REGISTRY.get_sample_value("nodecount_scaler_http_rejected_total", labels)
            if (now or 0) > (before or 0):
                break
            await asyncio.sleep(0.02)
    finally:
        await listener.stop()
    after = metrics.REGISTRY.get_sample_value("nodecount_scaler_http_rejected_total", labels)
    assert (after or 0) == (before or 0) + 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
