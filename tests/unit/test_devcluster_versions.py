"""hack/versions.env holds every supported Kubernetes release with its etcd and kwok; devcluster
(Python) and hack/build-control-plane.sh (bash) resolve a requested release the same way."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devcluster.versions import (
    BUILD_SCRIPT,
    VERSION_ENV,
    Versions,
    read_pins,
    read_versions,
    resolve,
    supported,
)

PINS = """\
KUBERNETES_1_35=v1.35.4
ETCD_1_35=v3.6.16
KWOK_1_35=v0.8.0
KUBERNETES_1_34=v1.34.4
ETCD_1_34=v3.6.15
KWOK_1_34=v0.8.0
KUBERNETES_VERSION=v1.35.4
"""


@pytest.fixture
def pins(tmp_path: Path) -> Path:
    path = tmp_path / "versions.env"
    path.write_text(PINS)
    return path


def test_supported_oldest_first_with_their_pins(pins: Path) -> None:
    assert supported(pins) == {
        "1.34": Versions("v1.34.4", "v3.6.15", "v0.8.0"),
        "1.35": Versions("v1.35.4", "v3.6.16", "v0.8.0"),
    }


@pytest.mark.parametrize("requested", ["v1.34.4", "1.34.4", "1.34", "v1.34", " 1.34 "])
def test_a_pinned_release_or_its_minor_resolves(pins: Path, requested: str) -> None:
    assert resolve(requested, pins) == Versions("v1.34.4", "v3.6.15", "v0.8.0")


@pytest.mark.parametrize("requested", ["v1.34.3", "1.33", "v1.36.0", "latest", "", "v2.34"])
def test_anything_else_names_the_pinned_releases(pins: Path, requested: str) -> None:
    with pytest.raises(
        ValueError, match=r"not pinned in versions.env \(pinned: v1.34.4, v1.35.4\)"
    ):
        resolve(requested, pins)


def test_a_release_without_its_etcd_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "versions.env"
    path.write_text("KUBERNETES_1_34=v1.34.4\nKWOK_1_34=v0.8.0\n")
    with pytest.raises(ValueError, match="KUBERNETES_1_34 has no ETCD_1_34 beside it"):
        supported(path)


def test_default_then_environment_then_argument(
    pins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VERSION_ENV, raising=False)
    assert read_versions(pins).kubernetes == "v1.35.4"
    monkeypatch.setenv(VERSION_ENV, "1.34")
    assert read_versions(pins).kubernetes == "v1.34.4"
    assert read_versions(pins, requested="v1.35.4").kubernetes == "v1.35.4"


def test_the_repository_default_is_a_pinned_release() -> None:
    default = read_pins()["KUBERNETES_VERSION"]
    assert default in {v.kubernetes for v in supported().values()}


def test_the_cache_key_tells_each_release_apart() -> None:
    keys = {v.cache_key for v in supported().values()}
    assert len(keys) == len(supported()) >= 2


@pytest.mark.parametrize(
    ("requested", "says"),
    [
        ("v1.33.9", "is not pinned in hack/versions.env (pinned: {pinned})"),
        ("1.99", "is not pinned in hack/versions.env (pinned: {pinned})"),
        ("v1.34.0", "is not pinned in hack/versions.env (pinned: {pinned})"),
        ("nonsense", "not a Kubernetes version: 'nonsense'"),
    ],
)
def test_build_script_refuses_what_is_not_pinned(requested: str, says: str) -> None:
    """Before it builds, locks or downloads anything: exit 2, and the pinned releases."""
    pinned = " ".join(v.kubernetes for v in supported().values())
    env = {k: v for k, v in os.environ.items() if k != VERSION_ENV}
    done = subprocess.run(["bash", str(BUILD_SCRIPT), requested], capture_output=True,
                          text=True, timeout=30, check=False, env=env)  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert says.format(pinned=pinned) in done.stderr
