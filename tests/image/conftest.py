"""The image tier: the container image built by hack/build-image.sh (podman, on a base made
from Debian's packages), its facts read from the image, and the image run the way a cluster
runs it, against the local control plane (devcluster/container.py, devcluster/podspec.py).

- ``image`` (session): the image reference; hack/build-image.sh is run first (cached).
- ``deployment`` (session): the shipped Deployment, as `kubectl kustomize manifests` renders it.
- ``permissions`` (session): the shipped RBAC and admission policies applied, enforced.
- ``pod_network`` (session): the pods' network and the `kubernetes` Service's address.
- ``figures`` (session): lines the tests measure, printed in the run's summary.
- ``pods`` (function): starts pods of the Deployment as containers; all are stopped after
  the test, and one that does not exit 0 on `podman stop` fails it.

The cluster fixtures are the integration tier's. Every test here gets the ``image`` marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.container import (
    ContainerScaler,
    PodmanError,
    PodNetwork,
    build_image,
    deployment_pod,
)
from tests.integration import conftest as integration
from tests.integration.shipped import Objects, installed
from tests.manifests import BASE, one, render

HERE = Path(__file__).resolve().parent
# The integration tier's cluster fixtures, registered here under their own names (pytest
# reads a conftest's attributes; an import under the same names would shadow the
# parameters that ask for them).
globals().update(
    {
        name: getattr(integration, name)
        for name in ("cluster", "namespace", "nodes", "metrics_token")
    }
)
StartPod = Callable[..., ContainerScaler]


# Figures the tests measure (size, memory), printed at the end of the run.
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("image figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.image)


@pytest.fixture(scope="session")
def image() -> str:
    try:
        return build_image()
    except PodmanError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def deployment() -> dict[str, Any]:
    return one(render(BASE), "Deployment")


@pytest.fixture(scope="session")
def permissions(cluster: Cluster) -> Iterator[Objects]:
    with installed(cluster, BASE) as objects:
        yield objects


@pytest.fixture(scope="session")
def pod_network(cluster: Cluster, image: str) -> Iterator[PodNetwork]:
    with PodNetwork(cluster.ports.apiserver).start(image) as network:
        yield network


@pytest.fixture
def pods(
    cluster: Cluster,
    deployment: dict[str, Any],
    permissions: Objects,
    pod_network: PodNetwork,
    tmp_path: Path,
) -> Iterator[StartPod]:
    """`pods(args=None, wait_ready=True)`: a pod of the Deployment (a new pod-like name each
    time), started, and ready unless told otherwise."""
    started: list[ContainerScaler] = []

    def start(args: list[str] | None = None, wait_ready: bool = True) -> ContainerScaler:
        pod = deployment_pod(cluster, deployment, pod_network, tmp_path, args)
        started.append(pod)
        return pod.start(wait_ready=wait_ready)

    yield start
    bad = [(p.log_path, code) for p in started if (code := p.stop()) not in (0, None)]
    if bad:
        pytest.fail(f"a container did not exit 0 on podman stop: {bad}")
