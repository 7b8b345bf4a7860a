"""Make sure the pinned control-plane binaries exist; build them only when they do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devcluster.versions import (
    BUILD_SCRIPT,
    Versions,
    bin_dir,
    kwok_stages_dir,
    read_versions,
)

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
REQUIRED_STAGES = ("node-initialize.yaml", "node-heartbeat-with-lease.yaml", "pod-ready.yaml")


class BuildError(RuntimeError):
    pass


def expected_version_text(component: str, versions: Versions) -> str:
    """A substring that ``<component> --version`` prints for the pinned version."""
    if component == "etcd":
        return f"etcd Version: {versions.etcd.removeprefix('v')}"
    if component == "kwok":
        return f"kwok version {versions.kwok}"
    return f"Kubernetes {versions.kubernetes}"


def binary_version(path: Path) -> str | None:
    """Output of ``<binary> --version``, or None when it cannot run."""
    if not path.is_file():
        return None
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout + out.stderr


def missing_binaries(versions: Versions | None = None, directory: Path | None = None) -> list[str]:
    """Components whose binary is absent or reports another version (plus kwok stages)."""
    v = versions or read_versions()
    d = directory or bin_dir(v)
    missing = [
        c for c in COMPONENTS if expected_version_text(c, v) not in (binary_version(d / c) or "")
    ]
    stages = kwok_stages_dir(v) if directory is None else directory.parent / "kwok-stages"
    if any(not (stages / s).is_file() for s in REQUIRED_STAGES):
        missing.append("kwok-stages")
    return missing


def ensure_binaries(
    versions: Versions | None = None, *, force: bool = False, quiet: bool = False
) -> Path:
    """Return the bin dir holding the binaries of ``versions`` (default: read_versions()),
    running hack/build-control-plane.sh first when one is missing or reports another
    version (the script skips components already built, and holds a lock per version, so
    concurrent callers never build one version twice). The build's output goes to stderr
    unless ``quiet``."""
    v = versions or read_versions()
    target = bin_dir(v)
    if not force and not missing_binaries(v):
        return target
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), v.kubernetes],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or "").splitlines()[-30:]) if quiet else ""
        raise BuildError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}\n{tail}")
    if not quiet:
        sys.stderr.write(proc.stdout)
    lines = proc.stdout.strip().splitlines()
    built = Path(lines[-1]) if lines else target
    still_missing = missing_binaries(v, built)
    if still_missing:
        raise BuildError(f"after the build, still missing or mismatched: {still_missing}")
    return built
