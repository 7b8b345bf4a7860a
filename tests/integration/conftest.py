"""Fixtures for tests against a real local control plane (see devcluster/).

- ``cluster`` (session): one Cluster for the whole session, started with no Nodes.
  A cluster that cannot start fails the tests (never skips them).
- ``namespace`` (function): a fresh namespace, deleted (without waiting) after the test.
- ``nodes`` (function): creates kwok Nodes with unique names; deletes them after the test.
- ``prometheus`` (function): starts real Prometheus servers (devcluster/prometheus.py),
  stopped after the test; Prometheus missing fails the test.
- ``metrics_token`` (function): a file with the token of a ServiceAccount in ``namespace``
  bound to the shipped ClusterRole nodecount-scaler-metrics-reader (Prometheus's identity).

Every test in this directory gets the ``integration`` marker. ``DEVCLUSTER_KEEP=1`` keeps the
cluster's workdir (logs, audit log, etcd data) after the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster, ClusterStartError
from devcluster.credentials import metrics_reader_token
from devcluster.namespaces import dns_label
from devcluster.prometheus import Prometheus, PrometheusError
from devcluster.scaler import ScalerFactory
from devcluster.testing import NodeFactory

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    keep = os.environ.get("DEVCLUSTER_KEEP", "") not in ("", "0")
    c = Cluster(keep=keep)
    try:
        c.start()
    except ClusterStartError as e:
        pytest.fail(f"the local control plane did not start:\n{e}", pytrace=False)
    try:
        yield c
    finally:
        c.stop()
        if keep:
            print(f"\ndevcluster workdir kept: {c.workdir}")


def _test_prefix(request: pytest.FixtureRequest, max_len: int) -> str:
    return dns_label(request.node.name, max_len)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = cluster.create_namespace(_test_prefix(request, 40))
    yield name
    cluster.delete_namespace(name, wait=False)


@pytest.fixture
def nodes(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[NodeFactory]:
    factory = NodeFactory(cluster, _test_prefix(request, 30))
    yield factory
    factory.cleanup()


@pytest.fixture
def scalers(cluster: Cluster, tmp_path: Path) -> Iterator[ScalerFactory]:
    """Starts real `nodecount-scaler run` processes; all are stopped after the test, and a
    process that did not exit 0 on SIGTERM fails the test."""
    factory = ScalerFactory(cluster.kubeconfig, tmp_path)
    yield factory
    bad = [(p.log_path, code) for p, code in factory.stop_all() if code not in (0, None, -9)]
    if bad:
        pytest.fail(f"nodecount-scaler did not exit 0 on SIGTERM: {bad}")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """`prometheus(scrape_jobs, rule_files)` starts a Prometheus on 127.0.0.1 with its own
    data directory, scraping and evaluating every second; all are stopped after the test."""
    started: list[Prometheus] = []

    def start(scrape_jobs: Sequence[dict[str, Any]], rule_files: Iterable[Path] = ()) -> Prometheus:
        server = Prometheus(tmp_path / f"prometheus-{len(started)}", scrape_jobs, rule_files)
        started.append(server)
        try:
            return server.start()
        except PrometheusError as e:
            pytest.fail(str(e), pytrace=False)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def metrics_token(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "prometheus-token"
    binding = metrics_reader_token(cluster.api, namespace, path, "prometheus")
    yield path
    cluster.api.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{binding}")
