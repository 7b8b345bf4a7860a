"""Alert rules and dashboard name only metrics and labels the service exports
(nodecount_scaler.metrics.catalog()), so a renamed metric cannot leave a silent alert or an
empty panel behind."""

from __future__ import annotations

import re

import pytest

from nodecount_scaler import metrics
from tests.monitoring import DASHBOARD_VALUES, alert_rules, dashboard
from tests.promql import Usage, dashboard_expressions, read, substitute

# Every scraped series carries these target labels.
SCRAPE_LABELS = frozenset({"job", "instance"})
# Series Prometheus itself writes for each scrape target.
SCRAPE_SERIES = {"up": frozenset[str]()}


def exported() -> dict[str, frozenset[str]]:
    """Series names the service exposes, with their labels (a histogram's _bucket has `le`)."""
    histograms = {
        family.name for family in metrics.REGISTRY.collect() if family.type == "histogram"
    }
    names: dict[str, frozenset[str]] = dict(SCRAPE_SERIES)
    for name, labels in metrics.catalog().items():
        names[name] = frozenset(labels)
        if name in histograms:
            names[f"{name}_bucket"] = frozenset(labels) | {"le"}
            names[f"{name}_sum"] = names[f"{name}_count"] = frozenset(labels)
    return names


def problems(usage: Usage) -> list[str]:
    """Names in `usage` the service does not export."""
    known = exported()
    found = [f"unknown metric {m}" for m in usage.selectors if m not in known]
    available = set(SCRAPE_LABELS)
    for metric, labels in usage.selectors.items():
        allowed = known.get(metric, frozenset()) | SCRAPE_LABELS
        found += [f"{metric} has no label {label}" for label in sorted(labels - allowed)]
        available |= allowed
    found += [f"no label {label} to group by" for label in sorted(usage.grouping - available)]
    found += [f"no label {label} for values" for label in sorted(usage.label_values - available)]
    return found


ALERTS = {rule["alert"]: rule for rule in alert_rules()}
PANELS = dict(dashboard_expressions(dashboard()))


@pytest.mark.parametrize("alert", ALERTS)
def test_alert_names_exported_metrics_and_labels(alert: str) -> None:
    """The expression's metrics and labels exist; its annotations use labels it keeps."""
    rule = ALERTS[alert]
    usage = read(rule["expr"])
    assert usage.selectors, "an alert on no metric"
    assert problems(usage) == []
    # What the alert carries: the grouping labels of an aggregation, else the series'.
    kept = usage.grouping or set().union(*usage.selectors.values(), SCRAPE_LABELS)
    text = " ".join(rule["annotations"].values())
    used = set(re.findall(r"\$labels\.(\w+)", text))
    assert used <= kept | SCRAPE_LABELS, used - kept


@pytest.mark.parametrize("where", PANELS)
def test_dashboard_expression_names_exported_metrics_and_labels(where: str) -> None:
    """Each panel query and variable query, variables substituted, names what is exported."""
    usage = read(substitute(PANELS[where], DASHBOARD_VALUES))
    assert usage.selectors, "a query on no metric"
    assert problems(usage) == []


def test_a_misspelt_name_is_caught() -> None:
    """The check itself: a wrong metric, a wrong label and a wrong grouping are reported."""
    usage = read("sum by (nam) (nodecount_scaler_desired_replica)")
    assert problems(usage) == [
        "unknown metric nodecount_scaler_desired_replica",
        "no label nam to group by",
    ]
    usage = read('nodecount_scaler_desired_replicas{namespac="x"}')
    assert problems(usage) == ["nodecount_scaler_desired_replicas has no label namespac"]
