"""Command line: `nodecount-scaler run` and `nodecount-scaler plan`.

Every flag can also be set by an environment variable NODECOUNT_SCALER_<FLAG> (upper
case, dashes as underscores; repeatable flags take a comma-separated list); a flag given
on the command line wins. Only the chosen subcommand's variables are read, and a flag and
its variable go through the same check: a bad value ends the process with exit code 2 and
one line naming the flag or variable, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final, NoReturn

from nodecount_scaler import __version__
from nodecount_scaler.model.daemonset_migration import DaemonSetOptions
from nodecount_scaler.model.keys import REGISTRY
from nodecount_scaler.model.kinds import BUILTIN, builtin_kinds, parse_workload
from nodecount_scaler.model.lease import FLAG_NAMES, timing_problems
from nodecount_scaler.model.numbers import NumberError, parse_int
from nodecount_scaler.settings import (
    DEFAULTS,
    LOG_FORMATS,
    LOG_LEVELS,
    OUTPUT_FORMATS,
    Settings,
)

if TYPE_CHECKING:
    from nodecount_scaler.migrate import MigrateOptions

ENV_PREFIX: Final = "NODECOUNT_SCALER_"
_DNS_LABEL: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")

Parse = Callable[[str], object]


# --- value checks, shared by flags and variables; each raises ValueError("what is allowed")


def _choice(allowed: Sequence[str]) -> Parse:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _integer(minimum: int, maximum: int) -> Parse:
    def parse(text: str) -> int:
        value = parse_int(text, minimum=minimum, maximum=maximum)
        if isinstance(value, NumberError):
            raise ValueError(f"{value.problem} (an integer from {minimum} to {maximum})")
        return value

    return parse


def _real(admits: Callable[[float], bool], allowed: str) -> Parse:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan  # admitted by no check
        if not admits(value) or len(text) > 32:
            raise ValueError(f"must be {allowed}")
        return value

    return parse


_seconds = _real(lambda v: math.isfinite(v) and v >= 0, "a number of seconds, 0 or more")
_share = _real(lambda v: 0 < v <= 1, "a number greater than 0 and at most 1")


def _address(text: str) -> str:
    _, sep, port = text.rpartition(":")
    number = parse_int(port, maximum=65535)
    if not sep or isinstance(number, NumberError) or port != port.strip():
        raise ValueError("must be HOST:PORT with a port from 0 to 65535")
    return text


def _name(pattern: re.Pattern[str], what: str) -> Parse:
    def parse(text: str) -> str:
        if pattern.fullmatch(text) is None:
            raise ValueError(f"must be a {what}")
        return text

    return parse


def _path(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _custom_workload(text: str) -> str:
    parsed = parse_workload(text)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return str(parsed)


BUILTIN_KINDS: Final = tuple(w.kind for w in BUILTIN)
DEFAULT_KINDS: Final = tuple(w.kind for w in builtin_kinds(None))

_namespace = _name(_DNS_LABEL, "namespace name (a DNS label: a-z, 0-9, '-', at most 63)")
_lease_name = _name(_DNS_SUBDOMAIN, "Lease name (a DNS subdomain)")
_deployment_name = _name(_DNS_SUBDOMAIN, "Deployment name (a DNS subdomain)")


# --- the options ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    dest: str
    help: str
    parse: Parse
    commands: frozenset[str]
    metavar: str | None = None
    repeatable: bool = False
    switch: bool = False  # an on/off flag: --x and --no-x
    shown: str | None = None  # the default in words, where the value says too little
    short: str | None = None
    # A one-shot translation reads only its command line: NODECOUNT_SCALER_NAMESPACE, set
    # for the service, must not become CPA's --namespace.
    from_env: bool = True
    # The value may start with "-" (a pasted command line): argparse would take it for a
    # flag, so "--flag VALUE" is read as "--flag=VALUE".
    dash_value: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.lstrip("-").upper().replace("-", "_")


RUN: Final = frozenset({"run"})
BOTH: Final = frozenset({"run", "plan"})
PLAN: Final = frozenset({"plan"})
MIGRATE: Final = frozenset({"migrate-cpa"})
MIGRATE_DS: Final = frozenset({"migrate-daemonset"})
CUTOVER: Final = frozenset({"cutover"})
DAEMONSET: Final = MIGRATE_DS | CUTOVER
CLUSTER: Final = BOTH | MIGRATE | DAEMONSET
MIGRATE_OUTPUTS: Final = ("kubectl", "patch")
DAEMONSET_OUTPUTS: Final = ("yaml", "patch")

OPTIONS: Final[tuple[Option, ...]] = (
    Option("--kubeconfig", "kubeconfig", "kubeconfig file", _path, CLUSTER, metavar="PATH",
           shown="in-cluster, then KUBECONFIG, then ~/.kube/config"),
    Option("--context", "context", "kubeconfig context", _path, CLUSTER, metavar="NAME",
           shown="the current context"),
    Option("--namespace", "namespaces", "watch targets only in this namespace; repeatable",
           _namespace, BOTH, metavar="NAME", repeatable=True, shown="all namespaces"),
    Option("--kind", "kinds", "watch this built-in kind for targets: "
           f"{', '.join(BUILTIN_KINDS[:-1])} or {BUILTIN_KINDS[-1]}; repeatable",
           _choice(BUILTIN_KINDS), BOTH, metavar="KIND", repeatable=True,
           shown=", ".join(DEFAULT_KINDS)),
    Option("--workload", "workloads", "also watch this custom resource for targets and scale it "
           "through its /scale subresource: GROUP/VERSION/RESOURCE[:TEMPLATE.PATH] (template "
           "path default spec.template); repeatable", _custom_workload, BOTH,
           metavar="G/V/R[:PATH]", repeatable=True, shown="none"),
    Option("--log-level", "log_level", f"one of {', '.join(LOG_LEVELS)}", _choice(LOG_LEVELS),
           BOTH, metavar="LEVEL"),
    Option("--log-format", "log_format", "auto (console on a terminal, JSON lines otherwise), "
           "json or console", _choice(LOG_FORMATS), BOTH, metavar="FORMAT"),
    Option("--replica-cap", "replica_cap", "global cap on any target's replicas, whatever "
           "its annotations say", _integer(0, 2**31 - 1), BOTH, metavar="N"),
    Option("--unready-grace", "unready_grace", "seconds a node that turned NotReady still "
           "counts, so a short flap changes nothing", _seconds, BOTH, metavar="SECONDS"),
    Option("--health-addr", "health_addr", "address of the probes /healthz, /livez, /readyz "
           "(plain HTTP)", _address, RUN, metavar="HOST:PORT"),
    Option("--metrics-addr", "metrics_addr", "address of /metrics and /status (HTTPS unless "
           "--no-metrics-secure)", _address, RUN, metavar="HOST:PORT"),
    Option("--metrics-secure", "metrics_secure", "serve /metrics and /status over HTTPS to "
           "callers authenticated (token or client certificate) and authorized (RBAC on the "
           "path) by the API server; off: plain HTTP to anyone, for development", _boolean,
           RUN, switch=True),
    Option("--tls-cert-file", "tls_cert_file", "serving certificate (PEM) of the metrics "
           "listener; re-read when it changes", _path, RUN, metavar="PATH",
           shown="self-signed, generated at start"),
    Option("--tls-key-file", "tls_key_file", "private key (PEM) of --tls-cert-file", _path,
           RUN, metavar="PATH", shown="generated with the certificate"),
    Option("--dry-run", "dry_run", "decide and log everything, write nothing (no patches, "
           "no Events)", _boolean, RUN, switch=True),
    Option("--pod-deletion-cost", "pod_deletion_cost", "before a scale-down, mark the pods "
           "on nodes that left the eligible set with pod-deletion-cost so they go first; off: "
           "no pod is read or written", _boolean, RUN, switch=True),
    Option("--pod-watches", "pod_watches", "targets whose pods stay watched after a "
           "scale-down, so the next one reads no pod from the API (least recently used out "
           "first, 10 idle minutes out; their own connection pool of this size); 0: each "
           "scale-down lists the target's pods once", _integer(0, 1000), RUN, metavar="N"),
    Option("--workers", "workers", "targets reconciled concurrently (1 to 64)",
           _integer(1, 64), RUN, metavar="N"),
    Option("--watch-inactivity-timeout", "watch_inactivity_timeout", "seconds of silence "
           "past a watch's own deadline (5-10 minutes) after which the stream is considered "
           "stalled and reopened", _seconds, RUN, metavar="SECONDS"),
    Option("--leader-elect", "leader_elect", "elect a leader on a Lease; only the leader "
           "writes", _boolean, RUN, switch=True),
    Option("--leader-election-namespace", "leader_election_namespace", "namespace of the "
           "Lease", _namespace, RUN, metavar="NAME",
           shown="the pod's namespace (POD_NAMESPACE), else default"),
    Option("--leader-election-id", "leader_election_id", "name of the Lease", _lease_name, RUN,
           metavar="NAME"),
    Option("--leader-election-lease-duration", "leader_election_lease_duration", "seconds a "
           "follower waits before taking over an unrenewed lease", _seconds, RUN,
           metavar="SECONDS"),
    Option("--leader-election-renew-deadline", "leader_election_renew_deadline", "seconds "
           "the leader keeps trying to renew before it stops writing", _seconds, RUN,
           metavar="SECONDS"),
    Option("--leader-election-retry-period", "leader_election_retry_period", "seconds "
           "between lease attempts", _seconds, RUN, metavar="SECONDS"),
    Option("--scale-down-guard-share", "guard_share", "a node-caused scale-down that removes "
           "more than this share of a target's replicas waits for a fresh list of nodes "
           "(1 switches the guard off)", _share, RUN, metavar="SHARE"),
    Option("--scale-down-guard-min", "guard_min_drop", "...and removes at least this many",
           _integer(1, 2**31 - 1), RUN, metavar="N"),
    Option("--scale-down-guard-delay", "guard_delay", "seconds before the confirming list",
           _seconds, RUN, metavar="SECONDS"),
    Option("--scale-down-guard-window", "guard_window", "...counting the drops of this many "
           "seconds together (node deletions one by one are one loss)", _seconds, RUN,
           metavar="SECONDS"),
    Option("--output", "output", "table or json; the exit code is 1 if any target is invalid",
           _choice(OUTPUT_FORMATS), PLAN, metavar="FORMAT"),
    Option("--file", "file", "CPA's manifests (its ConfigMap, and its Deployment for its "
           "flags), YAML or JSON; - for standard input", _path, MIGRATE, metavar="PATH",
           short="-f", from_env=False, shown="none"),
    Option("--configmap", "configmap", "read CPA's ConfigMap from the cluster", _path,
           MIGRATE, metavar="[NAMESPACE/]NAME", from_env=False, shown="none"),
    Option("--cpa-deployment", "cpa_deployment", "read CPA's flags from its Deployment in the "
           "cluster", _path, MIGRATE, metavar="[NAMESPACE/]NAME", from_env=False, shown="none"),
    Option("--target", "target", "CPA's --target, e.g. deployment/coredns (wins over the one "
           "read)", _path, MIGRATE, metavar="KIND/NAME", from_env=False, shown="none"),
    Option("--namespace", "cpa_namespace", "CPA's --namespace: where its targets are",
           _namespace, MIGRATE, metavar="NAME", from_env=False, shown="CPA's own namespace"),
    Option("--nodelabels", "nodelabels", "CPA's --nodelabels (k=v,k2=v2)", _path, MIGRATE,
           metavar="LABELS", from_env=False, shown="none"),
    Option("--default-params", "default_params", "CPA's --default-params (JSON)", _path,
           MIGRATE, metavar="JSON", from_env=False, shown="none"),
    Option("--cpa-args", "cpa_args", "CPA's whole command line as one string", _path,
           MIGRATE, metavar="ARGS", from_env=False, shown="none", dash_value=True),
    Option("--output", "migrate_output", "kubectl (annotate commands) or patch (merge "
           "patches)", _choice(MIGRATE_OUTPUTS), MIGRATE, metavar="FORMAT", short="-o",
           from_env=False, shown="kubectl"),
    Option("--file", "file", "the DaemonSet's manifest, YAML or JSON; - for standard input",
           _path, MIGRATE_DS, metavar="PATH", short="-f", from_env=False, shown="none"),
    Option("--file", "file", "the Deployment (and PodDisruptionBudget) printed by "
           "migrate-daemonset, as edited", _path, CUTOVER, metavar="PATH", short="-f",
           from_env=False, shown="the DaemonSet translated again"),
    Option("--daemonset", "daemonset", "the DaemonSet: NAMESPACE/NAME in the cluster, or the "
           "one to pick in --file", _path, DAEMONSET, metavar="[NAMESPACE/]NAME",
           from_env=False, shown="none"),
    Option("--name", "deployment_name", "the Deployment's name", _deployment_name, DAEMONSET,
           metavar="NAME", from_env=False, shown="the DaemonSet's"),
    Option("--gate-label", "gate_label", "node label key that splits the nodes between the "
           "DaemonSet and the Deployment during the cutover", _path, DAEMONSET, metavar="KEY",
           from_env=False, shown="cutover.nodecount-scaler.io/NAMESPACE.NAME"),
    Option("--pdb", "pdb", "also print a PodDisruptionBudget with this maxUnavailable (a "
           "number or a percentage)", _path, MIGRATE_DS, metavar="MAX_UNAVAILABLE",
           from_env=False, shown="none"),
    Option("--output", "daemonset_output", "yaml (the objects, reasons as comments) or patch "
           "(a merge patch turning the DaemonSet's manifest into the Deployment)",
           _choice(DAEMONSET_OUTPUTS), MIGRATE_DS, metavar="FORMAT", short="-o",
           from_env=False, shown="yaml"),
    Option("--batch", "batch", "nodes moved at a time", _integer(1, 10000), CUTOVER,
           metavar="N", from_env=False, shown="1"),
    Option("--pause", "pause", "seconds to wait between two batches", _seconds, CUTOVER,
           metavar="SECONDS", from_env=False, shown="0"),
    Option("--max-nodes", "max_nodes", "stop after moving this many nodes (run again to go "
           "on)", _integer(1, 2**31 - 1), CUTOVER, metavar="N", from_env=False,
           shown="all"),
    Option("--step-timeout", "step_timeout", "seconds a batch may take to settle before the "
           "cutover stops", _seconds, CUTOVER, metavar="SECONDS", from_env=False, shown="300"),
    Option("--reverse", "reverse", "move the nodes back to the DaemonSet, then restore it and "
           "delete the Deployment", _boolean, CUTOVER, switch=True, from_env=False,
           shown="off"),
    Option("--dry-run", "cutover_dry_run", "print what would be done, write nothing",
           _boolean, CUTOVER, switch=True, from_env=False, shown="off"),
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit code 2; the usage is one `--help` away."""
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Repeat(argparse.Action):
    """Collect a repeatable flag's values; the first use replaces the variable's list."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, [*getattr(namespace, self.dest, []), values])


def _argument_type(option: Option) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text[:80]!r}: {exc}") from None

    return convert


def shown_default(option: Option) -> str:
    if option.shown is not None:
        return option.shown
    value = getattr(DEFAULTS, option.dest)
    if option.switch:
        return "on" if value else "off"
    if value is None or value == ():
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _add(parser: argparse.ArgumentParser, option: Option) -> None:
    env = f"; env {option.env}" if option.from_env else ""
    text = f"{option.help} (default: {shown_default(option)}{env})"
    flags = [f for f in (option.short, option.flag) if f]
    if option.switch:
        parser.add_argument(
            *flags,
            dest=option.dest,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=text,
        )
        return
    parser.add_argument(
        *flags,
        dest=option.dest,
        action=_Repeat if option.repeatable else "store",
        type=_argument_type(option),
        default=argparse.SUPPRESS,
        help=text,
        metavar=option.metavar,
    )


def annotation_help() -> str:
    """The annotations a workload is read by (model/keys.py REGISTRY), for `plan --help`."""
    lines = ["annotations, on each workload's metadata.annotations:"]
    for annotation in REGISTRY:
        value, default = (text.replace("`", "") for text in (annotation.value, annotation.default))
        lines.append(f"  {annotation.key}")
        lines.extend(
            textwrap.wrap(
                f"{value} (default: {default})",
                88,
                initial_indent=" " * 4,
                subsequent_indent=" " * 4,
            )
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nodecount-scaler",
        description="Keep annotated workloads sized to the nodes where their pods can run.",
    )
    parser.add_argument("--version", action="version", version=f"nodecount-scaler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    subparsers = {
        "run": commands.add_parser("run", help="run the controller"),
        "plan": commands.add_parser(
            "plan",
            help="show every target's eligible nodes and replicas; write nothing",
            epilog=annotation_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "migrate-cpa": commands.add_parser(
            "migrate-cpa",
            help="print the annotations that replace a cluster-proportional-autoscaler setup",
        ),
        "migrate-daemonset": commands.add_parser(
            "migrate-daemonset",
            help="print the Deployment (and PodDisruptionBudget) that replace a DaemonSet",
        ),
        "cutover": commands.add_parser(
            "cutover",
            help="move a DaemonSet's nodes to its Deployment a few at a time (or back)",
        ),
    }
    for option in OPTIONS:
        for command in sorted(option.commands):
            _add(subparsers[command], option)
    return parser


def _from_environment(
    parser: argparse.ArgumentParser, option: Option, environ: Mapping[str, str]
) -> object:
    raw = environ[option.env]
    try:
        if option.repeatable:
            return [option.parse(part.strip()) for part in raw.split(",") if part.strip()]
        return option.parse(raw)
    except ValueError as exc:
        parser.error(f"{option.env}={raw[:80]!r}: {exc}")


def _joined_dash_values(argv: Sequence[str]) -> list[str]:
    """`--cpa-args "--target=x"` as `--cpa-args=--target=x`: argparse refuses a separate
    value that starts with "-" ("expected one argument")."""
    flags = {o.flag for o in OPTIONS if o.dash_value}
    words: list[str] = []
    position = 0
    while position < len(argv):
        word = argv[position]
        if word == "--":
            return words + list(argv[position:])
        if word in flags and position + 1 < len(argv):
            words.append(f"{word}={argv[position + 1]}")
            position += 2
            continue
        words.append(word)
        position += 1
    return words


def parse_command(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, Settings, dict[str, Any]]:
    """The chosen subcommand, its settings (flags, else variables, else defaults) and the
    values of its options that are not settings of the service (migrate-cpa's)."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    words = sys.argv[1:] if argv is None else argv
    values = vars(parser.parse_args(_joined_dash_values(words)))
    command = values.pop("command")
    for option in OPTIONS:
        if (
            command in option.commands
            and option.from_env
            and option.dest not in values
            and option.env in env
        ):
            values[option.dest] = _from_environment(parser, option, env)
    for repeated in ("namespaces", "kinds", "workloads"):
        if repeated in values:
            values[repeated] = tuple(dict.fromkeys(values[repeated]))
    known = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in values.items() if k in known})
    problems = settings.problems()
    if settings.leader_elect:
        problems += timing_problems(
            settings.leader_election_lease_duration,
            settings.leader_election_renew_deadline,
            settings.leader_election_retry_period,
            FLAG_NAMES,
        )
    for problem in problems:
        parser.error(problem)
    return command, settings, {k: v for k, v in values.items() if k not in known}


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, Settings]:
    """The chosen subcommand and its settings: flags, else variables, else defaults."""
    command, settings, _ = parse_command(argv, environ)
    return command, settings


