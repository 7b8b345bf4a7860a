"""A real local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok (simulated kubelets), as child processes bound to 127.0.0.1 on free ports.

This module supervises the processes (start, stop, restart, health, memory) and owns the
workdir, PKI, ports and kubeconfig. What tests do with a running cluster (kubectl, nodes,
namespaces, etcd compaction, the audit log) lives in the modules named after each concept;
``devcluster.cluster.Cluster`` puts both behind one object.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from devcluster import workdir as workdirs
from devcluster.api import ApiClient, ApiError
from devcluster.audit import AUDIT_POLICY
from devcluster.build import ensure_binaries
from devcluster.components import (
    COMPONENT_ORDER,
    Component,
    Files,
    Layout,
    StartTimings,
    child_env,
    components,
    http_ok,
    unverified_tls,
    write_kubeconfig,
)
from devcluster.pki import generate_pki
from devcluster.polling import WaitAborted, WaitTimeout, wait_until
from devcluster.ports import Ports
from devcluster.process import log_tail, rss_kib, spawn, stop_process
from devcluster.versions import Versions, read_versions

_START_ATTEMPTS = 3


class ClusterStartError(RuntimeError):
    """A component did not come up; the message ends with the tail of its log."""


class ControlPlane:
    """A local control plane. Use as a context manager, or call start() and stop().

    ``workdir``: where PKI, kubeconfig, etcd data, logs (``logs/<component>.log``) and the
    audit log (``audit.log``) go; a fresh temp dir when omitted. ``keep``: leave the workdir
    on disk after stop() (a workdir that was passed in is never removed).
    ``version``: a Kubernetes release pinned in hack/versions.env (``v1.34.4`` or ``1.34``);
    default ``$NODECOUNT_SCALER_KUBERNETES_VERSION``, else the pinned default.
    ``watch_cache``: the apiserver watch cache is OFF by default so that an etcd compaction
    makes every watch or exact list from an older resourceVersion answer 410 Gone, as etcd
    does; turn it on for production-like caching (old resourceVersions inside the cache
    window keep working after a compaction then).
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
        version: str | None = None,
    ) -> None:
        self.versions: Versions = read_versions(requested=version)
        self._own_workdir = workdir is None
        self.workdir = workdirs.new_workdir() if workdir is None else Path(workdir).resolve()
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
        self._components: dict[str, Component] = {}
        self._ports: Ports | None = None
        self._api: ApiClient | None = None
        self._started = False
        self._stopped = False
        self._lock = threading.RLock()
        workdirs.stop_at_exit(self)  # even if never started (removes the temp dir)

    # ----------------------------------------------------------------- properties

    @property
    def files(self) -> Files:
        return Files(self.workdir)

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self.files.kubeconfig

    @property
    def audit_log(self) -> Path:
        return self.files.audit_log

    @property
    def logs_dir(self) -> Path:
        return self.files.logs

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
        return self.ports.etcd_url

    @property
    def api(self) -> ApiClient:
        """Minimal synchronous REST client with admin credentials."""
        if self._api is None:
            raise RuntimeError("cluster not started")
        return self._api

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = ensure_binaries(self.versions)
        return self._bin_dir

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the running components."""
        return {c.name: c.proc.pid for c in self._components.values() if c.proc and c.running()}

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG pointing at this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # ----------------------------------------------------------------- start

    def __enter__(self) -> Self:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
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

    def _prepare(self) -> None:
        bins = self.bin_dir
        t = self._phase("binaries", time.monotonic())
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        pki = generate_pki(self.workdir / "pki")
        self._ports = Ports.pick()
        layout = Layout(
            bins=bins,
            stages=self._stages_dir or bins.parent / "kwok-stages",
            files=self.files,
            pki=pki,
            ports=self._ports,
            watch_cache=self.watch_cache,
            node_monitor_period=self.node_monitor_period,
            node_monitor_grace_period=self.node_monitor_grace_period,
            node_lease_duration=self.node_lease_duration,
        )
        write_kubeconfig(layout)
        layout.files.audit_policy.write_text(AUDIT_POLICY)
        self._api = ApiClient(self.server, pki.ca_cert, pki.admin_cert, pki.admin_key)
        self._components = components(layout, self.extra_args)
        self._phase("prepare", t)

    def _start(self) -> None:
        self._prepare()
        t = time.monotonic()
        p = self.ports
        self._launch("etcd")
        self._wait_component("etcd", lambda: http_ok(f"{self.etcd_url}/health"))
        t = self._phase("etcd", t)
        self._launch("kube-apiserver")
        self._wait_component("kube-apiserver", self._apiserver_ready)
        t = self._phase("kube-apiserver", t)
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._launch(name)
        insecure = unverified_tls()
        kcm_health = f"https://127.0.0.1:{p.controller_manager}/healthz"
        self._wait_component("kube-controller-manager", lambda: http_ok(kcm_health, insecure))
        scheduler_health = f"https://127.0.0.1:{p.scheduler}/healthz"
        self._wait_component("kube-scheduler", lambda: http_ok(scheduler_health, insecure))
        self._wait_component("kwok", lambda: http_ok(f"http://127.0.0.1:{p.kwok}/healthz"))
        self._wait_component(
            "kube-controller-manager",
            lambda: self.api.get_or_none("/api/v1/namespaces/default/serviceaccounts/default"),
            what="ServiceAccount default/default",
        )
        self._phase("controllers", t)

    def _launch(self, name: str) -> None:
        comp = self._components[name]
        with comp.log.open("a") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} starting: {' '.join(comp.argv)}\n")
        comp.proc = spawn(comp.argv, comp.log, env=child_env(), cwd=self.workdir)
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
                abort=self._first_exit,
                retry_on=(Exception,),
            )
        except WaitTimeout as e:
            raise ClusterStartError(
                f"{e}\n--- last lines of {comp.log} ---\n{log_tail(comp.log)}"
            ) from None
        except WaitAborted as e:  # a component exited; the message has its log tail
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

    # ----------------------------------------------------------------- stop, restart

    def stop(self, *, timeout: float = 15.0, keep: bool | None = None) -> None:
        """Terminate every component (SIGTERM, SIGKILL after ``timeout``), newest first,
        and remove the workdir unless it is kept. Idempotent."""
        with self._lock:
            self._stop_components(timeout)
            workdirs.forget(self)
            if not self._stopped:
                self._stopped = True
                keep_dir = self.keep if keep is None else keep
                if self._own_workdir and not keep_dir:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                else:
                    workdirs.disown(self.workdir)

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

    # ----------------------------------------------------------------- health, memory, state

    def is_running(self) -> bool:
        """True when every component has been started and none has exited."""
        return bool(self._components) and all(c.running() for c in self._components.values())

    def exited_components(self) -> list[str]:
        return [c.name for c in self._components.values() if c.exited()]

    def memory_rss_mib(self) -> float:
        """Sum of the resident set sizes of the component processes, in MiB."""
        return sum(rss_kib(pid) for pid in self.pids.values()) / 1024

    def memory_by_component_mib(self) -> dict[str, float]:
        return {name: rss_kib(pid) / 1024 for name, pid in self.pids.items()}

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
