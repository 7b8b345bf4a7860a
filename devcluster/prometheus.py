"""A real Prometheus on 127.0.0.1 that scrapes nodecount-scaler and evaluates the shipped
alert rules (monitoring/alerts.yaml): for the integration tests and the demo.

Prometheus and promtool come from Debian's `prometheus` package (hack/install-prometheus.sh).
Each instance has its own temporary data directory, scrapes and evaluates every second, and
answers on its HTTP API (https://prometheus.io/docs/prometheus/2.42/querying/api/).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from devcluster.polling import wait_until
from devcluster.ports import free_port
from devcluster.process import log_tail, spawn, stop_process
from devcluster.versions import REPO_ROOT

ALERTS = REPO_ROOT / "monitoring" / "alerts.yaml"
JOB = "nodecount-scaler"  # the scrape job name the rules expect
INSTALL_HINT = "run hack/install-prometheus.sh (apt-get install prometheus, as root)"


class PrometheusError(RuntimeError):
    pass


def scrape_job(address: str, token_file: Path | None, *, job: str = JOB) -> dict[str, Any]:
    """The one place that says how Prometheus reaches the service: /metrics on its
    --metrics-addr (`address` is HOST:PORT). With `token_file` as the shipped install is read:
    HTTPS, the bearer token of a reader of the metrics (credentials.metrics_reader_token), the
    self-signed serving certificate not verified (as the chart's ServiceMonitor does); without,
    plain HTTP, for a process run with --no-metrics-secure. honor_labels keeps the service's
    own `namespace` label, as the shipped rules expect of every scrape config."""
    job_config: dict[str, Any] = {
        "job_name": job,
        "honor_labels": True,
        "scheme": "http",
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [address]}],
    }
    if token_file is not None:
        job_config["scheme"] = "https"
        job_config["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        job_config["tls_config"] = {"insecure_skip_verify": True}
    return job_config


def rules_with_short_for(source: Path, dest: Path, hold: str) -> Path:
    """`source`'s rules with every `for:` set to `hold` (e.g. "3s"), so a test or the demo
    sees an alert fire in seconds; the expressions are unchanged."""
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = hold
    dest.write_text(yaml.safe_dump(rules, sort_keys=False))
    return dest


class Prometheus:
    """One prometheus process; use as a context manager or call start() and stop()."""

    def __init__(
        self,
        workdir: Path,
        scrape_jobs: Sequence[dict[str, Any]],
        rule_files: Iterable[Path] = (),
        *,
        interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": list(scrape_jobs),
        }
        self.log_path = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError(f"prometheus is not on PATH: {INSTALL_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config, sort_keys=False))
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        self.proc = spawn(command, self.log_path)
        wait_until(
            lambda: self._ready(),
            timeout,
            describe=f"prometheus on {self.url} to be ready",
            abort=self._exited,
        )
        return self

    def _exited(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"prometheus exited {self.proc.returncode}:\n{log_tail(self.log_path)}"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                status: int = r.status
        except OSError:
            return False
        return status == 200

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        """The `data` of one HTTP API answer; PrometheusError when it is not a success."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            answer = json.loads(e.read() or b"{}")
        if answer.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {answer.get('error', answer)}")
        return answer["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) of every sample of the resulting vector."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def finite(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """query() without the samples that are NaN or infinite (an empty histogram)."""
        return [(labels, v) for labels, v in self.query(expr) if math.isfinite(v)]

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """Pending and firing alerts (each with `labels`, `state`, `value`)."""
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return [a for a in found if name is None or a["labels"].get("alertname") == name]

    def targets_up(self) -> bool:
        """True once every scrape target has been scraped successfully."""
        active = self.api("targets", state="active")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)
