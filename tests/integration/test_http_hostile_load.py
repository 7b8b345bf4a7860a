"""Bounded under hostile input, on the real control plane: two instances with leader election
(lease 4 s, renew deadline 3 s), 2,000 targets (/metrics about 1 MB, /status 1.7 MB), the
metrics listener as shipped (HTTPS, delegated authentication), the processes limited to
1,024 descriptors as in a container. A flood of /metrics and /status from 100
authenticated clients and 50 with random tokens for 30 s costs no lease transition and no
renewal later than the renew deadline, /healthz answers within 1 s at the 99th percentile
and never fails, the RSS stays under the memory limit, and a scraper of another identity
is served at least 99 % of the time; 50 clients with random tokens
leave a scraper that shows a fresh valid token at each scrape served at least 99 % of the
time; 1,100 slow-loris connections leave the open
descriptors under the listeners' caps, the watches working (a node change is still
followed) and the log quiet."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster, load
from devcluster.credentials import metrics_reader_token, service_account_token
from devcluster.polling import wait_until
from devcluster.sampling import HealthSampler, RenewalWatch, RssSampler, quantile
from devcluster.scaler import ScalerFactory, ScalerProcess, fast_election
from devcluster.workloads import replicas
from nodecount_scaler import limits
from testkit.workloads import nginx_everywhere

TARGETS = 2000
FD_LIMIT = 1024
READERS = 100
BOGUS = 50
SECONDS = 30
HEALTHZ_P99 = 1.0
# A scraper beside the flood, each attempt with a token it has never shown the service.
SCRAPE_INTERVAL = 0.5
SCRAPES = int(SECONDS / SCRAPE_INTERVAL) + 10
SCRAPER_SERVED = 0.99
# Under the full flood a scrape (TLS handshake, a review of its fresh token, 1 MB) took up
# to 1.5 s (before the review lanes refused instead of queueing, up to 4 s): at least one
# every 5 s on average.
SCRAPER_SLOWEST = 5.0
# fast_election's.
RENEW_DEADLINE = 3.0
# The RSS a 30-second flood may reach: the chart's memory limit (256Mi), which the service
# must not be killed for. Measured at 2,000 targets: peaks of 121, 140 and 198 MiB from
# 65 (the last with the probes on their own thread, when three times the requests got
# through: 3,000 a second, mostly answered 503 by the byte budget), 82-168 MiB a few
# seconds later. Before answers were written a chunk at a time within a byte budget, 40
# clients took it from 90 to 259 MiB and 100 to 440 MiB, never given back. Twice the
# memory request (192 MiB), the bound aimed at, is not held yet.
RSS_BOUND_MIB = 256
LEASE = "nodecount-scaler"
# Open descriptors past the idle count: both listeners full, plus slack for the moment a
# displaced connection is closed and for watch reconnects.
FD_HEADROOM = limits.METRICS_MAX_CONNECTIONS + limits.PROBE_MAX_CONNECTIONS + 24
# New log lines allowed during 20 s of 1,100 slow clients (one summary a minute, say).
LOG_LINES_ALLOWED = 30


@dataclass
class Fleet:
    cluster: Cluster
    namespace: str
    label: str
    scalers: list[ScalerProcess]
    token_file: Path
    workdir: Path

    def fresh_scraper_tokens(self, count: int) -> Path:
        """A file of `count` tokens of the metrics reader "scraper", one a line, never
        shown to the service."""
        path = self.workdir / f"scraper-tokens-{time.monotonic_ns()}"
        path.write_text(
            "\n".join(
                service_account_token(self.cluster.api, self.namespace, "scraper")
                for _ in range(count)
            )
        )
        return path

    def lease(self) -> dict[str, Any]:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{LEASE}"
        spec: dict[str, Any] = self.cluster.api.get(path)["spec"]
        return spec

    def leader(self) -> ScalerProcess:
        holder = self.lease().get("holderIdentity", "")
        (leading,) = [s for s in self.scalers if s.status()["identity"] == holder]
        return leading

    def lost_leadership(self) -> int:
        return sum(len(s.log_events("lost leadership")) for s in self.scalers)


def refusals(exposition: str) -> dict[str, int]:
    """The metrics listener's refusals by reason, from an exposition of /metrics."""
    counts: dict[str, int] = {}
    for line in exposition.splitlines():
        if line.startswith('nodecount_scaler_http_rejected_total{listener="metrics"'):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def create_targets(cluster: Cluster, namespace: str, label: str) -> None:
    """TARGETS - 1 targets whose selector matches no node, and one ("follow") that tracks
    `label`: every target is rendered in /status and /metrics, and only one ever scales."""
    collection = f"/apis/apps/v1/namespaces/{namespace}/deployments"

    def create(i: int) -> None:
        name = "follow" if i == 0 else f"t{i:04d}"
        selector = f"{label}=yes" if i == 0 else f"{label}-none=yes"
        obj = nginx_everywhere(
            namespace,
            name,
            **{"nodecount-scaler.io/node-selector": selector},
        )
        obj["spec"]["replicas"] = 0
        cluster.api.post(collection, obj)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(TARGETS)))


