"""The service's image run the way a cluster runs it: podman, the pod spec of the shipped
Deployment, in-cluster configuration. For the image tests and `hack/demo.sh --image`.

- `podman()`: every podman command of the project, with hack/containers.conf.
- `PodNetwork`: each container gets its own network namespace and address, as a pod does,
  on a podman bridge over the API server's Service range; the `kubernetes` Service's address
  (the range's first, which the API server's certificate names) is the bridge's own, where a
  TCP forwarder stands in for kube-proxy in front of the API server on 127.0.0.1.
- `service_account_volume()`: token (TokenRequest), ca.crt and namespace as the kubelet
  projects them at /var/run/secrets/kubernetes.io/serviceaccount.
- `pod_run()`: the `podman run` flags that say what the Deployment's pod spec says
  (devcluster/podspec.py); `ContainerScaler` runs them and observes the container from
  outside like ScalerProcess does a local process.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

from devcluster.cluster import Cluster
from devcluster.credentials import service_account_token
from devcluster.pki import SERVICE_CLUSTER_IP_RANGE
from devcluster.podspec import Placement, PodRun, pod_run
from devcluster.polling import wait_until
from devcluster.process import log_tail, rss_kib
from devcluster.scaler import ScalerEndpoints
from devcluster.tcpproxy import TcpProxy
from devcluster.versions import REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "hack" / "containers.conf"
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-image.sh"
NETWORK = "nodecount-scaler-pods"


class PodmanError(RuntimeError):
    """A podman command failed (its stderr in the message)."""


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    path = shutil.which("podman")
    if path is None:
        raise PodmanError("podman is not installed: hack/build-image.sh installs it")
    result = subprocess.run(
        [path, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=podman_env(),
        check=False,
    )
    if check and result.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def build_image(timeout: float = 1800.0) -> str:
    """hack/build-image.sh (cached: a second or less when nothing changed); the image it
    prints last."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise PodmanError(f"hack/build-image.sh failed:\n{result.stderr[-4000:]}")
    return result.stdout.strip().splitlines()[-1]


def inspect(kind: str, name: str) -> dict[str, object]:
    """`podman <kind> inspect NAME` as one dict."""
    found: list[dict[str, object]] = json.loads(podman(kind, "inspect", name).stdout)
    return found[0]


def _is_local(address: str) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


