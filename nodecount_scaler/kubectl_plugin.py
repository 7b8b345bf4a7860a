"""`kubectl nodecount`: the kubectl plugin, installed as the console script kubectl-nodecount.

    kubectl nodecount plan [-n NAMESPACE | -A] [--kubeconfig PATH] [--context NAME]
                           [-o table|json] [-v LEVEL]

kubectl runs an executable named kubectl-<name> found on PATH and hands it the rest of the
command line as typed (https://kubernetes.io/docs/tasks/extend-kubectl/kubectl-plugins/).
This one reads kubectl's usual flags, turns them into `nodecount-scaler plan`'s and runs that
command in its own place (exec), so the checks, the output and the exit code (1 when a target
is invalid, 2 for a bad flag) are plan's own. Without -n every namespace is shown, as plan does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Final, NoReturn

PROG: Final = "kubectl nodecount"
# kubectl's -v is a klog verbosity: 0-3 are the everyday levels, 4 and up debugging.
INFO_VERBOSITY: Final = 4
DEBUG_VERBOSITY: Final = 6


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
    plan.add_argument("-o", "--output", metavar="FORMAT", help="table (default) or json")
    plan.add_argument(
        "-v", "--v", dest="verbosity", type=int, default=0, metavar="LEVEL", help="log verbosity"
    )
    return parser


def _pflag_style(argv: Sequence[str]) -> list[str]:
    """kubectl's flag library also takes `-n=NAME`; argparse would keep the `=`."""
    out: list[str] = []
    for arg in argv:
        if len(arg) > 3 and arg[0] == "-" and arg[1] in "nov" and arg[2] == "=":
            out += [arg[:2], arg[3:]]
        else:
            out.append(arg)
    return out


def plan_arguments(argv: Sequence[str]) -> list[str]:
    """The `nodecount-scaler` command line that `kubectl nodecount ARGV` stands for."""
    args = build_parser().parse_args(_pflag_style(argv))
    out = [args.command]
    for flag, value in (
        ("--kubeconfig", args.kubeconfig),
        ("--context", args.context),
        ("--namespace", args.namespace),
        ("--output", args.output),
    ):
        if value is not None:
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
    arguments = plan_arguments(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    # The same interpreter runs the package's command line; exec keeps one process.
    os.execv(sys.executable, [sys.executable, "-m", "nodecount_scaler", *arguments])
