"""The Grafana dashboard (dashboards/nodecount-scaler.json): it covers what an operator
watches, every query goes to the chosen data source, and every variable it uses exists."""

from __future__ import annotations

import re

from tests.monitoring import dashboard
from tests.promql import dashboard_expressions, read, substitute

BOARD = dashboard()
PANELS = [p for p in BOARD["panels"] if p["type"] != "row"]
VARIABLES = {v["name"] for v in BOARD["templating"]["list"]} | {"__rate_interval"}
# What the dashboard must show, as the series that show it.
TOPICS = {
    "eligible nodes per target": "nodecount_scaler_eligible_nodes",
    "desired replicas per target": "nodecount_scaler_desired_replicas",
    "current replicas per target": "nodecount_scaler_current_replicas",
    "scale writes and errors": "nodecount_scaler_scale_patches_total",
    "reaction latency": "nodecount_scaler_reaction_seconds_bucket",
    "watch restarts": "nodecount_scaler_watch_restarts_total",
    "watch relists": "nodecount_scaler_watch_relists_total",
    "leader": "leader_election_master_status",
    "queue depth": "workqueue_depth",
}


def test_every_topic_has_a_panel() -> None:
    """Each topic's series is queried by some panel."""
    used: set[str] = set()
    for where, expr in dashboard_expressions(BOARD):
        if where.startswith("panel "):
            used |= set(read(substitute(expr, {}.fromkeys(VARIABLES, "x"))).selectors)
    assert {topic for topic, series in TOPICS.items() if series not in used} == set()


def test_every_query_uses_the_datasource_variable() -> None:
    """Panels and their queries point at ${datasource}, so the board imports anywhere."""
    for panel in PANELS:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_every_variable_used_is_defined() -> None:
    """A $name in a query that no template variable defines would be sent to Prometheus."""
    for where, expr in dashboard_expressions(BOARD):
        used = {next(g for g in m if g) for m in re.findall(r"\$\{(\w+)\}|\$(\w+)", expr)}
        assert used <= VARIABLES, where


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    """Grafana keys panels by id; the grid is 24 columns wide."""
    ids = [p["id"] for p in BOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in BOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