@dataclass
class PodNetwork:
    """The pods' network: see the module's docstring. One forwarder per PodNetwork, on a free
    port of the Service address (the port pods are told in KUBERNETES_SERVICE_PORT)."""

    api_port: int
    name: str = NETWORK
    subnet: str = SERVICE_CLUSTER_IP_RANGE
    proxy: TcpProxy | None = None

    @property
    def service_host(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    @property
    def service_port(self) -> int:
        assert self.proxy is not None, "PodNetwork.start() first"
        return self.proxy.port

    def start(self, image: str) -> Self:
        if podman("network", "exists", self.name, check=False).returncode != 0:
            podman(
                "network",
                "create",
                "--subnet",
                self.subnet,
                "--gateway",
                self.service_host,
                self.name,
            )
        if not _is_local(self.service_host):
            # The bridge (and its address) appears with the first container on it.
            podman("run", "--rm", "--network", self.name, image, "--version")
        self.proxy = TcpProxy("127.0.0.1", self.api_port, listen_host=self.service_host).start()
        return self

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def service_account_volume(
    cluster: Cluster, directory: Path, namespace: str, account: str, gid: int
) -> Path:
    """The files the kubelet projects for a pod's service account: a TokenRequest token,
    the cluster's CA and the namespace, root-owned, readable by the pod's fsGroup."""
    directory.mkdir(parents=True, exist_ok=True)
    admin = json.loads(cluster.kubeconfig.read_text())
    ca = Path(admin["clusters"][0]["cluster"]["certificate-authority"]).read_bytes()
    files = {
        "token": service_account_token(cluster.api, namespace, account).encode(),
        "ca.crt": ca,
        "namespace": namespace.encode(),
    }
    for name, content in files.items():
        path = directory / name
        path.write_bytes(content)
        os.chown(path, 0, gid)
        path.chmod(0o640)
    directory.chmod(0o755)
    return directory


@dataclass
class ContainerScaler(ScalerEndpoints):
    """One pod's container, run in the foreground by `podman run --rm` with its output (the
    service's JSON log) in `log_path`; probes and metrics read at the container's address."""

    run: PodRun
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    address: str | None = None
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def command(self) -> list[str]:
        return [
            "podman",
            "run",
            "--rm",
            "--name",
            self.name,
            *self.run.flags,
            self.run.image,
            *self.run.args,
        ]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.run.ports['probes']}"

    @property
    def metrics_address(self) -> str:
        return f"{self.address}:{self.run.ports['metrics']}"

    @property
    def metrics_url(self) -> str:
        return f"{'https' if self.run.secure_metrics else 'http'}://{self.metrics_address}"

    def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> Self:
        self._log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, stdout=self._log_file, stderr=subprocess.STDOUT, env=podman_env()
        )
        self.address = wait_until(
            self._container_address,
            timeout,
            describe=f"container {self.name}",
            abort=self.exit_reason,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the Deployment's readiness probe would pass."""
        wait_until(
            lambda: self.probe(self.run.readiness_path) == 200,
            timeout,
            describe=f"{self.run.readiness_path} of container {self.name} (log {self.log_path})",
            abort=self.exit_reason,
        )

    def _container_address(self) -> str | None:
        answer = podman("container", "inspect", self.name, check=False)
        if answer.returncode != 0:
            return None
        networks = json.loads(answer.stdout)[0]["NetworkSettings"]["Networks"]
        address = str(networks.get(NETWORK, {}).get("IPAddress", ""))
        return address or None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_reason(self) -> str | None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is None:
            return None
        return f"container {self.name} exited with {code}; log tail:\n{log_tail(self.log_path, 30)}"

    def pid(self) -> int:
        """The service's process as the host sees it (the container's PID 1)."""
        state = inspect("container", self.name)["State"]
        assert isinstance(state, dict)
        return int(state["Pid"])

    def rss_mib(self) -> float:
        return rss_kib(self.pid()) / 1024

    def stop(self, timeout: float | None = None) -> int | None:
        """`podman stop` (SIGTERM, SIGKILL after the pod's grace period); the exit code,
        None if the container had to be killed."""
        if self.proc is None:
            return None
        grace = self.run.grace_seconds if timeout is None else timeout
        if self.proc.poll() is None:
            podman("stop", "--time", str(int(grace)), self.name, check=False, timeout=grace + 30)
        try:
            code = self.proc.wait(30)
        finally:
            self._close_log()
        return None if code == 137 else code

    def stop_timed(self) -> tuple[int | None, float]:
        """The exit code of `stop()` and the seconds it took."""
        started = time.monotonic()
        code = self.stop()
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL, as when the node dies: nothing is released."""
        if self.running():
            podman("kill", "--signal", "KILL", self.name, check=False)
            assert self.proc is not None
            self.proc.wait(30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def deployment_pod(
    cluster: Cluster,
    deployment: dict[str, Any],
    network: PodNetwork,
    directory: Path,
    args: list[str] | None = None,
) -> ContainerScaler:
    """A new pod of the Deployment (a pod-like name), not started yet: its service account's
    token volume and its log in `directory`; `args` in place of the Deployment's."""
    spec = deployment["spec"]["template"]["spec"]
    namespace = deployment["metadata"]["namespace"]
    name = f"{deployment['metadata']['name']}-{secrets.token_hex(5)}"
    gid = int(spec.get("securityContext", {}).get("fsGroup", 0))
    account = spec.get("serviceAccountName", "default")
    token = service_account_volume(cluster, directory / f"{name}-sa", namespace, account, gid)
    where = Placement(name, network.name, network.service_host, network.service_port, token)
    return ContainerScaler(pod_run(deployment, where, args), directory / f"{name}.log")
