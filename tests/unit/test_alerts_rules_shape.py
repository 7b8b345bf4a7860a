"""The alert rules: the PrometheusRule carries exactly monitoring/alerts.yaml, every alert
tells the operator what to run, and every alert has promtool cases that fire and stay quiet."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.monitoring import PROMETHEUS_RULE, PROMTOOL_TESTS, alert_rules

ALERTS = {rule["alert"]: rule for rule in alert_rules()}


def test_prometheusrule_carries_the_same_rules() -> None:
    """monitoring/prometheusrule.yaml (hack/render-prometheusrule.py) equals alerts.yaml."""
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    rules = [rule for group in manifest["spec"]["groups"] for rule in group["rules"]]
    assert rules == alert_rules()


@pytest.mark.parametrize("alert", ALERTS)
def test_alert_says_what_to_do(alert: str) -> None:
    """A severity, a hold time, a summary and a description that names a command to run."""
    rule = ALERTS[alert]
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["for"]
    assert rule["annotations"]["summary"]
    assert "`kubectl " in rule["annotations"]["description"]


def _cases() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    return [case for test in tests for case in test["alert_rule_test"]]


@pytest.mark.parametrize("alert", ALERTS)
def test_alert_has_promtool_cases_firing_and_quiet(alert: str) -> None:
    """monitoring/alerts_test.yaml expects it to fire somewhere and to be quiet somewhere."""
    expected = [case["exp_alerts"] for case in _cases() if case["alertname"] == alert]
    assert any(expected), "no case where it fires"
    assert [] in expected, "no case where it stays quiet"


def test_promtool_cases_name_only_real_alerts() -> None:
    """A case for an alert that does not exist would pass vacuously."""
    assert {case["alertname"] for case in _cases()} <= set(ALERTS)
