"""A real local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok (simulated kubelets), as child processes bound to 127.0.0.1 on free ports.

Simulated kubelets: kwok manages only Nodes labelled ``kwok.x-k8s.io/node=fake``
(``--manage-nodes-with-label-selector``). ``stop_kubelet`` removes the label: the apiserver
then tells kwok's label-selected watch that the Node is gone, kwok stops renewing its Lease,
and after ``node_monitor_grace_period`` the node lifecycle controller marks it Ready=Unknown
and taints it ``node.kubernetes.io/unreachable`` (NoSchedule, and NoExecute unless every
node is down, see ``stop_kubelet``). ``start_kubelet`` puts the label back. An
*annotation* selector cannot do this with kwok v0.8.0: kwok filters annotations client-side
and keeps renewing the Lease of a node that stops matching.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from devcluster.api import ApiClient, ApiError
from devcluster.build import ensure_binaries
from devcluster.pki import Pki, generate_pki
from devcluster.process import (
    log_tail,
    rss_kib,
    spawn,
    stop_process,
    wait_until,
)
from devcluster.versions import Versions, read_versions

KWOK_LABEL = "kwok.x-k8s.io/node"
KWOK_LABEL_VALUE = "fake"
NODE_ALLOCATABLE: Mapping[str, str] = {"cpu": "32", "memory": "256Gi", "pods": "110"}
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"

COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["patch", "update"]
  resources:
  - group: "apps"
    resources: ["deployments", "deployments/scale"]
- level: None
"""

_live: weakref.WeakSet[Cluster] = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _stop_all_at_exit() -> None:
    for cluster in list(_live):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            cluster.stop()


def _register(cluster: Cluster) -> None:
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_stop_all_at_exit)
            _atexit_registered = True
        _live.add(cluster)


class ClusterStartError(RuntimeError):
    """A component did not come up; the message ends with the tail of its log."""


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        cmd = " ".join(self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        return f"{cmd!r} exited with {self.returncode}: {(self.stderr or '').strip()}"


@dataclass
class _Component:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited with code {self.proc.returncode}"
        return None


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


@dataclass
class StartTimings:
    """Seconds spent in each phase of the last start()."""

    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())


_START_ATTEMPTS = 3
_TEMP_PREFIX = "devcluster-"
_OWNER_FILE = "owner.pid"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _sweep_stale_workdirs() -> None:
    """Remove temp workdirs left by processes that died without cleaning up (SIGKILL).
    Kept workdirs (keep=True, or start failures) have no owner file and are left alone."""
    for d in Path(tempfile.gettempdir()).glob(_TEMP_PREFIX + "*"):
        try:
            pid_text, started = (d / _OWNER_FILE).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if _start_time(pid) != started:  # dead, or the pid was reused
            shutil.rmtree(d, ignore_errors=True)


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _dns_label(text: str, max_len: int) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return label or "x"


