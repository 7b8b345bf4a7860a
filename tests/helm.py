"""helm, as hack/build-tools.sh builds it from its Go module (cached outside the checkout),
and the chart rendered with it."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from devcluster.versions import REPO_ROOT


@functools.cache
def build_tools() -> Path:
    """Run hack/build-tools.sh (cold: compiles helm for minutes; warm: checks the cache) and
    return the bin directory it prints last."""
    build = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "build-tools.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"hack/build-tools.sh failed:\n{build.stderr[-3000:]}", pytrace=False)
    return Path(build.stdout.strip().splitlines()[-1])


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The cached helm with `args`; with `check`, a failure fails the test with its stderr."""
    result = subprocess.run(
        [str(build_tools() / "helm"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
    return result
