"""migrate-daemonset's output: YAML whose comments never change the objects, a merge patch
that turns the DaemonSet's manifest into the Deployment, where the DaemonSet is read from."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodecount_scaler.migrate import SourceError
from nodecount_scaler.migrate_daemonset import (
    DaemonSetOutput,
    MigrateDaemonSetOptions,
    marked_yaml,
    merge_patch_between,
    pick_daemonset,
    render_patch,
    render_yaml,
    run_migrate_daemonset,
)
from nodecount_scaler.model.daemonset_migration import (
    DaemonSetOptions,
    Mark,
    Marked,
    translate_daemonset,
)

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-exporter
  namespace: monitoring
  labels: {app.kubernetes.io/name: node-exporter}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: node-exporter}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 10%}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: node-exporter}
    spec:
      hostNetwork: true
      hostPID: true
      priorityClassName: system-node-critical
      tolerations:
      - {operator: Exists}
      containers:
      - name: node-exporter
        image: quay.io/prometheus/node-exporter:v1.9.1
        args: ["--path.rootfs=/host"]
        ports: [{name: metrics, containerPort: 9100, hostPort: 9100}]
"""


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def translated(text: str = DAEMONSET, **options: Any) -> tuple[dict[str, Any], Any]:
    ds = yaml.safe_load(text)
    migration, errors = translate_daemonset(ds, DaemonSetOptions(**options))
    assert migration is not None, errors
    return ds, migration


@pytest.mark.parametrize("pdb", [None, "1"])
def test_yaml_reads_back_as_the_objects(pdb: str | None) -> None:
    """Comments and flow-style values change nothing: safe_load gives the objects back."""
    _ds, migration = translated(pdb_max_unavailable=pdb)
    documents = [d for d in yaml.safe_load_all(render_yaml(migration, "ds.yaml")) if d]
    expected = [migration.deployment.obj] + ([migration.pdb.obj] if pdb else [])
    assert documents == expected


def test_each_mark_is_a_comment_above_its_value() -> None:
    """Every marked value has its reason on the lines just above it, at its indentation."""
    _ds, migration = translated()
    lines = marked_yaml(migration.deployment)
    for mark in migration.deployment.marks:
        first_words = mark.comment.split()[:4]
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(
            "# " + " ".join(first_words)))  # fmt: skip
        following = next(line for line in lines[at:] if not line.lstrip().startswith("#"))
        assert following.index(following.lstrip()) == lines[at].index("#")


def test_a_token_in_the_input_cannot_collide() -> None:
    """A value that looks like the renderer's placeholder is left alone."""
    marked = Marked({"a": "nodecount-scaler-mark-0-0", "b": {"c": 1}}, (Mark(("b",), "why b"),))
    lines = marked_yaml(marked)
    assert yaml.safe_load("\n".join(lines)) == marked.obj
    assert lines == ["a: nodecount-scaler-mark-0-0", "# why b", "b: {c: 1}"]


def test_merge_patch_turns_the_manifest_into_the_deployment() -> None:
    ds, migration = translated()
    patch = merge_patch_between(ds, migration.deployment.obj)
    assert apply_merge_patch(ds, patch) == migration.deployment.obj
    assert patch["kind"] == "Deployment"
    assert patch["spec"]["updateStrategy"] is None


def test_patch_output_lists_the_reasons_and_parses() -> None:
    ds, migration = translated(pdb_max_unavailable="10%")
    text = render_patch(migration, ds, "ds.yaml")
    assert "# - spec.template.spec.tolerations[1]: added by the DaemonSet controller" in text
    body = text.split("into the Deployment\n", 1)[1].split("\n# PodDisruptionBudget\n")
    assert apply_merge_patch(ds, json.loads(body[0])) == migration.deployment.obj
    assert json.loads(body[1]) == migration.pdb.obj


def test_pick_one_daemonset() -> None:
    objects = list(
        yaml.safe_load_all(DAEMONSET + "---\n" + DAEMONSET.replace("node-exporter", "other"))
    )
    assert pick_daemonset(objects, "monitoring/other", "f")["metadata"]["name"] == "other"
    with pytest.raises(SourceError, match="several DaemonSets"):
        pick_daemonset(objects, None, "f")
    with pytest.raises(SourceError, match="holds no DaemonSet x"):
        pick_daemonset(objects, "x", "f")


async def run(options: MigrateDaemonSetOptions) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_migrate_daemonset(options, out, err)
    return code, out.getvalue(), err.getvalue()


async def test_exit_codes(tmp_path: Path) -> None:
    """0 translated; 1 not translatable (each problem named); 2 not readable."""
    good = tmp_path / "ds.yaml"
    good.write_text(DAEMONSET)
    code, out, _ = await run(MigrateDaemonSetOptions(file=str(good)))
    assert code == 0
    assert out.startswith("# nodecount-scaler: the Deployment that replaces DaemonSet monitoring/")
    code, out, _ = await run(MigrateDaemonSetOptions(file=str(good), output=DaemonSetOutput.PATCH))
    assert code == 0
    assert "JSON merge patch" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(DAEMONSET.replace("      containers:\n", "      x:\n"))
    code, _, err = await run(MigrateDaemonSetOptions(file=str(bad)))
    assert (code, err.count("error: ")) == (1, 1)
    assert "spec.template.spec.containers" in err
    code, _, err = await run(MigrateDaemonSetOptions(file=str(tmp_path / "missing.yaml")))
    assert code == 2
    assert "cannot read" in err
    code, _, err = await run(MigrateDaemonSetOptions())
    assert code == 2
    assert "--daemonset" in err
