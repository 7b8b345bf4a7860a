"""The echo of the service's own replica write costs no reconcile; anything more does."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from nodecount_scaler.control.sinks import Hooks, Sinks
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey, TargetView
from testkit.builders import deployment, target_view

KEY = TargetKey("ns", "d")


def sinks_with(own_write: bool) -> tuple[Sinks, list[TargetKey]]:
    changed: list[TargetKey] = []

    def record(keys: Iterable[TargetKey]) -> None:
        changed.extend(keys)

    def seen(view: TargetView) -> bool:
        return own_write

    state = ClusterState(30)
    state.upsert_target(target_view(deployment(replicas=3)), 0.0)
    return Sinks(state, lambda: 0.0, Hooks(targets_changed=record, target_seen=seen)), changed


CASES = [
    pytest.param(True, {}, [], id="own-write-echo"),
    pytest.param(False, {}, [KEY], id="someone-elses-write"),
    pytest.param(True, {"nodecount-scaler.io/min-replicas": "2"}, [KEY], id="echo-plus-an-edit"),
]


@pytest.mark.parametrize(("own_write", "annotations", "expected"), CASES)
def test_reconcile_wanted(
    own_write: bool, annotations: dict[str, str], expected: list[TargetKey]
) -> None:
    """replicas 3 -> 4: queued unless it is our write's echo and nothing else moved."""
    sinks, changed = sinks_with(own_write)
    view = target_view(deployment(replicas=4, annotations=annotations))
    sinks.targets(None).upsert(KEY, view)
    assert changed == expected
    assert sinks.state.targets[KEY].view.replicas == 4
