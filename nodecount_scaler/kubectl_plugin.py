"""`kubectl nodecount`: the kubectl plugin, installed as the console script kubectl-nodecount.

    kubectl nodecount plan [-n NAMESPACE | -A] [--kubeconfig PATH] [--context NAME]
                           [--kind KIND]... [--workload G/V/R[:PATH]]...
                           [-o table|json] [-v LEVEL]
    kubectl nodecount status [-n SCALER_NAMESPACE] [--kubeconfig PATH] [--context NAME]
                             [-o table|json] [--timeout SECONDS]

kubectl runs an executable named kubectl-<name> found on PATH and hands it the rest of the
command line as typed (https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/).
`plan` reads kubectl's usual flags, turns them into `nodecount-scaler plan`'s and runs that
command in its own place (exec), so the checks, the output and the exit code (1 when a target
is invalid, 2 for a bad flag) are plan's own. Without -n every namespace is shown, as plan does.
`status` reads the running leader's /status through a port-forward (kubectl_status.py); its
-n names the namespace nodecount-scaler runs in. Exit code 1 when it cannot, with one line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Final, NoReturn

from nodecount_scaler.kubectl_status import (
    DEFAULT_NAMESPACE,
    DEFAULT_TIMEOUT,
    StatusOptions,
    run_status,
)
from nodecount_scaler.model.numbers import NumberError, parse_positive_decimal

PROG: Final = "kubectl nodecount"
# kubectl's -v is a klog verbosity: 0-3 are the everyday levels, 4 and up debugging.
INFO_VERBOSITY: Final = 4
DEBUG_VERBOSITY: Final = 6
MAX_TIMEOUT: Final = 3600


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit code 2, as nodecount-scaler's own flags."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="nodecount-scaler, from kubectl.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    plan = commands.add_parser(
        "plan",
        help="every target's eligible nodes, current and desired replicas; writes nothing",
        description="Runs `nodecount-scaler plan` with kubectl's flags.",
    )
    plan.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file")
    plan.add_argument("--context", metavar="NAME", help="kubeconfig context")
    scope = plan.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", metavar="NAME", help="only targets in NAME")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="targets in every namespace (default)"
    )
    # plan's own; repeatable, passed on as given (plan checks them: exit 2 on a bad one).
    plan.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="a built-in kind of target (Deployment, StatefulSet, ReplicaSet, "
        "ReplicationController); repeatable; default: plan's",
    )
    plan.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="G/V/R[:PATH]",
        help="a custom resource of targets, GROUP/VERSION/RESOURCE[:TEMPLATE.PATH]; repeatable",
    )
    plan.add_argument("-o", "--output", metavar="FORMAT", help="table (default) or json")
    plan.add_argument(
        "-v", "--v", dest="verbosity", type=int, default=0, metavar="LEVEL", help="log verbosity"
    )
    _add_status(commands)
    return parser


_DNS_LABEL: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def _namespace(text: str) -> str:
    if _DNS_LABEL.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"{text[:70]!r} is not a namespace name")
    return text


def _timeout(text: str) -> float:
    value = parse_positive_decimal(text)
    if isinstance(value, NumberError) or value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a number of seconds above 0 and at most {MAX_TIMEOUT}"
        )
    return float(value)


def _add_status(commands: argparse._SubParsersAction[_Parser]) -> None:
    status = commands.add_parser(
        "status",
        help="the running leader's /status, with your own credentials",
        description="Finds the leader in the Lease, port-forwards to its metrics port and "
        "reads /status as you (needs the ClusterRole nodecount-scaler-metrics-reader, get on "
        "leases and pods and create on pods/portforward in its namespace).",
    )
    status.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file")
    status.add_argument("--context", metavar="NAME", help="kubeconfig context")
    status.add_argument(
        "-n",
        "--namespace",
        metavar="NAME",
        type=_namespace,
        default=DEFAULT_NAMESPACE,
        help=f"the namespace nodecount-scaler runs in (default {DEFAULT_NAMESPACE})",
    )
    status.add_argument(
        "-o", "--output", choices=("table", "json"), default="table", help="table or json"
    )
    status.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT:g})",
    )


def _pflag_style(argv: Sequence[str]) -> list[str]:
    """kubectl's flag library also takes `-n=NAME`; argparse would keep the `=`."""
    out: list[str] = []
    for arg in argv:
        if len(arg) > 3 and arg[0] == "-" and arg[1] in "nov" and arg[2] == "=":
            out += [arg[:2], arg[3:]]
        else:
            out.append(arg)
    return out


def parse(argv: Sequence[str]) -> list[str] | StatusOptions:
    """What `kubectl nodecount ARGV` stands for: `nodecount-scaler plan`'s command line, or
    what `status` is to read. A bad command line exits 2 with one line."""
    args = build_parser().parse_args(_pflag_style(argv))
    if args.command == "status":
        return StatusOptions(
            args.kubeconfig, args.context, args.namespace, args.timeout, args.output
        )
    out = [args.command]
    for flag, value in (
        ("--kubeconfig", args.kubeconfig),
        ("--context", args.context),
        ("--namespace", args.namespace),
        ("--output", args.output),
    ):
        if value is not None:
            out += [flag, value]
    for flag, values in (("--kind", args.kind), ("--workload", args.workload)):
        for value in values:
            out += [flag, value]
    level = (
        "debug"
        if args.verbosity >= DEBUG_VERBOSITY
        else "info"
        if args.verbosity >= INFO_VERBOSITY
        else "warning"
    )
    return [*out, "--log-level", level]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parsed = parse(sys.argv[1:] if argv is None else argv)
    if isinstance(parsed, StatusOptions):
        sys.exit(run_status(parsed))
    sys.stdout.flush()
    # The same interpreter runs the package's command line; exec keeps one process.
    os.execv(sys.executable, [sys.executable, "-m", "nodecount_scaler", *parsed])
