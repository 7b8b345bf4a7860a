"""Command line: `nodecount-scaler run` and `nodecount-scaler plan`.

Every flag can also be set by an environment variable NODECOUNT_SCALER_<FLAG> (upper
case, dashes as underscores; repeatable flags take a comma-separated list); a flag given
on the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from nodecount_scaler import __version__

ENV_PREFIX: Final = "NODECOUNT_SCALER_"
SERVICE_ACCOUNT_NAMESPACE: Final = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True, slots=True)
class Settings:
    """The process's settings; these defaults are the flags' defaults."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    health_addr: str = "0.0.0.0:8080"
    dry_run: bool = False
    log_level: str = "info"
    log_format: str = "auto"
    unready_grace: float = 30.0
    max_replicas: int = 1000
    workers: int = 4
    watch_inactivity_timeout: float = 120.0
    leader_elect: bool = False
    leader_election_namespace: str = "default"
    leader_election_id: str = "nodecount-scaler"
    leader_election_lease_duration: float = 15.0
    leader_election_renew_deadline: float = 10.0
    leader_election_retry_period: float = 2.0
    output: str = "table"


DEFAULTS: Final = Settings()


def _env(flag: str) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_"))


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _address(text: str) -> str:
    _, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return text


def _default_lease_namespace() -> str:
    if ns := os.environ.get("POD_NAMESPACE"):
        return ns
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


class _AppendReplacingDefault(argparse.Action):
    """`append`, except that the first use replaces the default instead of adding to it:
    plain append would add `--namespace x` to the namespaces from the environment, and a
    flag given on the command line must win over its environment variable."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = f"_{self.dest}_given"
        items = list(getattr(namespace, self.dest)) if getattr(namespace, given, False) else []
        items.append(values)
        setattr(namespace, self.dest, items)
        setattr(namespace, given, True)


def _add(
    parser: argparse.ArgumentParser, flag: str, *, default: Any, help: str, **kwargs: Any
) -> None:
    """Add a flag whose default comes from its environment variable when set."""
    env = _env(flag)
    action = kwargs.get("action")
    if env is not None:
        if action == "append":
            default = [v.strip() for v in env.split(",") if v.strip()]
        elif action == "store_true":
            default = _bool(env)
        else:
            convert = kwargs.get("type", str)
            try:
                default = convert(env)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                parser.error(f"{ENV_PREFIX}{flag[2:].upper().replace('-', '_')}: {exc}")
    if action == "append":
        kwargs["action"] = _AppendReplacingDefault
    env_name = ENV_PREFIX + flag[2:].upper().replace("-", "_")
    parser.add_argument(flag, default=default, help=f"{help} [env {env_name}]", **kwargs)


def _common(parser: argparse.ArgumentParser) -> None:
    _add(
        parser,
        "--kubeconfig",
        default=DEFAULTS.kubeconfig,
        help="kubeconfig file (default: in-cluster, then KUBECONFIG, then ~/.kube/config)",
    )
    _add(parser, "--context", default=DEFAULTS.context, help="kubeconfig context")
    _add(
        parser,
        "--namespace",
        default=list(DEFAULTS.namespaces),
        action="append",
        dest="namespaces",
        help="watch Deployments only in this namespace; repeatable (default: all namespaces)",
    )
    _add(parser, "--log-level", default=DEFAULTS.log_level, help="debug, info, warning, error")
    _add(
        parser,
        "--log-format",
        default=DEFAULTS.log_format,
        choices=("auto", "json", "console"),
        help="auto: console on a terminal, JSON lines otherwise",
    )
    _add(
        parser,
        "--max-replicas",
        default=DEFAULTS.max_replicas,
        type=int,
        help="global cap on any target's replicas, whatever its annotations say",
    )
    _add(
        parser,
        "--unready-grace",
        default=DEFAULTS.unready_grace,
        type=_positive_float,
        help="seconds a node that turned NotReady still counts, so a short flap changes nothing",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodecount-scaler",
        description="Keep annotated Deployments sized to the nodes where their pods can run.",
    )
    parser.add_argument("--version", action="version", version=f"nodecount-scaler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the controller")
    _common(run)
    _add(
        run,
        "--health-addr",
        default=DEFAULTS.health_addr,
        type=_address,
        help="address of /healthz, /readyz, /metrics, /status",
    )
    _add(
        run,
        "--dry-run",
        default=DEFAULTS.dry_run,
        action="store_true",
        help="decide and log everything, write nothing (no patches, no Events)",
    )
    _add(
        run, "--workers", default=DEFAULTS.workers, type=int, help="targets reconciled concurrently"
    )
    _add(
        run,
        "--watch-inactivity-timeout",
        default=DEFAULTS.watch_inactivity_timeout,
        type=_positive_float,
        help="seconds of silence after which a watch stream is considered stalled and reopened",
    )
    _add(
        run,
        "--leader-elect",
        default=DEFAULTS.leader_elect,
        action="store_true",
        help="elect a leader on a Lease; only the leader writes",
    )
    _add(
        run,
        "--leader-election-namespace",
        default=_default_lease_namespace(),
        help="namespace of the Lease (default: the pod's namespace)",
    )
    _add(run, "--leader-election-id", default=DEFAULTS.leader_election_id, help="name of the Lease")
    _add(
        run,
        "--leader-election-lease-duration",
        default=DEFAULTS.leader_election_lease_duration,
        type=_positive_float,
        help="seconds a follower waits before taking over an unrenewed lease",
    )
    _add(
        run,
        "--leader-election-renew-deadline",
        default=DEFAULTS.leader_election_renew_deadline,
        type=_positive_float,
        help="seconds the leader keeps trying to renew before it stops writing",
    )
    _add(
        run,
        "--leader-election-retry-period",
        default=DEFAULTS.leader_election_retry_period,
        type=_positive_float,
        help="seconds between lease attempts",
    )

    plan = commands.add_parser(
        "plan",
        help="show every target's eligible nodes, current and desired replicas; write nothing",
    )
    _common(plan)
    _add(plan, "--output", default=DEFAULTS.output, choices=("table", "json"), help="output format")
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> tuple[str, Settings]:
    parser = build_parser()
    args = parser.parse_args(argv)
    values = vars(args)
    if values["max_replicas"] < 0:
        parser.error("--max-replicas must be 0 or more")
    values["namespaces"] = tuple(dict.fromkeys(values["namespaces"]))
    values["workers"] = max(1, values.get("workers", DEFAULTS.workers))
    # `plan` has no run-only flags: those keep the Settings defaults.
    settings = Settings(**{f.name: values[f.name] for f in fields(Settings) if f.name in values})
    return args.command, settings


def main(argv: Sequence[str] | None = None) -> int:
    command, settings = parse_settings(argv)
    from nodecount_scaler import logs

    # plan's stdout is its table or JSON; its logs go to stderr.
    stream = sys.stderr if command == "plan" else sys.stdout
    logs.configure(settings.log_level, settings.log_format, stream)  # type: ignore[arg-type]
    if command == "plan":
        from nodecount_scaler.plan import run_plan

        return asyncio.run(run_plan(settings))
    from nodecount_scaler.service import run_service

    return asyncio.run(run_service(settings))


if __name__ == "__main__":
    sys.exit(main())
