"""The API's JSON envelopes split without building what is inside them (msgspec).

A list page or a watch line is decoded into its frame only: the list's metadata and each
item as the raw bytes of its JSON (`msgspec.Raw`, a view of the response, no copy), the
event's type and its object's bytes. An object is then decoded whole (orjson) only when
its size is within the bound its resource allows; past it, only its *skeleton* is built:
kind, the metadata this service reads (name, namespace, uid, resourceVersion,
annotations, the controller flag of its owner references) and spec.replicas. msgspec
skips every other field while it parses (managedFields, a pod template of thousands of
terms), so a 1.4 MB object costs its bytes, not the tens of megabytes its dicts would.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson


class _ListMeta(msgspec.Struct, frozen=True):
    resourceVersion: Any = ""
    continue_: Any = msgspec.field(default="", name="continue")


class _List(msgspec.Struct, frozen=True):
    items: list[msgspec.Raw] = msgspec.field(default_factory=list)
    metadata: _ListMeta = _ListMeta()


class _Event(msgspec.Struct, frozen=True):
    type: Any = None
    object: msgspec.Raw = msgspec.Raw(b"null")


class _Owner(msgspec.Struct, frozen=True):
    controller: Any = None


class _Meta(msgspec.Struct, frozen=True):
    name: Any = None
    namespace: Any = None
    uid: Any = None
    resourceVersion: Any = None
    annotations: Any = None
    ownerReferences: list[_Owner] | None = None


class _Spec(msgspec.Struct, frozen=True):
    replicas: Any = None


class _Skeleton(msgspec.Struct, frozen=True):
    kind: Any = None
    metadata: _Meta | None = None
    spec: _Spec | None = None


_LIST = msgspec.json.Decoder(_List)
_EVENT = msgspec.json.Decoder(_Event)
_SKELETON = msgspec.json.Decoder(_Skeleton)


class WireError(ValueError):
    """Bytes that are not JSON, or not the frame expected."""


def split_list(raw: bytes) -> tuple[str, str, list[msgspec.Raw]]:
    """(resourceVersion, continue token, each item's raw JSON) of a list response."""
    try:
        page = _LIST.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(str(exc)) from exc
    meta = page.metadata
    return str(meta.resourceVersion or ""), str(meta.continue_ or ""), page.items


def split_event(line: bytes) -> tuple[object, msgspec.Raw]:
    """(type, the object's raw JSON) of a watch line."""
    try:
        event = _EVENT.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(str(exc)) from exc
    return event.type, event.object


def skeleton(raw: bytes | msgspec.Raw) -> dict[str, Any]:
    """The object with only kind, the metadata above and spec.replicas: what decides
    whether it is a target and names it. A field of another shape than the API's (a
    metadata that is not an object) leaves it out, so the projection says what is wrong."""
    try:
        found = _SKELETON.decode(raw)
    except msgspec.ValidationError:
        return {}
    except msgspec.DecodeError as exc:
        raise WireError(str(exc)) from exc
    obj: dict[str, Any] = {}
    if found.kind is not None:
        obj["kind"] = found.kind
    if found.metadata is not None:
        obj["metadata"] = _metadata(found.metadata)
    if found.spec is not None:
        obj["spec"] = {} if found.spec.replicas is None else {"replicas": found.spec.replicas}
    return obj


def _metadata(meta: _Meta) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("name", "namespace", "uid", "resourceVersion", "annotations"):
        value = getattr(meta, name)
        if value is not None:
            out[name] = value
    if meta.ownerReferences is not None:
        out["ownerReferences"] = [{"controller": o.controller} for o in meta.ownerReferences]
    return out


# --- Nodes: only what model/nodes.py reads ----------------------------------------------
# A Node is 5-50 KiB of JSON, most of it images, nodeInfo, addresses and managedFields that
# no rule reads. Its typed decode builds the rest only: about a tenth of the time of a
# whole decode, and none of the garbage. Fields keep any JSON value (Any), so the
# projection's shape checks see exactly what a whole decode would have given them.


class _NodeMeta(msgspec.Struct, frozen=True):
    name: Any = None
    namespace: Any = None
    resourceVersion: Any = None
    labels: Any = None
    deletionTimestamp: Any = None


class _NodeSpec(msgspec.Struct, frozen=True):
    taints: Any = None
    unschedulable: Any = None


class _NodeStatus(msgspec.Struct, frozen=True):
    conditions: Any = None
    allocatable: Any = None


class _Node(msgspec.Struct, frozen=True):
    kind: Any = None
    metadata: _NodeMeta | None = None
    spec: _NodeSpec | None = None
    status: _NodeStatus | None = None


class _NodeEvent(msgspec.Struct, frozen=True):
    type: Any = None
    object: _Node | None = None


_NODE = msgspec.json.Decoder(_Node)
_NODE_EVENT = msgspec.json.Decoder(_NodeEvent)


def node_fields(raw: bytes | msgspec.Raw) -> object:
    """A Node with only the fields eligibility reads; any other shape (not an object, a
    metadata that is not one) decoded whole, for the projection to say what is wrong."""
    try:
        return _node_dict(_NODE.decode(raw))
    except msgspec.ValidationError:
        return orjson.loads(memoryview(raw) if isinstance(raw, msgspec.Raw) else raw)
    except msgspec.DecodeError as exc:
        raise WireError(str(exc)) from exc


def node_event(line: bytes) -> tuple[object, object]:
    """(type, the Node as node_fields gives it) of a watch line of Nodes. An ERROR event's
    object is a Status, not a Node: such a line is decoded whole."""
    try:
        event = _NODE_EVENT.decode(line)
    except msgspec.ValidationError:
        event = None
    except msgspec.DecodeError as exc:
        raise WireError(str(exc)) from exc
    if event is None or event.type == "ERROR" or event.object is None:
        whole = orjson.loads(line)
        if not isinstance(whole, dict):
            raise WireError("a watch line that is not an object")
        return whole.get("type"), whole.get("object")
    return event.type, _node_dict(event.object)


def _node_dict(node: _Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node.kind is not None:
        out["kind"] = node.kind
    if node.metadata is not None:
        out["metadata"] = _fields(node.metadata, _NodeMeta.__struct_fields__)
    if node.spec is not None:
        out["spec"] = _fields(node.spec, _NodeSpec.__struct_fields__)
    if node.status is not None:
        out["status"] = _fields(node.status, _NodeStatus.__struct_fields__)
    return out


def _fields(struct: msgspec.Struct, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: value for name in names if (value := getattr(struct, name)) is not None}
