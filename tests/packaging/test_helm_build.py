"""hack/build-tools.sh builds helm from its Go module at the version pinned in
hack/versions.env (or finds it cached outside the checkout), and the binary runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devcluster.versions import REPO_ROOT, cache_root, read_pins


def test_build_tools_yields_the_pinned_helm() -> None:
    """`helm version` of the built binary reports exactly the pinned version."""
    pinned = read_pins()["HELM_VERSION"]
    # Cold, this compiles helm (minutes); warm it only checks the cached binary.
    build = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "build-tools.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    bin_dir = Path(build.stdout.strip().splitlines()[-1])
    assert bin_dir.is_relative_to(cache_root()), "helm must be cached outside the checkout"
    helm = bin_dir / "helm"
    shown = subprocess.run(
        [str(helm), "version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert f'Version:"{pinned}"' in shown, shown
    assert 'GitTreeState:"clean"' in shown, shown
