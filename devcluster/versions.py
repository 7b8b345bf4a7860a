"""Pinned control-plane versions (hack/versions.env) and where their binaries are cached."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_ENV = REPO_ROOT / "hack" / "versions.env"
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    kwok: str

    @property
    def cache_key(self) -> str:
        """Same key as hack/build-control-plane.sh."""
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}"


def read_pins(path: Path = VERSIONS_ENV) -> dict[str, str]:
    """The KEY=VALUE lines of hack/versions.env (comments and blanks ignored)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def read_versions(path: Path = VERSIONS_ENV) -> Versions:
    """The control plane's pinned versions from hack/versions.env."""
    values = read_pins(path)
    try:
        return Versions(
            kubernetes=values["KUBERNETES_VERSION"],
            etcd=values["ETCD_VERSION"],
            kwok=values["KWOK_VERSION"],
        )
    except KeyError as e:
        raise ValueError(f"{path}: missing {e.args[0]}") from None


def cache_root() -> Path:
    """``$NODECOUNT_SCALER_CACHE`` or ``~/.cache/nodecount-scaler`` (as the build script)."""
    env = os.environ.get("NODECOUNT_SCALER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nodecount-scaler"


def control_plane_dir(versions: Versions | None = None) -> Path:
    v = versions or read_versions()
    return cache_root() / "control-plane" / v.cache_key


def bin_dir(versions: Versions | None = None) -> Path:
    return control_plane_dir(versions) / "bin"


def kwok_stages_dir(versions: Versions | None = None) -> Path:
    return control_plane_dir(versions) / "kwok-stages"


def tools_dir() -> Path:
    """Where hack/build-tools.sh keeps what it builds and fetches."""
    return cache_root() / "tools"


def prometheus_operator_crds_dir(pins: dict[str, str] | None = None) -> Path:
    """The ServiceMonitor and PrometheusRule CRDs hack/build-tools.sh fetched."""
    version = (pins or read_pins())["PROMETHEUS_OPERATOR_VERSION"]
    return tools_dir() / f"prometheus-operator-{version}" / "crds"