def migrate_options(settings: Settings, extra: Mapping[str, Any]) -> MigrateOptions:
    """migrate-cpa's options from its parsed command line."""
    from nodecount_scaler.migrate import MigrateOptions, OutputFormat

    cpa_args = extra.get("cpa_args")
    return MigrateOptions(
        file=extra.get("file"),
        configmap=extra.get("configmap"),
        cpa_deployment=extra.get("cpa_deployment"),
        target=extra.get("target"),
        namespace=extra.get("cpa_namespace"),
        nodelabels=extra.get("nodelabels"),
        default_params=extra.get("default_params"),
        cpa_args=tuple(shlex.split(cpa_args)) if cpa_args else (),
        output=OutputFormat(extra.get("migrate_output", "kubectl")),
        kubeconfig=settings.kubeconfig,
        context=settings.context,
    )


def _migrate(settings: Settings, extra: Mapping[str, Any]) -> int:
    from nodecount_scaler.migrate import run_migrate

    return asyncio.run(run_migrate(migrate_options(settings, extra), sys.stdout))


def _translation(extra: Mapping[str, Any]) -> DaemonSetOptions:
    return DaemonSetOptions(
        name=extra.get("deployment_name"),
        gate_key=extra.get("gate_label"),
        pdb_max_unavailable=extra.get("pdb"),
    )


