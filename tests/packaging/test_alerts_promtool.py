"""The alert rules and the dashboard's queries through Prometheus's own tool (promtool, from
Debian's prometheus package: hack/install-prometheus.sh): they parse, and every alert's
unit tests (monitoring/alerts_test.yaml) pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring import ALERTS, DASHBOARD_VALUES, PROMTOOL_TESTS, dashboard
from tests.promql import dashboard_expressions, substitute


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not on PATH: run hack/install-prometheus.sh", pytrace=False)
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=120)


def test_alert_rules_are_valid() -> None:
    """`promtool check rules` accepts monitoring/alerts.yaml."""
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_unit_tests_pass() -> None:
    """`promtool test rules`: each alert fires where it must and stays quiet elsewhere."""
    result = promtool("test", "rules", str(PROMTOOL_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every panel query, variables substituted, is valid PromQL (as recording rules)."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": substitute(expr, DASHBOARD_VALUES)}
        for n, (where, expr) in enumerate(dashboard_expressions(dashboard()))
        if where.startswith("panel ")
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
