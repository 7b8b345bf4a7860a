"""Observers that run on a thread of their own while a test or the soak puts load on a
service: one asks /healthz every interval and times each answer, one reads the RSS of
processes. Both are context managers and summarise what they saw.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import threading
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

from devcluster.api import ApiClient
from devcluster.process import rss_kib

# The kubelet's default probe timeout (timeoutSeconds: 1 in most charts, 2 here).
HEALTHZ_BUDGET = 2.0


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by the nearest rank below (p99 of 100 values is the 99th)."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


class Ticker:
    """Calls `fn` every `interval` seconds (start to start; at once again when a call takes
    longer) on a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], None], interval: float, name: str | None = None) -> None:
        self._fn, self._interval = fn, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._fn()
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


class Sampling(ABC):
    """A context manager that calls `sample()` every `interval` seconds while it is open."""

    interval: float
    _ticker: Ticker | None = None

    @abstractmethod
    def sample(self) -> None:
        """Take one sample."""

    def __enter__(self) -> Self:
        self._ticker = Ticker(self.sample, self.interval).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._ticker is not None
        self._ticker.stop()


@dataclass
class HealthSampler(Sampling):
    """GETs `url`/healthz every `interval` seconds; records each answer's status (None: no
    answer within the budget) and latency."""

    url: str
    interval: float = 0.25
    budget: float = HEALTHZ_BUDGET
    samples: list[tuple[int | None, float]] = field(default_factory=list)

    def sample(self) -> None:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=self.budget) as r:
                r.read()
                status: int | None = r.status
        except OSError:
            status = None
        self.samples.append((status, time.monotonic() - started))

    def latencies(self) -> list[float]:
        return [latency for _, latency in self.samples]

    def figures(self) -> str:
        latencies = self.latencies()
        return (
            f"/healthz n={len(latencies)} p50={statistics.median(latencies) * 1000:.0f} ms "
            f"p99={quantile(latencies, 0.99) * 1000:.0f} ms max={max(latencies) * 1000:.0f} ms"
        )

    def late(self) -> list[tuple[int | None, float]]:
        """The answers that failed or came at or past the budget."""
        return [s for s in self.samples if s[0] != 200 or s[1] >= self.budget]

    def assert_always_answered(self) -> None:
        assert len(self.samples) > 20, self.samples
        late = self.late()
        assert not late, f"/healthz failed or was late: {late[:10]} ({self.figures()})"


@dataclass
class RssSampler(Sampling):
    """The RSS (MiB) of each process `pids()` names, every `interval` seconds; a process
    that is gone reads 0 and is left out."""

    pids: Callable[[], Sequence[int]]
    interval: float = 0.2
    samples: list[dict[int, float]] = field(default_factory=list)

    def sample(self) -> None:
        now = {pid: rss_kib(pid) / 1024 for pid in self.pids()}
        self.samples.append({pid: mib for pid, mib in now.items() if mib})

    def peak(self, pid: int | None = None) -> float:
        """The highest RSS seen, of one process or of any."""
        return max(
            (mib for s in self.samples for p, mib in s.items() if pid is None or p == pid),
            default=0.0,
        )


def _wall(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class RenewalWatch:
    """Watches one Lease on a thread of its own and keeps each renewal the API server
    stored: (holder, renewTime as wall-clock seconds). The gaps between a holder's
    consecutive renewTimes are how long its renewals took to come round (the holder writes
    renewTime as it sends the renewal, so a gap past the renew deadline is a term that
    ran out)."""

    def __init__(self, api: ApiClient, namespace: str, name: str) -> None:
        self._api = api
        self._path = (
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
            f"?watch=1&fieldSelector=metadata.name%3D{name}&timeoutSeconds=600"
        )
        self.renewals: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="renewals", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                for event in self._api.stream(self._path, timeout=60):
                    spec = event.get("object", {}).get("spec", {})
                    if spec.get("holderIdentity") and spec.get("renewTime"):
                        self.renewals.append((spec["holderIdentity"], _wall(spec["renewTime"])))
                    if self._stop.is_set():
                        return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def gaps(self) -> list[float]:
        """Seconds between consecutive renewals of the same holder."""
        return [
            b[1] - a[1]
            for a, b in zip(self.renewals, self.renewals[1:], strict=False)
            if a[0] == b[0]
        ]

    def figures(self) -> str:
        gaps = self.gaps() or [0.0]
        return (
            f"renewals n={len(self.renewals)} gap p50={statistics.median(gaps):.2f} s "
            f"p99={quantile(gaps, 0.99):.2f} s max={max(gaps):.2f} s"
        )
