"""The process's settings: one frozen value, read once at start-up by the command line.

The bottom layer of the package: it imports nothing from it, so every other module may
depend on it. The defaults here are the flags' defaults (`--help` prints them from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]
OutputFormat = Literal["table", "json"]

LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("auto", "json", "console")
OUTPUT_FORMATS: Final[tuple[OutputFormat, ...]] = ("table", "json")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the command line can set; these defaults are the flags' defaults."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    # The built-in workload kinds watched for opted-in targets, by kind name; None: the
    # default ones (model/kinds.py BUILTIN, by_default).
    kinds: tuple[str, ...] | None = None
    # Custom resources with a scale subresource: group/version/resource[:template.path].
    workloads: tuple[str, ...] = ()
    # Probes, plain HTTP: /healthz, /livez, /readyz.
    health_addr: str = "0.0.0.0:8081"
    # /metrics and /status: HTTPS with authentication and authorization unless not secure.
    metrics_addr: str = "0.0.0.0:8443"
    metrics_secure: bool = True
    # A mounted serving certificate; None: a self-signed one generated at start.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    dry_run: bool = False
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    unready_grace: float = 30.0
    # The global cap on any target's replicas, whatever its annotations say.
    replica_cap: int = 1000
    workers: int = 4
    # Steer scale-downs with pod-deletion-cost; off: no pod is read or written at all.
    pod_deletion_cost: bool = True
    # Targets whose pods are kept in a cache (list+watch) between scale-downs, least
    # recently used out first, on a connection pool of their own of this size; 0: no pod
    # watch, each scale-down lists the target's pods once.
    pod_watches: int = 64
    watch_inactivity_timeout: float = 120.0
    leader_elect: bool = False
    # None: the pod's namespace (POD_NAMESPACE or the service account's), else "default".
    leader_election_namespace: str | None = None
    leader_election_id: str = "nodecount-scaler"
    leader_election_lease_duration: float = 15.0
    leader_election_renew_deadline: float = 10.0
    leader_election_retry_period: float = 2.0
    output: OutputFormat = "table"
    # The blast-radius guard (model/guard.py): a node-caused scale-down that removes more
    # than this share of a target's replicas, and at least guard_min_drop of them, waits
    # for a fresh list of nodes taken guard_delay seconds later. A share of 1 switches it off.
    # The drop is counted from the most replicas of the last guard_window seconds.
    guard_share: float = 0.5
    guard_min_drop: int = 2
    guard_delay: float = 10.0
    guard_window: float = 60.0

    def problems(self) -> list[str]:
        """What is wrong across settings (each value alone was checked when it was read);
        leader election's timing is model/lease.py's timing_problems, asked by the
        command line."""
        return self._tls_problems()

    def _tls_problems(self) -> list[str]:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            return ["--tls-cert-file and --tls-key-file must be given together"]
        if self.tls_cert_file is not None and not self.metrics_secure:
            return ["--tls-cert-file needs --metrics-secure (the plain listener has no TLS)"]
        return []


DEFAULTS: Final = Settings()
