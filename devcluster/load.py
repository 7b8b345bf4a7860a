"""Hostile HTTP clients for the integration tests, run as a process of their own so that the
load does not share the test's interpreter: a flood of GETs from many concurrent clients,
and slow-loris connections that trickle a request head and never finish it.

    python -m devcluster.load flood --url http://127.0.0.1:P/metrics --clients 100 --seconds 30
    python -m devcluster.load flood --url https://127.0.0.1:P/status --token-file T \
        --clients 100 --bogus 50 --seconds 30
    python -m devcluster.load flood ... --scraper-url https://127.0.0.1:P/metrics \
        --scraper-tokens FILE --scraper-interval 0.5
    python -m devcluster.load slowloris --port P --connections 1100 --seconds 20

Loopback only (the addresses are 127.0.0.1), bounded in count and time, stops by itself;
prints one JSON line of counts at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

LOOPBACK = "127.0.0.1"
RECONNECT = 0.1


async def _flood_client(
    session: aiohttp.ClientSession,
    urls: Sequence[str],
    until: float,
    counts: Counter[str],
    token: str | None,
) -> None:
    """GET the urls in turn until `until`; with `token` "" a fresh random bearer token
    each time (a credential no TokenReview accepts)."""
    i = 0
    while time.monotonic() < until:
        url = urls[i % len(urls)]
        i += 1
        bearer = secrets.token_urlsafe(24) if token == "" else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
                counts[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            counts[type(exc).__name__] += 1
            await asyncio.sleep(0.01)


async def _scraper(
    url: str, tokens: Sequence[str], interval: float, until: float, counts: Counter[str]
) -> None:
    """A scraper that is not part of the flood: one GET of `url` every `interval` seconds,
    each with the next token of `tokens` (fresh ones: tokens the service has never
    reviewed), on a connection of its own each time, as a scraper meeting the service
    anew would (its latency is counted too)."""
    timeout = aiohttp.ClientTimeout(total=10)
    for token in itertools.cycle(tokens):
        started = time.monotonic()
        if started >= until:
            return
        connector = aiohttp.TCPConnector(limit=1, ssl=False, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                headers = {"Authorization": f"Bearer {token}"}
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    counts[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                counts[type(exc).__name__] += 1
        counts["slowest_ms"] = max(counts["slowest_ms"], int(1000 * (time.monotonic() - started)))
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


@dataclass(frozen=True)
class Scraper:
    url: str
    tokens: Sequence[str]
    interval: float = 0.5


async def flood(
    urls: Sequence[str],
    clients: int,
    seconds: float,
    token: str | None = None,
    bogus: int = 0,
    scraper: Scraper | None = None,
) -> dict[str, Any]:
    """`clients` concurrent clients (with `token`, if any) and `bogus` ones with random
    tokens, each with its own connection, GET the `urls` in turn as fast as answers come,
    for `seconds`; beside them, `scraper` if any."""
    counts: Counter[str] = Counter()
    bogus_counts: Counter[str] = Counter()
    scraped: Counter[str] = Counter()
    until = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, ssl=False), timeout=timeout)
        for _ in range(clients + bogus)
    ]
    runs = [
        _flood_client(s, urls, until, counts, token)
        if i < clients
        else _flood_client(s, urls, until, bogus_counts, "")
        for i, s in enumerate(sessions)
    ]
    if scraper is not None:
        runs.append(_scraper(scraper.url, scraper.tokens, scraper.interval, until, scraped))
    try:
        await asyncio.gather(*runs)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    out = {"requests": sum(counts.values()), "by_status": dict(counts)}
    if bogus:
        out["bogus"] = {"requests": sum(bogus_counts.values()), "by_status": dict(bogus_counts)}
    if scraper is not None:
        slowest = scraped.pop("slowest_ms", 0)
        out["scraper"] = {
            "requests": sum(scraped.values()),
            "by_status": dict(scraped),
            "slowest_ms": slowest,
        }
    return out


async def _loris(port: int, until: float, interval: float, counts: Counter[str]) -> None:
    """One slow client: opens, sends a request line, then one header byte per interval;
    when the server closes the connection it opens a new one RECONNECT seconds later."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            counts["connect_failed"] += 1
            await asyncio.sleep(interval)
            continue
        counts["opened"] += 1
        try:
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            while time.monotonic() < until:
                await asyncio.sleep(interval)
                writer.write(b"X")
                await writer.drain()
                if reader.at_eof():
                    break
            counts["closed_by_server" if reader.at_eof() else "held_to_the_end"] += 1
        except OSError:
            counts["closed_by_server"] += 1
        finally:
            writer.close()
        await asyncio.sleep(RECONNECT)


async def slowloris(
    ports: Sequence[int], connections: int, seconds: float, interval: float = 1.0
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(_loris(ports[i % len(ports)], until, interval, counts) for i in range(connections))
    )
    return dict(counts)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.load")
    commands = parser.add_subparsers(dest="command", required=True)
    f = commands.add_parser("flood")
    f.add_argument("--url", action="append", required=True)
    f.add_argument("--clients", type=int, default=100)
    f.add_argument("--seconds", type=float, default=30.0)
    f.add_argument("--token-file", help="a bearer token for every client")
    f.add_argument("--bogus", type=int, default=0, help="more clients with random tokens")
    f.add_argument("--scraper-url", help="a scraper beside the flood GETs this URL...")
    f.add_argument("--scraper-tokens", help="...with the next token of this file each time")
    f.add_argument("--scraper-interval", type=float, default=0.5)
    s = commands.add_parser("slowloris")
    s.add_argument("--port", type=int, action="append", required=True)
    s.add_argument("--connections", type=int, default=1100)
    s.add_argument("--seconds", type=float, default=20.0)
    s.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.command == "flood":
        if not all(u.startswith((f"http://{LOOPBACK}:", f"https://{LOOPBACK}:")) for u in args.url):
            parser.error(f"URLs must be http(s)://{LOOPBACK}:PORT/...")
        token = Path(args.token_file).read_text().strip() if args.token_file else None
        scraper = None
        if args.scraper_url:
            tokens = Path(args.scraper_tokens).read_text().split()
            scraper = Scraper(args.scraper_url, tokens, args.scraper_interval)
        _raise_fd_limit(args.clients + args.bogus + 64)
        result = asyncio.run(
            flood(args.url, args.clients, args.seconds, token, args.bogus, scraper)
        )
    else:
        _raise_fd_limit(args.connections + 64)
        result = asyncio.run(slowloris(args.port, args.connections, args.seconds, args.interval))
    print(json.dumps(result), flush=True)
    return 0


def start(*args: str) -> subprocess.Popen[str]:
    """This module as a child process; read its JSON line with `finish`."""
    return subprocess.Popen(
        [sys.executable, "-m", "devcluster.load", *args], stdout=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"load generator exited {process.returncode}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    sys.exit(main())
