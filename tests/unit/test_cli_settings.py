"""Command-line settings: flags, NODECOUNT_SCALER_* environment variables, precedence."""

from __future__ import annotations

import pytest

from nodecount_scaler.cli import parse_settings
from nodecount_scaler.model.keys import REGISTRY
from nodecount_scaler.settings import DEFAULTS


def test_defaults() -> None:
    """Without flags or environment, `run` gets the documented defaults."""
    command, settings = parse_settings(["run"])
    assert command == "run"
    assert settings.health_addr == DEFAULTS.health_addr == "0.0.0.0:8081"
    assert settings.metrics_addr == DEFAULTS.metrics_addr == "0.0.0.0:8443"
    assert settings.metrics_secure is True
    assert (settings.tls_cert_file, settings.tls_key_file) == (None, None)
    assert (settings.unready_grace, settings.replica_cap) == (30.0, 1000)
    assert settings.namespaces == ()


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ("", ["run"], ()),
        ("a,b", ["run"], ("a", "b")),
        ("", ["run", "--namespace", "x", "--namespace", "y"], ("x", "y")),
        ("a,b", ["run", "--namespace", "x"], ("x",)),
        ("a", ["run", "--namespace", "x", "--namespace", "x"], ("x",)),
    ],
    ids=["none", "env", "flags", "flag-wins-over-env", "duplicates-collapse"],
)
def test_namespaces(
    env: str, argv: list[str], expected: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--namespace repeats; the environment gives a comma list; a flag replaces it."""
    if env:
        monkeypatch.setenv("NODECOUNT_SCALER_NAMESPACE", env)
    assert parse_settings(argv)[1].namespaces == expected


def test_scalar_flag_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag given on the command line beats its environment variable."""
    monkeypatch.setenv("NODECOUNT_SCALER_UNREADY_GRACE", "5")
    assert parse_settings(["run"])[1].unready_grace == 5.0
    assert parse_settings(["run", "--unready-grace", "7"])[1].unready_grace == 7.0


def test_boolean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Boolean flags read true/false words from the environment."""
    monkeypatch.setenv("NODECOUNT_SCALER_DRY_RUN", "true")
    assert parse_settings(["run"])[1].dry_run is True


def test_plan_keeps_run_only_defaults() -> None:
    """`plan` has no run-only flags; those settings keep their defaults."""
    command, settings = parse_settings(["plan", "--output", "json"])
    assert command == "plan"
    assert settings.output == "json"
    assert settings.leader_elect is False


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--tls-cert-file", "c.pem"], "must be given together"),
        (["--tls-key-file", "k.pem"], "must be given together"),
        (["--tls-cert-file", "c", "--tls-key-file", "k", "--no-metrics-secure"], "needs"),
    ],
    ids=["cert-alone", "key-alone", "files-without-tls"],
)
def test_tls_file_flags_are_checked_together(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A certificate without its key (or on the plain listener) exits 2 with one line."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(["run", *argv])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_metrics_secure_switch_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-metrics-secure turns the protection off; the variable does too, a flag wins."""
    assert parse_settings(["run", "--no-metrics-secure"])[1].metrics_secure is False
    monkeypatch.setenv("NODECOUNT_SCALER_METRICS_SECURE", "false")
    assert parse_settings(["run"])[1].metrics_secure is False
    assert parse_settings(["run", "--metrics-secure"])[1].metrics_secure is True


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (
            ["--leader-election-renew-deadline", "20"],
            "--leader-election-lease-duration (15) must be greater than "
            "--leader-election-renew-deadline (20)",
        ),
        (
            ["--leader-election-retry-period", "9"],
            "--leader-election-renew-deadline (10) must be greater than "
            "--leader-election-retry-period x 1.2 (10.8)",
        ),
        (["--leader-election-retry-period", "0"], "--leader-election-retry-period (0) must be"),
    ],
    ids=["lease-not-above-renew", "renew-without-room-for-retries", "no-retry-period"],
)
def test_leader_election_timing_is_checked_by_the_lease_rules(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """model/lease.py's timing rules, in the flags' names: exit 2 with one line."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(["run", "--leader-elect", *argv])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_leader_election_timing_is_not_checked_without_election() -> None:
    """Without --leader-elect the timing flags are not used, and not judged."""
    settings = parse_settings(["run", "--leader-election-renew-deadline", "20"])[1]
    assert settings.leader_election_renew_deadline == 20.0


def test_plan_help_lists_every_annotation(capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --help` names each annotation of the registry, with its default."""
    with pytest.raises(SystemExit):
        parse_settings(["plan", "--help"])
    shown = capsys.readouterr().out
    for annotation in REGISTRY:
        assert f"\n  {annotation.key}\n" in shown, annotation.key
    assert "(default: none (all nodes))" in " ".join(shown.split())
