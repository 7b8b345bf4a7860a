"""Reading decoded Kubernetes JSON without trusting its shape.

The API server validates what it stores, but the bytes reach this process through
proxies, mocks and future API versions; a projection must survive any JSON value at any
field. These readers answer with a value of the expected type or raise `ShapeError`, the
one exception a projection catches and turns into a typed error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

EMPTY: Final[Mapping[str, Any]] = {}


class ShapeError(ValueError):
    """A field holds a JSON value of the wrong type."""

    def __init__(self, path: str, expected: str, got: object) -> None:
        super().__init__(f"{path}: expected {expected}, got {json_type(got)}")
        self.path = path


@dataclass(frozen=True, slots=True)
class ProjectionError:
    """An object that is not a well-formed Kubernetes object of the expected kind: it is
    skipped (and counted), never stored. `reason` is a short stable word for metrics."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def mapping(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """An optional object field; absent or null reads as empty."""
    value = parent.get(key)
    if value is None:
        return EMPTY
    if not isinstance(value, Mapping):
        raise ShapeError(path, "an object", value)
    return value


def nested(obj: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any]:
    """The object at a path of optional object fields ("spec", "template"); empty where one
    is absent."""
    found = obj
    for depth, step in enumerate(path):
        found = mapping(found, step, ".".join(path[: depth + 1]))
    return found


def items(parent: Mapping[str, Any], key: str, path: str) -> Sequence[Mapping[str, Any]]:
    """An optional array-of-objects field; absent or null reads as empty."""
    value = parent.get(key)
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ShapeError(path, "an array", value)
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ShapeError(f"{path}[{index}]", "an object", item)
    return value


def string(parent: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
    """An optional string field; absent or null reads as `default`."""
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ShapeError(path, "a string", value)
    return value


def string_map(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
    """An optional map[string]string field (labels, annotations, nodeSelector)."""
    value = mapping(parent, key, path)
    for k, v in value.items():
        if not isinstance(v, str):
            raise ShapeError(f"{path}[{k!r:.40}]", "a string", v)
    return value


def integer(parent: Mapping[str, Any], key: str, path: str, default: int) -> int:
    """An optional integer field (JSON numbers without a fraction; booleans are not)."""
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        raise ShapeError(path, "an integer", value)
    return value


def boolean(parent: Mapping[str, Any], key: str, path: str) -> bool:
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ShapeError(path, "a boolean", value)
    return value


def object_name(obj: object, kind: str) -> tuple[str, str] | ProjectionError:
    """(namespace, name) of an API object of `kind`, or why it is not one.

    Objects in a LIST response carry no `kind`; watch events and single GETs do. Either
    way, a `kind` that is present must be the expected one: a proxy that mixes streams up
    must not get a Pod stored as a Node.
    """
    if not isinstance(obj, Mapping):
        return ProjectionError("not-an-object", f"expected an object, got {json_type(obj)}")
    found = obj.get("kind")
    if found is not None and found != kind:
        return ProjectionError("wrong-kind", f"expected kind {kind}, got {found!r:.60}")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return ProjectionError("no-metadata", "metadata is not an object")
    name = metadata.get("name")
    namespace = metadata.get("namespace", "")
    if not isinstance(name, str) or not name:
        return ProjectionError("no-name", "metadata.name is not a non-empty string")
    if not isinstance(namespace, str):
        return ProjectionError("no-name", "metadata.namespace is not a string")
    return namespace, name
