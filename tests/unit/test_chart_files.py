"""The chart's copy of the alert rules is the rules file itself, byte for byte."""

from __future__ import annotations

from tests.manifests import CHART
from tests.monitoring import ALERTS


def test_chart_rules_file_is_a_copy_of_monitoring() -> None:
    """charts/nodecount-scaler/files/alerts.yaml == monitoring/alerts.yaml: after editing the
    rules run hack/render-prometheusrule.py, which writes both derived files."""
    copy = CHART / "files" / "alerts.yaml"
    assert copy.read_bytes() == ALERTS.read_bytes(), "run hack/render-prometheusrule.py"
