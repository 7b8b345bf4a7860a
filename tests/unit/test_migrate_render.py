"""migrate-cpa's output: kubectl commands or merge patches, the differences as comments."""

from __future__ import annotations

import json
import shlex

import pytest

from nodecount_scaler.migrate import OutputFormat, render
from nodecount_scaler.model.cpa_migration import CpaFlags, Migration, translate
from tests.unit.test_cpa_migration_translate import README_LADDER, README_LINEAR


def readme(mode: str, target: str = "deployment/coredns") -> Migration:
    """CPA's README ConfigMap for `mode`, for `target` in kube-system."""
    params = README_LINEAR if mode == "linear" else README_LADDER
    migration, errors = translate({mode: params}, CpaFlags(target=target, namespace="kube-system"))
    assert errors == ()
    assert migration is not None
    return migration


def commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


KUBECTL = [
    (
        "linear",
        [
            "kubectl annotate deployment coredns --namespace kube-system --overwrite \\",
            "  nodecount-scaler.io/enabled=true \\",
            "  nodecount-scaler.io/min-replicas=1 \\",
            "  nodecount-scaler.io/max-replicas=100 \\",
            "  nodecount-scaler.io/nodes-per-replica=1 \\",
            "  nodecount-scaler.io/cores-per-replica=2 \\",
            "  nodecount-scaler.io/prevent-single-point-failure=true \\",
            "  nodecount-scaler.io/include-unschedulable-nodes=true",
        ],
    ),
    (
        "ladder",
        [
            "kubectl annotate deployment coredns --namespace kube-system --overwrite \\",
            "  nodecount-scaler.io/enabled=true \\",
            "  'nodecount-scaler.io/nodes-to-replicas=[[1,1],[2,2]]' \\",
            "  'nodecount-scaler.io/cores-to-replicas="
            "[[1,1],[64,3],[512,5],[1024,7],[2048,10],[4096,15]]'",
        ],
    ),
]


@pytest.mark.parametrize(("mode", "expected"), KUBECTL, ids=[m for m, _ in KUBECTL])
def test_kubectl_commands_for_readme_configmaps(mode: str, expected: list[str]) -> None:
    """One `kubectl annotate` per target, every value shell-quoted where it needs to be."""
    assert commands(render(readme(mode), OutputFormat.KUBECTL, "README")) == expected


def test_kubectl_command_is_valid_shell() -> None:
    """The command splits back into the annotations exactly (quoting survives a shell)."""
    migration = readme("ladder")
    text = " ".join(
        line.rstrip("\\") for line in commands(render(migration, OutputFormat.KUBECTL, "x"))
    )
    words = shlex.split(text)
    assert words[:7] == [
        "kubectl",
        "annotate",
        "deployment",
        "coredns",
        "--namespace",
        "kube-system",
        "--overwrite",
    ]
    assert words[7:] == [f"{k}={v}" for k, v in migration.annotations]


@pytest.mark.parametrize("mode", ["linear", "ladder"])
def test_merge_patch_for_readme_configmaps(mode: str) -> None:
    """The patch format: one JSON merge patch per target, after a comment naming it."""
    migration = readme(mode, target="deployment/coredns,deployment/kube-dns")
    text = render(migration, OutputFormat.PATCH, "README")
    blocks = text.split("\n\n")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        "# deployment kube-system/coredns",
        "# deployment kube-system/kube-dns",
    ]
    for block in blocks:
        patch = json.loads("\n".join(block.splitlines()[1:]))
        assert patch == {"metadata": {"annotations": dict(migration.annotations)}}


@pytest.mark.parametrize("output", list(OutputFormat))
def test_comments_carry_source_warning_and_every_difference(output: OutputFormat) -> None:
    """Before any command: the source, the advice to stop CPA, each difference whole."""
    migration = readme("linear")
    text = render(migration, output, "ConfigMap kube-system/dns-autoscaler")
    header = text.split("\n\n")[0].splitlines()
    assert all(line.startswith("#") for line in header)
    unwrapped = " ".join(line.lstrip("#").strip() for line in header)
    assert unwrapped.startswith(
        "nodecount-scaler annotations translated from cluster-proportional-autoscaler "
        "source: ConfigMap kube-system/dns-autoscaler (linear mode, parameters from "
        "ConfigMap data)"
    )
    assert "Stop cluster-proportional-autoscaler before applying this" in unwrapped
    for difference in migration.differences:
        assert f"- {difference}" in unwrapped
    assert all(len(line) <= 100 for line in header)


@pytest.mark.parametrize("output", list(OutputFormat))
def test_each_target_by_its_kind(output: OutputFormat) -> None:
    """A StatefulSet, ReplicaSet or ReplicationController target is annotated as what it is."""
    migration = readme(
        "ladder", target="statefulset/web,ReplicaSets/cache,replicationcontroller/rc"
    )
    text = render(migration, output, "x")
    if output is OutputFormat.KUBECTL:
        heads = [line for line in commands(text) if line.startswith("kubectl")]
        assert heads == [
            f"kubectl annotate {kind} {name} --namespace kube-system --overwrite \\"
            for kind, name in (
                ("statefulset", "web"),
                ("replicaset", "cache"),
                ("replicationcontroller", "rc"),
            )
        ]
    else:
        blocks = text.split("\n\n")[1:]
        assert [b.splitlines()[0] for b in blocks] == [
            "# statefulset kube-system/web",
            "# replicaset kube-system/cache",
            "# replicationcontroller kube-system/rc",
        ]