def _http_ok(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            status: int = resp.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _condition(node: Mapping[str, Any], kind: str) -> str | None:
    for c in node.get("status", {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status", ""))
    return None


def _taint_keys(node: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t.get("effect", "")) for t in node.get("spec", {}).get("taints") or []}


class Cluster:
    """A local control plane. Use as a context manager, or call start() and stop().

    ``workdir``: where PKI, kubeconfig, etcd data, logs (``logs/<component>.log``) and the
    audit log (``audit.log``) go; a fresh temp dir when omitted. ``keep``: leave the workdir
    on disk after stop() (a workdir that was passed in is never removed).
    ``watch_cache``: the apiserver watch cache is OFF by default so that compact_etcd() makes
    every watch or exact list from an older resourceVersion answer 410 Gone, as etcd does;
    turn it on for production-like caching (old resourceVersions inside the cache window
    keep working after a compaction then).
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        *,
        keep: bool = False,
        bin_dir: Path | None = None,
        stages_dir: Path | None = None,
        watch_cache: bool = False,
        node_monitor_grace_period: int = 20,
        node_monitor_period: int = 2,
        start_timeout: float = 90.0,
        extra_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.versions: Versions = read_versions()
        self._own_workdir = workdir is None
        if workdir is None:
            _sweep_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX)).resolve()
            (self.workdir / _OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
        else:
            self.workdir = Path(workdir).resolve()
        self.keep = keep
        self._bin_dir = bin_dir
        self._stages_dir = stages_dir
        self.watch_cache = watch_cache
        self.node_monitor_grace_period = node_monitor_grace_period
        self.node_monitor_period = node_monitor_period
        # kwok renews Leases every duration/4; keep renewals well inside the grace period.
        self.node_lease_duration = node_monitor_grace_period
        self.start_timeout = start_timeout
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.timings = StartTimings()
        self._components: dict[str, _Component] = {}
        self._pki: Pki | None = None
        self._ports: Ports | None = None
        self._api: ApiClient | None = None
        self._started = False
        self._stopped = False
        self._lock = threading.RLock()
        self.kubectl_path = shutil.which("kubectl")
        _register(self)  # stop() at interpreter exit, even if never started (removes temp dir)

    # ----------------------------------------------------------------- properties

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self.workdir / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            raise RuntimeError("cluster not started")
        return self._ports

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    @property
    def api(self) -> ApiClient:
        """Minimal synchronous REST client with admin credentials."""
        if self._api is None:
            raise RuntimeError("cluster not started")
        return self._api

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = ensure_binaries()
        return self._bin_dir

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the running components."""
        return {
            c.name: c.proc.pid
            for c in self._components.values()
            if c.proc is not None and c.proc.poll() is None
        }

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG pointing at this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start every component and wait until the cluster is usable: apiserver ready,
        controller manager, scheduler and kwok healthy, ServiceAccount ``default/default``
        present. On failure everything is stopped, the workdir is kept, and
        ClusterStartError carries the failing component's log tail."""
        with self._lock:
            if self._started:
                raise RuntimeError("cluster already started")
            self._started = True
            for attempt in range(1, _START_ATTEMPTS + 1):
                try:
                    self._start()
                    return self
                except ClusterStartError as e:
                    # Free ports are picked, released, then bound by the components: another
                    # process can take one in between. Retry that with new ports.
                    if "address already in use" not in str(e) or attempt == _START_ATTEMPTS:
                        self._abort_start()
                        raise ClusterStartError(f"{e}\n(workdir kept: {self.workdir})") from None
                    self._stop_components(5.0)
                    shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
                    self.timings = StartTimings()
                except BaseException as e:
                    self._abort_start()
                    if isinstance(e, Exception):
                        raise ClusterStartError(
                            f"{e}\n(workdir kept: {self.workdir})\n" + self._all_log_tails()
                        ) from e
                    raise
            raise AssertionError("unreachable")

    def _abort_start(self) -> None:
        self.keep = True
        self.stop()

    def _phase(self, name: str, t0: float) -> float:
        now = time.monotonic()
        self.timings.phases[name] = now - t0
        return now

    def _start(self) -> None:
        t = time.monotonic()
        bins = self.bin_dir
        stages = self._stages_dir or bins.parent / "kwok-stages"
        t = self._phase("binaries", t)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        pki = self._pki = generate_pki(self.workdir / "pki")
        p = self._ports = Ports(*_free_ports(6))
        self._write_kubeconfig(pki, p)
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        self._api = ApiClient(self.server, pki.ca_cert, pki.admin_cert, pki.admin_key)
        t = self._phase("prepare", t)

        self._components = {c.name: c for c in self._component_specs(bins, stages, pki, p)}

        self._launch("etcd")
        self._wait_component("etcd", lambda: _http_ok(f"{self.etcd_url}/health"))
        t = self._phase("etcd", t)

        self._launch("kube-apiserver")
        self._wait_component("kube-apiserver", self._apiserver_ready)
        t = self._phase("kube-apiserver", t)

        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._launch(name)
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._wait_component(
            "kube-controller-manager",
            lambda: _http_ok(f"https://127.0.0.1:{p.controller_manager}/healthz", insecure),
        )
        self._wait_component(
            "kube-scheduler",
            lambda: _http_ok(f"https://127.0.0.1:{p.scheduler}/healthz", insecure),
        )
        self._wait_component("kwok", lambda: _http_ok(f"http://127.0.0.1:{p.kwok}/healthz"))
        self._wait_component(
            "kube-controller-manager",
            lambda: self.api.get_or_none("/api/v1/namespaces/default/serviceaccounts/default"),
            what="ServiceAccount default/default",
        )
        self._phase("controllers", t)

    def _write_kubeconfig(self, pki: Pki, p: Ports) -> None:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "devcluster",
                    "cluster": {
                        "server": f"https://127.0.0.1:{p.apiserver}",
                        "certificate-authority": str(pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(pki.admin_cert),
                        "client-key": str(pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {"name": "devcluster", "context": {"cluster": "devcluster", "user": "admin"}}
            ],
            "current-context": "devcluster",
        }
        self.kubeconfig.write_text(json.dumps(cfg, indent=2) + "\n")  # JSON is valid YAML
        self.kubeconfig.chmod(0o600)

    def _component_specs(self, bins: Path, stages: Path, pki: Pki, p: Ports) -> list[_Component]:
        d = self.workdir
        kc = str(self.kubeconfig)
        etcd = [
            str(bins / "etcd"),
            "--name=devcluster",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-cluster=devcluster=http://127.0.0.1:{p.etcd_peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
        apiserver = [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={p.apiserver}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            f"--audit-policy-file={d / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            f"--watch-cache={'true' if self.watch_cache else 'false'}",
            # Without it, SIGTERM waits ~60 s for open watches (HTTP/2 streams) to go idle.
            "--shutdown-watch-termination-grace-period=2s",
        ]
        always_allow = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics"
        kcm = [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={p.controller_manager}",
            "--leader-elect=false",
            always_allow,
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            "--controllers=*",
            f"--node-monitor-period={self.node_monitor_period}s",
            f"--node-monitor-grace-period={self.node_monitor_grace_period}s",
        ]
        scheduler = [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={kc}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={p.scheduler}",
            always_allow,
        ]
        stage_files = sorted(stages.glob("*.yaml"))
        if not stage_files:
            raise ClusterStartError(f"no kwok stage files in {stages}")
        kwok = [
            str(bins / "kwok"),
            f"--kubeconfig={kc}",
            *[f"--config={f}" for f in stage_files],
            f"--manage-nodes-with-label-selector={KWOK_LABEL}={KWOK_LABEL_VALUE}",
            f"--node-lease-duration-seconds={self.node_lease_duration}",
            "--node-ip=127.0.0.1",
            f"--node-port={p.kwok}",
            "--cidr=10.244.0.0/16",
            f"--server-address=127.0.0.1:{p.kwok}",
        ]
        specs = []
        for name, argv in zip(
            COMPONENT_ORDER, (etcd, apiserver, kcm, scheduler, kwok), strict=True
        ):
            argv = argv + self.extra_args.get(name, [])
            specs.append(_Component(name, argv, self.logs_dir / f"{name}.log"))
        return specs

    @staticmethod
    def _child_env() -> dict[str, str]:
        # etcd reads ETCD_* variables and rejects them when they duplicate a flag.
        return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}

    def _launch(self, name: str) -> None:
        comp = self._components[name]
        with comp.log.open("a") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} starting: {' '.join(comp.argv)}\n")
        comp.proc = spawn(comp.argv, comp.log, env=self._child_env(), cwd=self.workdir)
        comp.started_at = time.monotonic()

    def _wait_component(
        self,
        name: str,
        ready: Callable[[], object],
        what: str | None = None,
        timeout: float | None = None,
    ) -> None:
        comp = self._components[name]
        try:
            wait_until(
                ready,
                self.start_timeout if timeout is None else timeout,
                interval=0.1,
                describe=what or f"{name} to become ready",
                abort=lambda: self._first_exit(),
            )
        except TimeoutError as e:
            raise ClusterStartError(
                f"{e}\n--- last lines of {comp.log} ---\n{log_tail(comp.log)}"
            ) from None
        except RuntimeError as e:  # a component exited; the message has its log tail
            raise ClusterStartError(str(e)) from None

    def _first_exit(self) -> str | None:
        for c in self._components.values():
            reason = c.exited()
            if reason:
                return f"{reason}\n--- last lines of {c.log} ---\n{log_tail(c.log)}"
        return None

    def _all_log_tails(self) -> str:
        return "\n".join(
            f"--- last lines of {c.log} ---\n{log_tail(c.log, 15)}"
            for c in self._components.values()
            if c.proc is not None
        )

    def _apiserver_ready(self) -> bool:
        try:
            return bool(self.api.get("/readyz", timeout=5) == "ok")
        except (ApiError, urllib.error.URLError, OSError):
            return False

    def stop(self, *, timeout: float = 15.0, keep: bool | None = None) -> None:
        """Terminate every component (SIGTERM, SIGKILL after ``timeout``), newest first,
        and remove the workdir unless it is kept. Idempotent."""
        with self._lock:
            self._stop_components(timeout)
            _live.discard(self)
            if not self._stopped:
                self._stopped = True
                keep_dir = self.keep if keep is None else keep
                if self._own_workdir and not keep_dir:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                else:
                    (self.workdir / _OWNER_FILE).unlink(missing_ok=True)

    def _stop_components(self, timeout: float) -> None:
        for name in reversed(COMPONENT_ORDER):
            comp = self._components.get(name)
            if comp is not None and comp.proc is not None:
                stop_process(comp.proc, timeout)

    def restart_apiserver(self, *, graceful: bool = True, timeout: float = 60.0) -> None:
        """Stop kube-apiserver (SIGTERM, or SIGKILL when not ``graceful``) and start it
        again on the same port; return once /readyz answers ok."""
        with self._lock:
            comp = self._components["kube-apiserver"]
            if comp.proc is not None:
                stop_process(comp.proc, 30.0 if graceful else 0.0)
            self._launch("kube-apiserver")
            self._wait_component("kube-apiserver", self._apiserver_ready, timeout=timeout)

    def is_running(self) -> bool:
        """True when every component has been started and none has exited."""
        return bool(self._components) and all(
            c.proc is not None and c.proc.poll() is None for c in self._components.values()
        )

    def exited_components(self) -> list[str]:
        return [c.name for c in self._components.values() if c.exited()]

    def memory_rss_mib(self) -> float:
        """Sum of the resident set sizes of the component processes, in MiB."""
        return sum(rss_kib(pid) for pid in self.pids.values()) / 1024

    def memory_by_component_mib(self) -> dict[str, float]:
        return {name: rss_kib(pid) / 1024 for name, pid in self.pids.items()}

    # ----------------------------------------------------------------- kubectl & etcd

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises KubectlError (with stderr) if ``check``."""
        if self.kubectl_path is None:
            raise FileNotFoundError("kubectl is not on PATH")
        cmd = [
            self.kubectl_path,
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(),
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def _etcd_post(self, path: str, body: Mapping[str, Any]) -> Any:
        req = urllib.request.Request(
            f"{self.etcd_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def etcd_revision(self) -> int:
        key = base64.b64encode(b"/registry/").decode()
        resp = self._etcd_post("/v3/kv/range", {"key": key, "limit": 1, "count_only": True})
        return int(resp["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (physically) and return that
        revision. With the watch cache off (default), any watch or exact list from an older
        resourceVersion now answers 410 Gone."""
        rev = self.etcd_revision()
        self._etcd_post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev

    def audit_events(
        self, *, namespace: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Completed requests in the audit log: patch/update of deployments and
        deployments/scale (the policy records nothing else), optionally filtered."""
        events: list[dict[str, Any]] = []
        try:
            text = self.audit_log.read_text()
        except FileNotFoundError:
            return events
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written right now
            if ev.get("stage") != "ResponseComplete":
                continue
            ref = ev.get("objectRef") or {}
            if namespace is not None and ref.get("namespace") != namespace:
                continue
            if name is not None and ref.get("name") != name:
                continue
            events.append(ev)
        return events

    # ----------------------------------------------------------------- namespaces

    def create_namespace(self, prefix: str = "test", *, timeout: float = 30.0) -> str:
        """Create ``<prefix>-<random>`` and wait for its ``default`` ServiceAccount."""
        name = f"{_dns_label(prefix, 50)}-{secrets.token_hex(3)}"
        self.api.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        wait_until(
            lambda: self.api.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
            timeout,
            describe=f"ServiceAccount {name}/default",
        )
        return name

    def delete_namespace(self, name: str, *, wait: bool = False, timeout: float = 60.0) -> None:
        self.api.delete(f"/api/v1/namespaces/{name}")
        if wait:
            wait_until(
                lambda: self.api.get_or_none(f"/api/v1/namespaces/{name}") is None,
                timeout,
                describe=f"namespace {name} to be deleted",
            )

    # ----------------------------------------------------------------- nodes

    def get_node(self, name: str) -> dict[str, Any] | None:
        node: dict[str, Any] | None = self.api.get_or_none(f"/api/v1/nodes/{name}")
        return node

    def add_node(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Create a kwok-managed Node (allocatable cpu 32, memory 256Gi, pods 110 unless
        overridden; labels ``kubernetes.io/hostname=<name>``, ``type=kwok``, os/arch and
        ``labels``; ``taints`` as ``{"key", "value", "effect"}`` dicts). With
        ``ready_wait``, return once it is Ready=True and the admission taint
        ``node.kubernetes.io/not-ready`` is gone. Returns the Node object."""
        return self.add_nodes(
            [name],
            labels=labels,
            taints=taints,
            ready_wait=ready_wait,
            allocatable=allocatable,
            timeout=timeout,
        )[0]

    def add_nodes(
        self,
        names: Iterable[str],
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, str]] | None = None,
        ready_wait: bool = True,
        *,
        allocatable: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> list[dict[str, Any]]:
        """add_node for several names: create them all, then wait for all of them."""
        names = list(names)
        resources = dict(allocatable or NODE_ALLOCATABLE)
        for name in names:
            node_labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                KWOK_LABEL: KWOK_LABEL_VALUE,
                **(labels or {}),
            }
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": node_labels,
                    "annotations": {
                        KWOK_LABEL: KWOK_LABEL_VALUE,
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                },
                "spec": {"taints": [dict(t) for t in taints or []]},
                "status": {
                    "allocatable": resources,
                    "capacity": resources,
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": self.versions.kubernetes,
                    },
                },
            }
            self.api.post("/api/v1/nodes", body)
        if not ready_wait:
            return [self.get_node(n) or {} for n in names]
        return [self.wait_node_ready(n, timeout=timeout) for n in names]

    def wait_node_ready(self, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for Ready=True with neither not-ready nor unreachable taints."""

        def ready() -> dict[str, Any] | None:
            node = self.get_node(name)
            if node is None or _condition(node, "Ready") != "True":
                return None
            keys = {k for k, _ in _taint_keys(node)}
            if TAINT_NOT_READY in keys or TAINT_UNREACHABLE in keys:
                return None
            return node

        return wait_until(ready, timeout, interval=0.2, describe=f"node {name} to be Ready")

    def wait_node_not_ready(
        self, name: str, *, timeout: float = 90.0, effects: Sequence[str] = ("NoSchedule",)
    ) -> dict[str, Any]:
        """Wait for Ready!=True and the unreachable taint with each of ``effects``."""

        def down() -> dict[str, Any] | None:
            node = self.get_node(name)
            if node is None or _condition(node, "Ready") == "True":
                return None
            taints = _taint_keys(node)
            if all((TAINT_UNREACHABLE, e) in taints for e in effects):
                return node
            return None

        return wait_until(down, timeout, interval=0.5, describe=f"node {name} to be NotReady")

    def delete_node(self, name: str) -> None:
        self.api.delete(f"/api/v1/nodes/{name}")

    def stop_kubelet(self, name: str, *, wait: bool = False, timeout: float = 90.0) -> None:
        """Simulate a dead kubelet: kwok stops renewing the node's Lease and stops
        updating its pods. About ``node_monitor_grace_period`` (+ monitor period) later the
        node is Ready=Unknown with ``node.kubernetes.io/unreachable:NoSchedule``; the
        ``:NoExecute`` taint follows, except when no node of the zone is Ready (full
        disruption: the node lifecycle controller then withholds NoExecute taints).
        With ``wait``, return once Ready!=True and unreachable:NoSchedule is present."""
        self.api.merge_patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": {KWOK_LABEL: None}}})
        if wait:
            self.wait_node_not_ready(name, timeout=timeout)

    def start_kubelet(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Revive a node stopped with stop_kubelet; with ``wait``, return once it is
        Ready=True with no not-ready/unreachable taints."""
        self.api.merge_patch(
            f"/api/v1/nodes/{name}", {"metadata": {"labels": {KWOK_LABEL: KWOK_LABEL_VALUE}}}
        )
        if wait:
            self.wait_node_ready(name, timeout=timeout)

    # ----------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """JSON-serialisable description (used by the CLI's state file)."""
        return {
            "workdir": str(self.workdir),
            "kubeconfig": str(self.kubeconfig),
            "server": self.server if self._ports else None,
            "ports": vars(self._ports) if self._ports else None,
            "pids": self.pids,
            "versions": vars(self.versions),
            "bin_dir": str(self._bin_dir) if self._bin_dir else None,
            "watch_cache": self.watch_cache,
        }
