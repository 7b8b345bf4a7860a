"""One version: nodecount_scaler/__init__.py is where it is written, and every other place
that names it agrees (the package metadata reads it; the image's tag and label come from
hack/build-image.sh, which reads it; the image tier checks those on the built image)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final

import yaml

from nodecount_scaler import __version__
from tests.dockerfile import read_stages

REPO: Final = Path(__file__).resolve().parents[2]
SEMVER: Final = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?")
# A released section of CHANGELOG.md: "## [1.2.3] - 2026-12-07".
RELEASED: Final = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.M)


def load(path: str) -> Any:
    return yaml.safe_load((REPO / path).read_text())


def test_the_version_is_semantic() -> None:
    assert SEMVER.fullmatch(__version__), __version__


def test_the_package_metadata_reads_it_from_the_module() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "nodecount_scaler/__init__.py"


def test_the_build_scripts_read_it_from_the_module() -> None:
    """hack/build-image.sh and hack/release.sh take the version from the module's line."""
    line = f'__version__ = "{__version__}"'
    assert line in (REPO / "nodecount_scaler" / "__init__.py").read_text().splitlines()
    for script in ("build-image.sh", "release.sh"):
        assert "nodecount_scaler/__init__.py" in (REPO / "hack" / script).read_text(), script


def test_the_dockerfile_default_label() -> None:
    (arg,) = [a for a in read_stages()[1].all("ARG") if a.startswith("VERSION=")]
    assert arg == f"VERSION={__version__}"


def test_the_chart_version_and_app_version() -> None:
    chart = load("charts/nodecount-scaler/Chart.yaml")
    assert chart["version"] == __version__
    assert chart["appVersion"] == __version__


def test_the_manifests_image_tag() -> None:
    kustomization = load("manifests/base/kustomization.yaml")
    (image,) = kustomization["images"]
    assert image["newTag"] == __version__
    (container,) = load("manifests/base/deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"nodecount-scaler:{__version__}"


def test_the_changelog_has_a_dated_section_for_it() -> None:
    """Keep a Changelog's form: an Unreleased section first, then released versions, newest
    first, each with its date; the newest is this version."""
    text = (REPO / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    headings = re.findall(r"^## .*$", text, re.M)
    assert headings[0] == "## [Unreleased]"
    released = [m["version"] for m in RELEASED.finditer(text)]
    assert len(released) == len(headings) - 1, headings
    assert released[0] == __version__
    assert all(SEMVER.fullmatch(v) for v in released), released
