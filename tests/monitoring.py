"""The shipped monitoring files (alert rules, PrometheusRule, dashboard), loaded for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "monitoring" / "alerts.yaml"
PROMETHEUS_RULE = ROOT / "monitoring" / "prometheusrule.yaml"
PROMTOOL_TESTS = ROOT / "monitoring" / "alerts_test.yaml"
DASHBOARD = ROOT / "dashboards" / "nodecount-scaler.json"
# Grafana variables, replaced as the dashboard does on its first load (All = .*).
DASHBOARD_VALUES = {
    "job": "nodecount-scaler",
    "namespace": ".*",
    "target": ".*",
    "__rate_interval": "5m",
}


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group of monitoring/alerts.yaml."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded
