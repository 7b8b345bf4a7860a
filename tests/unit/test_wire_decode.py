"""kube/wire.py: decoding only what the projection reads gives exactly what decoding the
whole object gives, for any JSON value at any field of a Node, in a list page and on the
watch; and list pages split into raw items keep their metadata."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings

from nodecount_scaler.kube import wire
from nodecount_scaler.kube.resources import NODE_PROJECTION
from nodecount_scaler.kube.watch import (
    Projection,
    Rejections,
    StreamError,
    decode_list_page,
    parse_watch_line,
)
from nodecount_scaler.model.nodes import project_node
from nodecount_scaler.model.objects import ProjectionError
from testkit.builders import node
from tests.unit.test_projection_total import mutations, rich_node

WHOLE: Projection[Any, Any] = Projection(NODE_PROJECTION.key, NODE_PROJECTION.view)


def _encoded(obj: Any) -> bytes | None:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers past 64 bits: not what the API server sends
        return None


def _same(a: object, b: object) -> bool:
    if isinstance(a, ProjectionError) and isinstance(b, ProjectionError):
        return a.reason == b.reason
    return a == b


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(rich_node))
def test_node_fields_project_as_the_whole_node(obj: Any) -> None:
    raw = _encoded(obj)
    if raw is None:
        return
    whole = project_node(orjson.loads(raw))
    assert _same(project_node(wire.node_fields(raw)), whole)
    line = b'{"type":"MODIFIED","object":' + raw + b"}"
    assert _event(line, typed=True) == _event(line, typed=False)


def _event(line: bytes, *, typed: bool) -> object:
    """What the watch makes of a line: the projection of its object, or the error."""
    try:
        event = parse_watch_line(line, decoder=wire.node_event if typed else None)
    except StreamError as exc:
        return type(exc)
    found = project_node(event.object)
    return (event.type, found.reason if isinstance(found, ProjectionError) else found)


def test_a_node_list_page_decodes_as_the_whole_page() -> None:
    nodes = [node(f"n{i}", labels={"pool": "a"}) for i in range(3)]
    nodes += [node("deleting", deleting=True), node("cores", cpu="4", unschedulable=True)]
    nodes.append({"metadata": "not an object"})
    page = orjson.dumps({"metadata": {"resourceVersion": "9", "continue": "tok"}, "items": nodes})
    split = decode_list_page(page, NODE_PROJECTION, Rejections("nodes"))
    whole = decode_list_page(page, WHOLE, Rejections("nodes"))
    assert split == whole
    assert (split.resource_version, split.continue_token, split.count) == ("9", "tok", 6)
    assert split.skipped == 1
    assert split.items["deleting"].deleting
    assert split.items["cores"].cpu == 4
    assert split.items["cores"].unschedulable


def test_an_error_event_on_a_node_watch_is_read_whole() -> None:
    line = b'{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}}'
    kind, obj = wire.node_event(line)
    assert kind == "ERROR"
    assert obj == {"kind": "Status", "code": 410, "message": "too old"}
