"""values.schema.json: a misspelt key or a value of the wrong type fails `helm template` with
an error that names it; the namespace guard refuses to take over a system namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helm import helm
from tests.manifests import CHART, NAMESPACE

BAD = [
    ("typo at the top", {"replica": 3}, "additional properties 'replica' not allowed"),
    (
        "typo inside an object",
        {"serviceMonitor": {"enabeld": True}},
        "additional properties 'enabeld' not allowed",
    ),
    ("wrong type", {"replicas": "three"}, "at '/replicas': got string, want integer"),
    (
        "bool as string",
        {"podDeletionCost": "false"},
        "at '/podDeletionCost': got string, want boolean",
    ),
    ("not a namespace name", {"namespaces": ["Team_A"]}, "at '/namespaces/0'"),
    ("unknown log format", {"logFormat": "xml"}, "at '/logFormat'"),
    ("negative grace", {"unreadyGrace": -1}, "at '/unreadyGrace'"),
    ("extra arg not a flag", {"extraArgs": ["run"]}, "at '/extraArgs/0'"),
    ("reader without a name", {"metricsReaders": [{"kind": "User"}]}, "at '/metricsReaders/0'"),
]


def template(values: dict[str, object], tmp_path: Path, namespace: str = NAMESPACE) -> str:
    """`helm template`'s stderr; the command must fail."""
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    result = helm("template", "x", str(CHART), "-n", namespace, "-f", str(path), check=False)
    assert result.returncode != 0, f"accepted: {values}"
    return result.stderr


@pytest.mark.parametrize(("values", "named"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_values_fail_naming_the_key(
    values: dict[str, object], named: str, tmp_path: Path
) -> None:
    """The schema's error names the key (and what is wrong with it)."""
    assert named in template(values, tmp_path)


@pytest.mark.parametrize("namespace", ["default", "kube-system"])
def test_creating_a_system_namespace_is_refused(namespace: str, tmp_path: Path) -> None:
    """namespace.create would relabel and own the namespace: the chart fails and says how."""
    error = template({}, tmp_path, namespace)
    assert f'the namespace "{namespace}"' in error
    assert "--namespace nodecount-scaler --create-namespace" in error
