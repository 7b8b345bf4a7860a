"""Targets past limits.MAX_TARGET_OBJECT_BYTES are read as skeletons: shown and refused
(InvalidTemplate), never decoded whole, in a list page and on the watch; templates past
limits.MAX_TEMPLATE_TERMS are refused before their terms are built."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson
import pytest

from nodecount_scaler import limits
from nodecount_scaler.kube.resources import TARGET_PROJECTION
from nodecount_scaler.kube.watch import Rejections, decode_list_page, parse_watch_line, project
from nodecount_scaler.model.placement import TemplateError, placement_from_pod_spec
from nodecount_scaler.model.targets import TargetView
from testkit.builders import deployment, toleration

# About the 1.4 MB of issue 21's Deployments: a valid template of 15,000 tolerations.
HUGE_TOLERATIONS = 15_000


def huge(name: str, *, enabled: bool = True) -> dict[str, Any]:
    tolerations = [
        toleration(f"example.com/key-{i:05d}", "Equal", f"value-{i:05d}", "NoSchedule")
        for i in range(HUGE_TOLERATIONS)
    ]
    return deployment(name, enabled=enabled, pod_spec={"tolerations": tolerations})


def page(*objects: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"kind": "DeploymentList", "metadata": {"resourceVersion": "7"}, "items": objects}
    )


def test_a_huge_target_in_a_list_is_shown_and_refused() -> None:
    body = huge("big")
    size = len(orjson.dumps(body))
    assert size > 1_300_000
    listed = decode_list_page(page(body, deployment("small")), TARGET_PROJECTION, Rejections("d"))
    assert listed.count == 2
    assert listed.resource_version == "7"
    big = next(v for k, v in listed.items.items() if k.name == "big")
    small = next(v for k, v in listed.items.items() if k.name == "small")
    assert small.valid
    assert not big.valid
    assert big.placement is None
    assert big.config is not None  # its annotations were read
    assert big.uid == "uid-ns-big"
    assert big.template_error is not None
    assert f"{size:,} bytes of JSON" in big.template_error
    assert f"{limits.MAX_TARGET_OBJECT_BYTES:,}" in big.template_error


def test_a_huge_workload_that_has_not_opted_in_is_ignored() -> None:
    listed = decode_list_page(
        page(huge("other", enabled=False)), TARGET_PROJECTION, Rejections("d")
    )
    assert listed.items == {}
    assert listed.skipped == 0
    assert listed.count == 1


def test_a_huge_watch_event_is_a_skeleton_and_costs_its_bytes_only() -> None:
    line = orjson.dumps({"type": "MODIFIED", "object": huge("big")})
    tracemalloc.start()
    try:
        event = parse_watch_line(line, limits.MAX_TARGET_OBJECT_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert event.size > limits.MAX_TARGET_OBJECT_BYTES
    assert "template" not in event.object["spec"]
    # Decoded whole, the dicts of 15,000 tolerations take over 10 MB.
    assert peak < 256 * 1024, peak
    projected = project(TARGET_PROJECTION, event.object, with_view=True, size=event.size)
    assert isinstance(projected, tuple)
    view = projected[1]
    assert isinstance(view, TargetView)
    assert view.key.name == "big"
    assert view.replicas == 1
    assert view.template_error is not None


def test_a_watch_line_within_the_bound_is_decoded_whole() -> None:
    line = orjson.dumps({"type": "ADDED", "object": deployment("small")})
    event = parse_watch_line(line, limits.MAX_TARGET_OBJECT_BYTES)
    assert event.size == 0
    assert event.object["spec"]["template"]


@pytest.mark.parametrize("extra", [0, 1])
def test_template_terms_past_the_bound_are_refused(extra: int) -> None:
    count = limits.MAX_TEMPLATE_TERMS + extra
    # Half tolerations, half nodeSelector pairs: they count together.
    half = count // 2
    spec: dict[str, Any] = {
        "tolerations": [toleration(f"k{i}") for i in range(count - half)],
        "nodeSelector": {f"example.com/k{i}": "v" for i in range(half)},
    }
    if not extra:
        assert len(placement_from_pod_spec(spec).tolerations) == count - half
        return
    with pytest.raises(TemplateError, match=f"over the {limits.MAX_TEMPLATE_TERMS}"):
        placement_from_pod_spec(spec)
