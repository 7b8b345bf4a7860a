"""The image run exactly as the shipped Deployment runs it (its pod spec translated by
devcluster/podspec.py: user, read-only root, no capabilities, no new privileges, its args and
env, its /tmp volume and memory limit), in-cluster: KUBERNETES_SERVICE_HOST/PORT and the
shipped ServiceAccount's token, with the shipped RBAC and admission policies enforced.

It becomes ready, scales an annotated target on node changes (the API server's audit log
names the service account as the writer), serves /metrics over HTTPS to a reader of the
metrics and refuses a caller without a token, and exits 0 within 5 s of `podman stop`.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

from devcluster import Cluster
from devcluster.container import ContainerScaler
from devcluster.polling import wait_until
from devcluster.sampling import RssSampler
from devcluster.scaler import parse_metrics
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.image.conftest import StartPod
from tests.integration.shipped import USER
from tests.integration.workloads import apply, replica_writes

SELECTOR = "nodecount-scaler.io/node-selector"
STOP_BUDGET = 5.0
APP = "nginx-everywhere"
ELIGIBLE = "nodecount_scaler_eligible_nodes"


def https_get(url: str, token: str | None) -> tuple[int, str]:
    context = ssl.create_default_context()
    # The serving certificate is self-signed, as a scraper through the Service sees it.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def process_status(pod: ContainerScaler) -> dict[str, str]:
    """/proc/PID/status of the service's process, as the host sees it."""
    lines = Path(f"/proc/{pod.pid()}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def root_mount_options(pod: ContainerScaler) -> list[str]:
    for line in Path(f"/proc/{pod.pid()}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError("no / in mountinfo")


def wait_replicas(cluster: Cluster, namespace: str, want: int) -> None:
    wait_until(lambda: replicas(cluster, namespace, APP) == want, 30, describe=f"{APP} at {want}")


def test_the_process_runs_confined_as_the_pod_spec_says(pods: StartPod) -> None:
    """What the kernel says of the running service: uid/gid 65532, no capability at all,
    no_new_privs, a seccomp filter, and a read-only root filesystem."""
    status = process_status(pods())
    assert status["Uid"].split() == ["65532"] * 4
    assert status["Gid"].split() == ["65532"] * 4
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, capabilities
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # filter mode: the runtime's default profile


def test_in_cluster_it_scales_serves_metrics_and_stops(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    metrics_token: Path,
    pods: StartPod,
    figures: list[str],
) -> None:
    pod = pods()
    assert "ro" in root_mount_options(pod)
    idle = pod.rss_mib()
    label = {"image-test": namespace}
    apply(cluster, nginx_everywhere(namespace, **{SELECTOR: f"image-test={namespace}"}))
    with RssSampler(lambda: [pod.pid()]) as rss:
        added = nodes.add_many(2, labels=label)
        wait_replicas(cluster, namespace, 2)
        nodes.add(labels=label)
        wait_replicas(cluster, namespace, 3)
        nodes.delete(added[0])
        wait_replicas(cluster, namespace, 2)
    writers = {w["user"]["username"] for w in replica_writes(cluster, namespace, APP)}
    assert writers == {USER}, writers

    token = metrics_token.read_text()
    status, body = https_get(f"{pod.metrics_url}/metrics", token)
    assert status == 200
    eligible = [
        v for labels, v in parse_metrics(body, ELIGIBLE) if labels["namespace"] == namespace
    ]
    assert eligible == [2.0], body
    assert https_get(f"{pod.metrics_url}/metrics", None)[0] == 401

    code, seconds = pod.stop_timed()
    figures.append(
        f"container RSS: {idle:.1f} MiB idle after the first sync, peak {rss.peak():.1f} MiB "
        f"during three node changes; podman stop: exit {code} in {seconds:.2f} s"
    )
    assert code == 0, pod.log_path.read_text()[-3000:]
    assert seconds < STOP_BUDGET
