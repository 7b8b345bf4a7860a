"""TargetProjector: the memoised projection equals project_target on every version of a
Deployment, and reuses the last view when only status or spec.replicas moved."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from nodecount_scaler.model.targets import TargetProjector, TargetView, project_target
from testkit.builders import deployment

Obj = dict[str, Any]


def with_status(obj: Obj) -> None:
    obj["status"] = {"replicas": 3, "readyReplicas": 2, "observedGeneration": 7}


def with_replicas(obj: Obj) -> None:
    obj["spec"]["replicas"] = 9


def with_annotation(obj: Obj) -> None:
    obj["metadata"]["annotations"]["nodecount-scaler.io/min-replicas"] = "2"


def with_uid(obj: Obj) -> None:
    obj["metadata"]["uid"] = "uid-recreated"


def with_template(obj: Obj) -> None:
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}


def with_bad_replicas(obj: Obj) -> None:
    obj["spec"]["replicas"] = "nine"


PERCENT = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}

CHANGES = [
    pytest.param(with_status, True, id="status-only-same-view"),
    pytest.param(with_replicas, False, id="replicas"),
    pytest.param(with_annotation, False, id="annotation"),
    pytest.param(with_uid, False, id="recreated"),
    pytest.param(with_template, False, id="template"),
    pytest.param(with_bad_replicas, False, id="malformed-replicas"),
]


@pytest.mark.parametrize("strategy", [None, PERCENT], ids=["maxSurge-0", "maxSurge-25pct"])
@pytest.mark.parametrize(("change", "same_object"), CHANGES)
def test_memo_equals_a_fresh_projection(
    change: Callable[[Obj], None], same_object: bool, strategy: Obj | None
) -> None:
    """The next version projects as project_target does; a status-only one is the very
    same view object."""
    projector = TargetProjector()
    first = deployment(replicas=3, strategy=strategy)
    before = projector(first)
    assert before == project_target(first)
    second = copy.deepcopy(first)
    change(second)
    after = projector(second)
    assert after == project_target(second)
    assert (after is before) == same_object


def test_replicas_moving_the_surge_finding_is_projected_afresh() -> None:
    """A percentage maxSurge resolves against replicas: 0 -> 4 replicas turns the
    RolloutWouldStall finding on, as a fresh projection says."""
    projector = TargetProjector()
    first = deployment(replicas=0, strategy=PERCENT)
    zero = projector(first)
    second = copy.deepcopy(first)
    second["spec"]["replicas"] = 4
    four = projector(second)
    assert isinstance(zero, TargetView)
    assert isinstance(four, TargetView)
    assert [f.kind for f in zero.findings] == []
    assert four == project_target(second)
    assert [str(f.kind) for f in four.findings] == ["RolloutWouldStall"]


def test_memo_is_bounded() -> None:
    """Past its limit the memo starts over; views stay right."""
    projector = TargetProjector(limit=3)
    for i in range(10):
        obj = deployment(f"d{i}")
        assert projector(obj) == project_target(obj)
    assert len(projector) <= 3
