"""kubectl's flags, as `kubectl nodecount` receives them, become nodecount-scaler plan's, or
the options of `status`."""

from __future__ import annotations

import pytest

from nodecount_scaler.cli import parse_command
from nodecount_scaler.kubectl_plugin import parse
from nodecount_scaler.kubectl_status import StatusOptions

QUIET = ["--log-level", "warning"]
CASES = [
    ("bare: every namespace", ["plan"], ["plan", *QUIET]),
    ("-A is the default", ["plan", "-A"], ["plan", *QUIET]),
    ("-n NAME", ["plan", "-n", "web"], ["plan", "--namespace", "web", *QUIET]),
    ("-nNAME", ["plan", "-nweb"], ["plan", "--namespace", "web", *QUIET]),
    ("-n=NAME", ["plan", "-n=web"], ["plan", "--namespace", "web", *QUIET]),
    ("--namespace=NAME", ["plan", "--namespace=web"], ["plan", "--namespace", "web", *QUIET]),
    (
        "kubeconfig and context",
        ["plan", "--kubeconfig", "/k", "--context=prod"],
        ["plan", "--kubeconfig", "/k", "--context", "prod", *QUIET],
    ),
    ("-o json", ["plan", "-o", "json"], ["plan", "--output", "json", *QUIET]),
    ("-ojson", ["plan", "-ojson"], ["plan", "--output", "json", *QUIET]),
    ("-v 4: info", ["plan", "-v", "4"], ["plan", "--log-level", "info"]),
    ("--v=6: debug", ["plan", "--v=6"], ["plan", "--log-level", "debug"]),
    (
        "--kind, repeated",
        ["plan", "--kind", "StatefulSet", "--kind=ReplicationController"],
        ["plan", "--kind", "StatefulSet", "--kind", "ReplicationController", *QUIET],
    ),
    (
        "--workload, repeated, with -n",
        [
            "plan",
            "--workload",
            "argoproj.io/v1alpha1/rollouts",
            "-n",
            "web",
            "--workload=example.com/v1/pools:spec.podTemplate",
        ],
        [
            "plan",
            "--namespace",
            "web",
            "--workload",
            "argoproj.io/v1alpha1/rollouts",
            "--workload",
            "example.com/v1/pools:spec.podTemplate",
            *QUIET,
        ],
    ),
    (
        "flags before the command's",
        ["plan", "-v=2", "-n", "a"],
        ["plan", "--namespace", "a", *QUIET],
    ),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_kubectl_flags_map_onto_plan(argv: list[str], expected: list[str]) -> None:
    """Each kubectl spelling lands on the one plan flag."""
    assert parse(argv) == expected


STATUS = [
    ("bare: the default namespace", ["status"], StatusOptions()),
    (
        "every flag",
        [
            "status",
            "-n",
            "ops",
            "--kubeconfig",
            "/k",
            "--context=prod",
            "-o",
            "json",
            "--timeout",
            "5",
        ],
        StatusOptions("/k", "prod", "ops", 5.0, "json"),
    ),
    (
        "-n=NAME and -ojson",
        ["status", "-n=ops", "-ojson"],
        StatusOptions(namespace="ops", output="json"),
    ),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in STATUS], ids=[c[0] for c in STATUS])
def test_status_flags(argv: list[str], expected: StatusOptions) -> None:
    """status takes kubectl's spellings too; -n is where nodecount-scaler runs."""
    assert parse(argv) == expected


BAD = [
    ("no command", []),
    ("an unknown command", ["stats"]),
    ("status: a timeout of 0", ["status", "--timeout", "0"]),
    ("status: a timeout that is no number", ["status", "--timeout", "soon"]),
    ("status: a namespace that is no name", ["status", "-n", "a/b"]),
    ("status: an output it does not have", ["status", "-o", "yaml"]),
    ("status: -A makes no sense", ["status", "-A"]),
    ("-n with -A", ["plan", "-n", "web", "-A"]),
    ("a flag kubectl plugins do not get", ["plan", "--server", "https://x"]),
    ("-v not a number", ["plan", "-v", "loud"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_command_lines_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A usage error is exit code 2 and one line naming `kubectl nodecount`."""
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("kubectl nodecount"), err
    assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--kind", "DaemonSet", "--kind"),
        ("--workload", "apps/v1/deployments", "--workload"),
    ],
)
def test_kind_and_workload_are_checked_by_plan(
    flag: str, value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plugin passes --kind and --workload on as given; plan's own parser refuses a bad
    one with exit code 2 and names the flag, as it does when run directly; a good one is
    plan's setting."""
    good = parse(["plan", "--kind", "StatefulSet", "--workload", "argoproj.io/v1alpha1/rollouts"])
    assert isinstance(good, list)
    _, settings, _ = parse_command(good, environ={})
    assert settings.kinds == ("StatefulSet",)
    argv = parse(["plan", flag, value])
    assert isinstance(argv, list)
    with pytest.raises(SystemExit) as exited:
        parse_command(argv, environ={})
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
