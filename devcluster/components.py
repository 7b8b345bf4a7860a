"""The control plane's processes: how each one is started (argv) and its kubeconfig.

Every component binds 127.0.0.1 only. Upstream flag references:
https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/ (and the
pages of kube-controller-manager and kube-scheduler), https://kwok.sigs.k8s.io/docs/user/.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devcluster.nodes import KWOK_LABEL, KWOK_LABEL_VALUE
from devcluster.pki import SERVICE_CLUSTER_IP_RANGE, Pki
from devcluster.ports import Ports

COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
_ALWAYS_ALLOW = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics"


@dataclass
class StartTimings:
    """Seconds spent in each phase of the last start()."""

    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())


def http_ok(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            status: int = resp.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def unverified_tls() -> ssl.SSLContext:
    # The controller manager and scheduler serve /healthz with self-signed certificates.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def child_env() -> dict[str, str]:
    # etcd reads ETCD_* variables and rejects them when they duplicate a flag.
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}


@dataclass
class Component:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited with code {self.proc.returncode}"
        return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class Files:
    """Where a control plane keeps its files, below its workdir."""

    workdir: Path

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self.workdir / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def audit_policy(self) -> Path:
        return self.workdir / "audit-policy.yaml"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"


@dataclass(frozen=True)
class Layout:
    """Everything the argv of the components depends on."""

    bins: Path
    stages: Path
    files: Files
    pki: Pki
    ports: Ports
    watch_cache: bool
    node_monitor_period: int
    node_monitor_grace_period: int
    node_lease_duration: int


def etcd_argv(lo: Layout) -> list[str]:
    p = lo.ports
    return [
        str(lo.bins / "etcd"),
        "--name=devcluster",
        f"--data-dir={lo.files.workdir / 'etcd'}",
        f"--listen-client-urls={lo.ports.etcd_url}",
        f"--advertise-client-urls={lo.ports.etcd_url}",
        f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
        f"--initial-cluster=devcluster=http://127.0.0.1:{p.etcd_peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(lo: Layout) -> list[str]:
    pki = lo.pki
    return [
        str(lo.bins / "kube-apiserver"),
        f"--etcd-servers={lo.ports.etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={lo.ports.apiserver}",
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        f"--audit-policy-file={lo.files.audit_policy}",
        f"--audit-log-path={lo.files.audit_log}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        f"--watch-cache={'true' if lo.watch_cache else 'false'}",
        # Without it, SIGTERM waits ~60 s for open watches (HTTP/2 streams) to go idle.
        "--shutdown-watch-termination-grace-period=2s",
    ]


def controller_manager_argv(lo: Layout) -> list[str]:
    return [
        str(lo.bins / "kube-controller-manager"),
        f"--kubeconfig={lo.files.kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={lo.ports.controller_manager}",
        "--leader-elect=false",
        _ALWAYS_ALLOW,
        f"--service-account-private-key-file={lo.pki.sa_key}",
        f"--root-ca-file={lo.pki.ca_cert}",
        "--controllers=*",
        f"--node-monitor-period={lo.node_monitor_period}s",
        f"--node-monitor-grace-period={lo.node_monitor_grace_period}s",
    ]


def scheduler_argv(lo: Layout) -> list[str]:
    return [
        str(lo.bins / "kube-scheduler"),
        f"--kubeconfig={lo.files.kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={lo.ports.scheduler}",
        _ALWAYS_ALLOW,
    ]


def kwok_argv(lo: Layout) -> list[str]:
    stage_files = sorted(lo.stages.glob("*.yaml"))
    if not stage_files:
        raise FileNotFoundError(f"no kwok stage files in {lo.stages}")
    port = lo.ports.kwok
    return [
        str(lo.bins / "kwok"),
        f"--kubeconfig={lo.files.kubeconfig}",
        *[f"--config={f}" for f in stage_files],
        f"--manage-nodes-with-label-selector={KWOK_LABEL}={KWOK_LABEL_VALUE}",
        f"--node-lease-duration-seconds={lo.node_lease_duration}",
        "--node-ip=127.0.0.1",
        f"--node-port={port}",
        "--cidr=10.244.0.0/16",
        f"--server-address=127.0.0.1:{port}",
    ]


ARGV = {
    "etcd": etcd_argv,
    "kube-apiserver": apiserver_argv,
    "kube-controller-manager": controller_manager_argv,
    "kube-scheduler": scheduler_argv,
    "kwok": kwok_argv,
}


def components(lo: Layout, extra_args: dict[str, list[str]]) -> dict[str, Component]:
    """Every component in start order, with ``extra_args`` appended to its argv."""
    logs = lo.files.logs
    return {
        name: Component(name, ARGV[name](lo) + extra_args.get(name, []), logs / f"{name}.log")
        for name in COMPONENT_ORDER
    }


def write_kubeconfig(lo: Layout) -> None:
    """Admin kubeconfig (client certificate in group system:masters), mode 0600."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devcluster",
                "cluster": {
                    "server": f"https://127.0.0.1:{lo.ports.apiserver}",
                    "certificate-authority": str(lo.pki.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(lo.pki.admin_cert),
                    "client-key": str(lo.pki.admin_key),
                },
            }
        ],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": "admin"}}],
        "current-context": "devcluster",
    }
    lo.files.kubeconfig.write_text(json.dumps(cfg, indent=2) + "\n")  # JSON is valid YAML
    lo.files.kubeconfig.chmod(0o600)
