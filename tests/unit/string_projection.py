"""A minimal Projection for watch tests: objects carry a name and a `data` string."""

from __future__ import annotations

from nodecount_scaler.kube.watch import Projection


def _key(obj: object) -> str:
    assert isinstance(obj, dict)
    name = obj["metadata"]["name"]
    if not isinstance(name, str):
        raise TypeError("metadata.name is not a string")
    return name


def _view(obj: object) -> str | None:
    """The object's `data` string; an empty string is an object the service does not track."""
    assert isinstance(obj, dict)
    data = obj["data"]
    if not isinstance(data, str):
        raise TypeError("data is not a string")
    return data or None


PROJECTION: Projection[str, str] = Projection(_key, _view)
