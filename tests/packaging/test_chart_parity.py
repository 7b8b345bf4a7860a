"""The chart renders the kustomize objects: by default the base, with `namespaces` the
namespaced overlay, with `podDeletionCost: false` the no-pod-deletion-cost overlay (the
labels the chart adds for Helm set aside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.manifests import (
    BASE,
    HELM_LABELS,
    NAMESPACED,
    NO_POD_DELETION_COST,
    Chart,
    Obj,
    chart,
    render,
    without_helm_labels,
)

PAIRS = {
    "base": (chart(), BASE),
    "namespaced": (chart(namespaces=["team-a", "team-b"]), NAMESPACED),
    "no-pod-deletion-cost": (chart(podDeletionCost=False), NO_POD_DELETION_COST),
}

Key = tuple[str, str, str | None]


def cel_spaced_alike(value: Any, key: str = "") -> Any:
    """`value` with the white space of every CEL `expression` folded to single spaces.

    kustomize re-emits a folded scalar that holds a more-indented line with one blank line
    more (gopkg.in/yaml.v3's emitter, https://github.com/google/yamlfmt/issues/69), so three
    of the base's expressions come out of `kubectl kustomize` with an extra newline that the
    files, and the chart, do not have. White space means nothing to CEL."""
    if isinstance(value, dict):
        return {k: cel_spaced_alike(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [cel_spaced_alike(v, key) for v in value]
    if isinstance(value, str) and key == "expression":
        return " ".join(value.split())
    return value


def by_key(docs: list[Obj]) -> dict[Key, Obj]:
    docs = cel_spaced_alike(docs)
    keyed = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d for d in docs}
    assert len(keyed) == len(docs), "two objects share a kind, name and namespace"
    return keyed


@pytest.mark.parametrize(("chart_values", "directory"), PAIRS.values(), ids=list(PAIRS))
def test_chart_renders_the_kustomize_objects(chart_values: Chart, directory: Path) -> None:
    """The same objects, field for field, once Helm's labels are set aside."""
    ours = by_key(without_helm_labels(render(chart_values)))
    theirs = by_key(render(directory))
    assert sorted(ours, key=str) == sorted(theirs, key=str)
    for key, obj in theirs.items():
        assert ours[key] == obj, key


def test_chart_labels_every_object_for_helm() -> None:
    """Each object carries the base's name label and Helm's recommended labels; the pods and
    every selector only the name label (a Deployment's selector cannot change later)."""
    docs = render(chart())
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "nodecount-scaler", doc["kind"]
        assert set(labels) >= HELM_LABELS, doc["kind"]
        assert labels["app.kubernetes.io/instance"] == "nodecount-scaler"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "nodecount-scaler"}
    }
    assert deployment["spec"]["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": "nodecount-scaler"
    }
