"""What the start-up lists prove (model/state.py NEW_TARGET_SETTLE): a target whose last
write the server recorded lies more than the settle (and a second of rounding) before the
snapshot of its namespace's HPA list does not wait; anything less known does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nodecount_scaler.kube.client import served_after
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey, last_write
from testkit.builders import deployment, target_view

NOW = 500.0  # monotonic
SETTLE = 2.0
T0 = dt.datetime(2026, 12, 7, 12, 0, 0, tzinfo=dt.UTC).timestamp()
KEY = TargetKey("ns", "d")


def stamp(offset: float) -> str:
    return dt.datetime.fromtimestamp(T0 + offset, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def written(created: float, *managers: float) -> dict[str, Any]:
    obj = deployment()
    obj["metadata"]["creationTimestamp"] = stamp(created)
    obj["metadata"]["managedFields"] = [{"manager": "m", "time": stamp(t)} for t in managers]
    return obj


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"creationTimestamp": stamp(0), "managedFields": []}, T0),
        ({"creationTimestamp": stamp(0), "managedFields": [{"time": stamp(9)}]}, T0 + 9),
        ({"creationTimestamp": stamp(5), "managedFields": [{"time": stamp(1)}]}, T0 + 5),
        ({"creationTimestamp": stamp(0)}, None),  # no managedFields: nothing known
        ({"creationTimestamp": stamp(0), "managedFields": [{"time": "yesterday"}]}, None),
        ({"creationTimestamp": stamp(0), "managedFields": [{"manager": "m"}]}, None),
        ({"creationTimestamp": "2026-12-07T12:00:00", "managedFields": []}, None),  # no zone
        ({"managedFields": [{"time": stamp(0)}]}, None),
    ],
)
def test_last_write(metadata: dict[str, Any], expected: float | None) -> None:
    assert last_write(metadata) == expected


@pytest.mark.parametrize(
    ("date", "took", "expected"),
    [
        ("Mon, 07 Dec 2026 12:00:10 GMT", 0.25, T0 + 9.75),
        ("Mon, 07 Dec 2026 12:00:10 GMT", 0.0, T0 + 10),
        (None, 0.1, None),
        ("", 0.1, None),
        ("not a date", 0.1, None),
    ],
)
def test_served_after(date: str | None, took: float, expected: float | None) -> None:
    """The Date header less the exchange: never later than the request's arrival."""
    assert served_after(date, took) == expected


def settles_at(state: ClusterState) -> float:
    return state.targets[KEY].settles_at


@pytest.mark.parametrize(
    ("last", "listed", "waits"),
    [
        pytest.param(0.0, 3.0, False, id="settle-and-a-second-before-the-snapshot"),
        pytest.param(0.0, 2.9, True, id="just-too-recent"),
        pytest.param(-3600.0, 0.0, False, id="an-hour-old"),
        pytest.param(60.0, 0.0, True, id="written-after-the-list"),
        pytest.param(0.0, None, True, id="no-hpa-list-time"),
    ],
)
def test_listed_target_waits_unless_the_hpa_list_proves_it(
    last: float, listed: float | None, waits: bool
) -> None:
    for hpas_first in (True, False):
        state = ClusterState(0.0, SETTLE)
        floor = None if listed is None else T0 + listed
        if hpas_first:
            state.replace_hpas({}, None, listed_from=floor, now=NOW)
        state.replace_targets([target_view(written(last - 100, last))], NOW)
        changed = set()
        if not hpas_first:
            changed = state.replace_hpas({}, None, listed_from=floor, now=NOW)
        assert settles_at(state) == (NOW + SETTLE if waits else NOW), hpas_first
        assert changed == (set() if waits or hpas_first else {KEY})


def test_without_managed_fields_it_waits() -> None:
    state = ClusterState(0.0, SETTLE)
    state.replace_hpas({}, None, listed_from=T0 + 3600, now=NOW)
    state.replace_targets([target_view(deployment())], NOW)
    assert settles_at(state) == NOW + SETTLE


def test_another_namespaces_hpa_list_proves_nothing() -> None:
    state = ClusterState(0.0, SETTLE)
    state.replace_hpas({}, "other", listed_from=T0 + 3600, now=NOW)
    state.replace_targets([target_view(written(0, 0))], NOW)
    assert settles_at(state) == NOW + SETTLE
    state.replace_hpas({}, "ns", listed_from=T0 + 3600, now=NOW)
    assert settles_at(state) == NOW
