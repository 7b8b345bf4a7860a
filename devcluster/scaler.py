"""Runs the real `nodecount-scaler run` process: for the demo and the integration tests.

The process is started exactly as a user would start it (console script, flags), with JSON
logs captured to a file, and observed only from outside: its HTTP endpoints, its logs and
the cluster.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devcluster.polling import wait_until
from devcluster.ports import free_port
from devcluster.process import cpu_seconds, rss_kib

PROBE_PATHS = ("/healthz", "/livez", "/readyz")


def fast_election(namespace: str) -> tuple[str, ...]:
    """Leader election with a 4 s lease, a 3 s renew deadline and 0.5 s retries, the Lease in
    `namespace`: a starved leader loses its lease within seconds, so a test or the soak sees
    it happen."""
    return (
        *("--leader-elect", "--leader-election-namespace", namespace),
        *("--leader-election-lease-duration", "4", "--leader-election-renew-deadline", "3"),
        *("--leader-election-retry-period", "0.5"),
    )


def scaler_executable() -> str:
    """The console script of the running interpreter's environment (the venv under test),
    else the one on PATH."""
    beside = Path(sys.executable).with_name("nodecount-scaler")
    if beside.exists():
        return str(beside)
    return shutil.which("nodecount-scaler") or str(beside)


def parse_metrics(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric in Prometheus text format, as (labels, value)."""
    found = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        if metric != name:
            continue
        labels = dict(p.split("=", 1) for p in rest.rstrip("}").split(",") if "=" in p)
        found.append(({k: v.strip('"') for k, v in labels.items()}, float(value)))
    return found


class ScalerEndpoints:
    """What a running nodecount-scaler shows from outside: its probes and metrics listeners
    and its JSON log. Shared by the local process (ScalerProcess) and the container
    (devcluster.container.ContainerScaler), which say where those are."""

    log_path: Path
    # A bearer token for the metrics listener of a secure service (a metrics reader's).
    token: str | None = None

    @property
    def url(self) -> str:
        """The probes listener."""
        raise NotImplementedError

    @property
    def metrics_url(self) -> str:
        raise NotImplementedError

    def exit_reason(self) -> str | None:
        """None while the service runs; else how it ended and the tail of its log."""
        raise NotImplementedError

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, Any]:
        """GET a probe from the probes listener, anything else from the metrics listener
        (a secure one with `token`)."""
        base = self.url if path in PROBE_PATHS else self.metrics_url
        request = urllib.request.Request(base + path)
        context = None
        if base.startswith("https:"):
            # The self-signed certificate of the service, as `curl -k`.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        if path == "/metrics":
            return status, body.decode()
        return status, json.loads(body)

    def probe(self, path: str) -> int | None:
        """Status of /healthz or /readyz, None when nothing answers."""
        try:
            return self.get(path)[0]
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.probe("/readyz") == 200,
            timeout,
            describe=f"/readyz of nodecount-scaler (log {self.log_path})",
            abort=self.exit_reason,
        )

    def status(self) -> dict[str, Any]:
        status, body = self.get("/status")
        assert status == 200
        result: dict[str, Any] = body
        return result

    def target(self, namespace: str, name: str) -> dict[str, Any] | None:
        for t in self.status()["targets"]:
            if (t["namespace"], t["name"]) == (namespace, name):
                found: dict[str, Any] = t
                return found
        return None

    def samples(self, name: str, /) -> list[tuple[dict[str, str], float]]:
        """Every sample of one metric in /metrics, as (labels, value)."""
        return parse_metrics(self.get("/metrics")[1], name)

    def metric(self, name: str, /, **labels: str) -> float | None:
        """The value of the sample with exactly these labels (any sample if none given)."""
        for have, value in self.samples(name):
            if not labels or have == labels:
                return value
        return None

    def metric_sum(self, name: str, /, **labels: str) -> float:
        """Sum of every sample whose labels include `labels`."""
        return sum(
            value
            for have, value in self.samples(name)
            if all(have.get(k) == v for k, v in labels.items())
        )

    # ----------------------------------------------------------------- logs

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"event": raw, "unparsed": True})
        return lines

    def log_events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.logs() if line.get("event") == event]

    def wait_log(self, event: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The `event` lines once there are at least `count`. A line can trail the API change
        it reports: the service logs after its request returns, a test may see the change
        first."""

        def enough() -> list[dict[str, Any]] | None:
            lines = self.log_events(event)
            return lines if len(lines) >= count else None

        return wait_until(enough, timeout, describe=f"{count} {event!r} log lines")


@dataclass
class ScalerProcess(ScalerEndpoints):
    kubeconfig: Path
    log_path: Path
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    # The probes listener (plain HTTP) and the metrics listener (/metrics, /status): plain
    # unless `secure`, for the tests that read them; the secure path has tests of its own.
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    secure: bool = False
    # RLIMIT_NOFILE of the process (a container's usual 1024, say); None: inherited.
    fd_limit: int | None = None
    # The console script to run; None: the one of the running interpreter's environment.
    executable: str | None = None
    token: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The probes listener."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_address(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.metrics_port}"

    @property
    def command(self) -> list[str]:
        return [
            self.executable or scaler_executable(),
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--health-addr",
            f"127.0.0.1:{self.port}",
            "--metrics-addr",
            f"127.0.0.1:{self.metrics_port}",
            "--metrics-secure" if self.secure else "--no-metrics-secure",
            "--log-format",
            "json",
            "--log-level",
            "debug" if os.environ.get("SCALER_DEBUG") else "info",
            *self.args,
        ]

    def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> ScalerProcess:
        # Settings come from the flags alone, never from the caller's environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODECOUNT_SCALER_")}
        env.update(self.env)
        self._log_file = self.log_path.open("ab")
        limit = self.fd_limit

        def limit_fds() -> None:
            if limit is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

        self.proc = subprocess.Popen(
            self.command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=limit_fds if limit is not None else None,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    # ----------------------------------------------------------------- process

    def exit_reason(self) -> str | None:
        """None while the process runs; else its exit code and the tail of its log."""
        assert self.proc is not None
        code = self.proc.poll()
        if code is None:
            return None
        tail = "\n".join(self.log_path.read_text().splitlines()[-30:])
        return f"nodecount-scaler exited with {code}; log tail:\n{tail}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def open_fds(self) -> int:
        """File descriptors the process has open now."""
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_mib(self) -> float:
        assert self.proc is not None
        return rss_kib(self.proc.pid) / 1024

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def assert_alive(self) -> None:
        reason = self.exit_reason()
        if reason is not None:
            raise AssertionError(reason)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._close_log()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self._close_log()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._close_log()


class ScalerFactory:
    """Starts scaler processes (for one test) and stops every one of them at its end."""

    def __init__(self, kubeconfig: Path, log_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.started: list[ScalerProcess] = []

    def start(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        secure: bool = False,
        fd_limit: int | None = None,
    ) -> ScalerProcess:
        index = len(self.started)
        process = ScalerProcess(
            kubeconfig=kubeconfig or self.kubeconfig,
            log_path=self.log_dir / f"scaler-{index}.log",
            args=args,
            env=env or {},
            secure=secure,
            fd_limit=fd_limit,
        )
        self.started.append(process)
        return process.start(wait_ready=wait_ready)

    def stop_all(self) -> Iterator[tuple[ScalerProcess, int | None]]:
        for process in self.started:
            yield process, process.stop()