@pytest.fixture(scope="module")
def fleet(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    namespace = cluster.create_namespace("hostile")
    label = f"hostile-{namespace[-5:]}"
    create_targets(cluster, namespace, label)
    workdir = tmp_path_factory.mktemp("hostile")
    token_file = workdir / "reader-token"
    binding = metrics_reader_token(cluster.api, namespace, token_file, "reader")
    scraper_binding = metrics_reader_token(cluster.api, namespace, workdir / "scraper", "scraper")
    factory = ScalerFactory(cluster.kubeconfig, workdir)
    election = fast_election(namespace)
    try:
        started = [
            factory.start(
                "--namespace",
                namespace,
                *election,
                fd_limit=FD_LIMIT,
                secure=True,
                wait_ready=False,
            )
            for _ in range(2)
        ]
        for scaler in started:
            scaler.token = token_file.read_text().strip()
            scaler.wait_ready(timeout=120)
        fleet = Fleet(cluster, namespace, label, started, token_file, workdir)
        wait_until(
            lambda: fleet.lease().get("holderIdentity") and len(fleet.leader().status()["targets"]),
            timeout=60,
            describe="a leader with its targets",
            retry_on=(Exception,),
        )
        wait_until(
            lambda: all(len(s.status()["targets"]) == TARGETS for s in started),
            timeout=60,
            describe=f"{TARGETS} targets in /status",
        )
        yield fleet
    finally:
        bad = [(p.log_path, code) for p, code in factory.stop_all() if code not in (0, None)]
        cluster.delete_namespace(namespace, wait=False)
        for name in (binding, scraper_binding):
            cluster.api.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
        assert not bad, f"nodecount-scaler did not exit 0 on SIGTERM: {bad}"


def test_a_flood_of_metrics_and_status_costs_no_lease(fleet: Fleet) -> None:
    """100 authenticated clients (one identity, "reader") and 50 with random tokens for
    30 s: zero lease transitions and no renewal later than the renew deadline, /healthz
    p99 under 1 s and never failed, RSS under the memory limit; the readers get at most
    their identity's share of the byte budget, and a scraper of another identity with a
    fresh valid token at each scrape is served at least 99 % of the time."""
    leader = fleet.leader()
    before = fleet.lease()
    lost_before = fleet.lost_leadership()
    urls = [f"{leader.metrics_url}/metrics", f"{leader.metrics_url}/status"]
    metrics_size = len(leader.get("/metrics", 30)[1])
    status_size = len(json.dumps(leader.get("/status", 30)[1], indent=2))
    rss_before = leader.rss_mib()
    cpu_before = leader.cpu_seconds()
    assert leader.proc is not None
    pid = leader.proc.pid

    def pids() -> list[int]:
        return [pid]

    generator = load.start(
        "flood",
        *[a for u in urls for a in ("--url", u)],
        *("--token-file", str(fleet.token_file)),
        *("--clients", str(READERS), "--bogus", str(BOGUS), "--seconds", str(SECONDS)),
        *("--scraper-url", urls[0]),
        *("--scraper-tokens", str(fleet.fresh_scraper_tokens(SCRAPES))),
        *("--scraper-interval", str(SCRAPE_INTERVAL)),
    )
    renewals = RenewalWatch(fleet.cluster.api, fleet.namespace, LEASE)
    with renewals, HealthSampler(leader.url) as health, RssSampler(pids) as rss:
        served = load.finish(generator, timeout=120)
    cpu = leader.cpu_seconds() - cpu_before
    # The readers' token is the test's too: its byte share is full again within 2 s.
    time.sleep(2.5)
    refused = refusals(leader.get("/metrics", 30)[1])
    after = fleet.lease()
    scraped = served.pop("scraper")
    scraped_ok = scraped["by_status"].get("200", 0) / max(1, scraped["requests"])
    transitions = after.get("leaseTransitions", 0) - before.get("leaseTransitions", 0)
    p99 = quantile(health.latencies(), 0.99)
    print(
        f"\nflood at {TARGETS} targets (/metrics {metrics_size:,}, /status about "
        f"{status_size:,} characters): {served}; lease "
        f"transitions {transitions}; {renewals.figures()} (renew deadline "
        f"{RENEW_DEADLINE:g} s); scraper with fresh tokens {scraped} ({scraped_ok:.1%} served); "
        f"{health.figures()}; leader RSS {rss_before:.0f} -> peak {rss.peak():.0f} -> "
        f"{leader.rss_mib():.0f} MiB; leader CPU {cpu:.1f} s in {SECONDS} s; metrics "
        f"listener's refusals since start {refused}"
    )
    # The readers are one identity: their share of the byte budget (a quarter of 16 MiB/s,
    # 8 MiB saved up) lets about 140 answers of about 1 MB through in 30 s; the rest are
    # told 429 with Retry-After. Before the shares they took about 500 (every byte the
    # budget had) and left the scraper 0-6 % of its scrapes.
    share = limits.RESPONSE_BYTES_IDENTITY_SHARE
    share_bytes = share * (limits.RESPONSE_BYTES_PER_SECOND * SECONDS + limits.RESPONSE_BYTES_BURST)
    allowed = share_bytes / (0.9 * min(metrics_size, status_size))
    readers_ok = served["by_status"].get("200", 0)
    assert allowed / 3 <= readers_ok <= allowed, (allowed, served)
    assert served["by_status"].get("429", 0) > readers_ok, served
    assert scraped["requests"] >= SECONDS / SCRAPER_SLOWEST, scraped
    assert scraped_ok >= SCRAPER_SERVED, scraped
    assert after["holderIdentity"] == before["holderIdentity"]
    assert transitions == 0
    assert fleet.lost_leadership() == lost_before
    assert p99 < HEALTHZ_P99, health.figures()
    assert len(renewals.renewals) >= SECONDS / 2, renewals.renewals
    assert max(renewals.gaps()) < RENEW_DEADLINE, renewals.figures()
    health.assert_always_answered()
    assert rss.peak() <= RSS_BOUND_MIB


def test_a_flood_of_bogus_tokens_leaves_a_valid_scraper_served(fleet: Fleet) -> None:
    """50 clients with random bearer tokens for 30 s beside a scraper that shows a token the
    service has never seen at each scrape (so no cached review helps it): at least 99 % of
    the scrapes are served, the flood is told 401 or 429, no renewal is late."""
    leader = fleet.leader()
    url = f"{leader.metrics_url}/metrics"
    generator = load.start(
        "flood",
        *("--url", url, "--clients", "0", "--bogus", str(BOGUS), "--seconds", str(SECONDS)),
        *("--scraper-url", url, "--scraper-interval", str(SCRAPE_INTERVAL)),
        *("--scraper-tokens", str(fleet.fresh_scraper_tokens(SCRAPES))),
    )
    with RenewalWatch(fleet.cluster.api, fleet.namespace, LEASE) as renewals:
        flooded = load.finish(generator, timeout=120)
    scraped = flooded["scraper"]
    scraped_ok = scraped["by_status"].get("200", 0) / max(1, scraped["requests"])
    bogus = flooded["bogus"]["by_status"]
    print(
        f"\ntoken flood at {TARGETS} targets: {BOGUS} clients with random tokens "
        f"{flooded['bogus']}; scraper with a fresh token each {SCRAPE_INTERVAL:g} s "
        f"{scraped} ({scraped_ok:.1%} served); {renewals.figures()}"
    )
    assert bogus.get("429", 0) > bogus.get("401", 0) > 0, "the flood did not spend its lane"
    assert scraped["requests"] >= SECONDS / SCRAPE_INTERVAL / 2, scraped
    assert scraped_ok >= SCRAPER_SERVED, scraped
    assert len(renewals.renewals) >= SECONDS / 2, renewals.renewals
    assert max(renewals.gaps()) < RENEW_DEADLINE, renewals.figures()


def test_slow_loris_connections_keep_descriptors_watches_and_log_bounded(
    fleet: Fleet, tmp_path: Path
) -> None:
    """1,100 trickling clients on both listeners for 20 s: descriptors under the caps, a
    node labelled meanwhile is still followed, a handful of log lines at most."""
    leader = fleet.leader()
    idle_fds = leader.open_fds()
    log_lines = len(leader.log_path.read_text().splitlines())
    rss_before = leader.rss_mib()
    assert leader.proc is not None
    pid = leader.proc.pid

    def pids() -> list[int]:
        return [pid]

    generator = load.start(
        "slowloris",
        *("--port", str(leader.metrics_port), "--port", str(leader.port)),
        *("--connections", "1100", "--seconds", "20"),
    )
    peak = idle_fds
    with HealthSampler(leader.url) as health:
        time.sleep(5)
        node = f"{fleet.label}-n1"
        fleet.cluster.add_node(node, labels={fleet.label: "yes"}, ready_wait=False)
        try:
            deadline = time.monotonic() + 14
            while time.monotonic() < deadline:
                peak = max(peak, leader.open_fds())
                time.sleep(0.2)
            followed = replicas(fleet.cluster, fleet.namespace, "follow")
        finally:
            fleet.cluster.delete_node(node)
        counts = load.finish(generator, timeout=60)
    new_lines = leader.log_path.read_text().splitlines()[log_lines:]
    print(
        f"\nslow-loris: {counts}; fds idle {idle_fds} peak {peak} (limit {FD_LIMIT}); "
        f"{len(new_lines)} new log lines; RSS {rss_before:.0f} -> {leader.rss_mib():.0f} MiB; "
        f"{health.figures()}"
    )
    assert counts.get("opened", 0) >= 1100, counts
    assert peak <= idle_fds + FD_HEADROOM
    assert followed == 1, "the node labelled during the attack was not followed"
    assert len(new_lines) <= LOG_LINES_ALLOWED, "\n".join(new_lines[:20])
    assert not [ln for ln in new_lines if "Too many open files" in ln]
    health.assert_always_answered()
