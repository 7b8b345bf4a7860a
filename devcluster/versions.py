"""Pinned control-plane versions (hack/versions.env) and where their binaries are cached."""

from __future__ import annotations

import os
import re
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


VERSION_ENV = "NODECOUNT_SCALER_KUBERNETES_VERSION"
_VERSION = re.compile(r"v?1\.(\d+)(\.\d+)?")


def supported(path: Path = VERSIONS_ENV) -> dict[str, Versions]:
    """Every supported release pinned in hack/versions.env, by minor (``"1.34"``), oldest
    first: ``KUBERNETES_1_NN`` with ``ETCD_1_NN`` and ``KWOK_1_NN`` beside it."""
    values = read_pins(path)
    found: dict[int, Versions] = {}
    for key, kubernetes in values.items():
        if not key.startswith("KUBERNETES_1_"):
            continue
        minor = key.removeprefix("KUBERNETES_1_")
        try:
            found[int(minor)] = Versions(
                kubernetes=kubernetes,
                etcd=values[f"ETCD_1_{minor}"],
                kwok=values[f"KWOK_1_{minor}"],
            )
        except KeyError as e:
            raise ValueError(f"{path}: {key} has no {e.args[0]} beside it") from None
    if not found:
        raise ValueError(f"{path}: no KUBERNETES_1_NN pin")
    return {f"1.{minor}": found[minor] for minor in sorted(found)}


def resolve(requested: str, path: Path = VERSIONS_ENV) -> Versions:
    """The pins of ``requested``: a pinned patch release (``v1.34.4``) or a minor
    (``1.34``, ``v1.34``: its pinned patch). ValueError names what is pinned otherwise."""
    pinned = supported(path)
    text = requested.strip()
    match = _VERSION.fullmatch(text)
    found = pinned.get(f"1.{match.group(1)}") if match else None
    if match and match.group(2) and found and found.kubernetes != "v" + text.removeprefix("v"):
        found = None  # another patch of a pinned minor
    if found is None:
        names = ", ".join(v.kubernetes for v in pinned.values())
        raise ValueError(f"Kubernetes {requested!r} is not pinned in {path.name} (pinned: {names})")
    return found


def read_versions(path: Path = VERSIONS_ENV, requested: str | None = None) -> Versions:
    """The control plane's versions: ``requested``, else ``$NODECOUNT_SCALER_KUBERNETES_VERSION``,
    else the default (``KUBERNETES_VERSION``), with the etcd and kwok pinned beside it."""
    wanted = requested or os.environ.get(VERSION_ENV) or read_pins(path).get("KUBERNETES_VERSION")
    if not wanted:
        raise ValueError(f"{path}: missing KUBERNETES_VERSION")
    return resolve(wanted, path)


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
