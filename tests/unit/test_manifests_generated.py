"""The manifests that follow the workload kinds are the generator's (nodecount_scaler/
manifests.py): the committed kustomize and chart files equal what the kind table gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodecount_scaler import manifests
from nodecount_scaler.model.kinds import BUILTIN
from tests.unit.test_layers_contract import ROOT

RENDERED = manifests.rendered()


@pytest.mark.parametrize("path", sorted(RENDERED))
def test_committed_file_is_the_generated_one(path: str) -> None:
    """Run `python -m nodecount_scaler.manifests` after changing model/kinds.py."""
    assert (ROOT / path).read_text() == RENDERED[path], f"regenerate {path}"


def test_every_builtin_kind_has_its_grant_policy_and_events() -> None:
    """Each row of the table is granted, guarded by its own policy in both flavours, and a
    valid subject of the service's Events."""
    for flavour in manifests.FLAVOURS:
        rbac = RENDERED[f"{flavour.directory}/rbac-targets.yaml"]
        policies = RENDERED[f"{flavour.directory}/policies/replicas.yaml"]
        for kind in BUILTIN:
            assert f'"{kind.resource}"' in rbac, kind.kind
            assert f"  name: {kind.policy}\n" in policies, kind.kind
            assert f'"{kind.resource}", "{kind.resource}/scale"' in policies, kind.kind
    assert all(k.kind in manifests.event_kinds()[k.api_version] for k in BUILTIN), (
        manifests.event_kinds()
    )


def test_check_names_a_stale_file_and_writing_mends_it(tmp_path: Path) -> None:
    """--check exits 1 and names what differs; a run without it writes the files."""
    for path in RENDERED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("stale\n")
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 1
    assert manifests.main(["--root", str(tmp_path)]) == 0
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 0