def _migrate_daemonset(settings: Settings, extra: Mapping[str, Any]) -> int:
    from nodecount_scaler.migrate_daemonset import (
        DaemonSetOutput,
        MigrateDaemonSetOptions,
        run_migrate_daemonset,
    )

    options = MigrateDaemonSetOptions(
        file=extra.get("file"),
        daemonset=extra.get("daemonset"),
        translation=_translation(extra),
        output=DaemonSetOutput(extra.get("daemonset_output", "yaml")),
        kubeconfig=settings.kubeconfig,
        context=settings.context,
    )
    return asyncio.run(run_migrate_daemonset(options, sys.stdout, sys.stderr))


def _cutover(settings: Settings, extra: Mapping[str, Any]) -> int:
    from nodecount_scaler.cutover import CutoverOptions, run_cutover

    daemonset = extra.get("daemonset")
    if not daemonset or "/" not in daemonset:
        sys.stderr.write("nodecount-scaler cutover: error: give --daemonset NAMESPACE/NAME\n")
        return 2
    options = CutoverOptions(
        daemonset=daemonset,
        file=extra.get("file"),
        translation=_translation(extra),
        batch=extra.get("batch", 1),
        pause=extra.get("pause", 0.0),
        max_nodes=extra.get("max_nodes"),
        timeout=extra.get("step_timeout", 300.0),
        reverse=extra.get("reverse", False),
        dry_run=extra.get("cutover_dry_run", False),
        kubeconfig=settings.kubeconfig,
        context=settings.context,
    )
    try:
        return asyncio.run(run_cutover(options, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: run the same command again to go on\n")
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    command, settings, extra = parse_command(argv)
    from nodecount_scaler import logs

    # The one-shot commands' stdout is their output; their logs go to stderr.
    stream = sys.stdout if command == "run" else sys.stderr
    logs.configure(settings.log_level, settings.log_format, stream)
    if command == "migrate-cpa":
        return _migrate(settings, extra)
    if command == "migrate-daemonset":
        return _migrate_daemonset(settings, extra)
    if command == "cutover":
        return _cutover(settings, extra)
    if command == "plan":
        from nodecount_scaler.plan import run_plan

        return asyncio.run(run_plan(settings))
    from nodecount_scaler.service import run_service

    return asyncio.run(run_service(settings))


if __name__ == "__main__":
    sys.exit(main())
