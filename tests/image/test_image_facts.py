"""What the built image is, read from the image itself (its config, and its filesystem
through `podman image mount`): user, entrypoint, ports, labels, what is installed and what
is not, and its size against a budget."""

from __future__ import annotations

import base64
import csv
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from packaging.utils import canonicalize_name

from devcluster.container import inspect, podman
from nodecount_scaler import __version__
from tests.dockerfile import VENV
from tests.manifests import REPO
from tests.unit.test_lockfiles_match_pyproject import pins

# Decimal megabytes, as podman reports sizes. Measured 197.1 MB (109 MB of it the Debian
# base); the budget leaves room for a dependency's next releases, not for a new one.
IMAGE_BUDGET_MB: Final = 225
SITE: Final = f"{VENV.lstrip('/')}/lib/python3.11/site-packages"
# Names a compiler, linker or build driver goes by; none may be on the image.
COMPILERS: Final = ("cc", "gcc", "c++", "g++", "cpp", "clang", "tcc", "ld", "as", "make")
# Installers and build backends: the build stage's, kept out of the runtime stage.
BUILD_MODULES: Final = ("pip", "setuptools", "pkg_resources", "wheel", "hatchling", "flit_core")


@pytest.fixture(scope="module")
def config(image: str) -> dict[str, Any]:
    found: dict[str, Any] = inspect("image", image)
    return found


@pytest.fixture(scope="module")
def rootfs(image: str) -> Iterator[Path]:
    """The image's filesystem, mounted read-only on the host."""
    path = Path(podman("image", "mount", image).stdout.strip())
    yield path
    podman("image", "unmount", image, check=False)


def run_in(image: str, entrypoint: str, *args: str) -> str:
    """Run the image with another entrypoint, as the Deployment does: read-only, no
    capabilities, as its user."""
    flags = ("--rm", "--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL", "--network=none")
    return podman("run", *flags, "--entrypoint", entrypoint, image, *args).stdout


def test_runs_as_the_deployments_user(config: dict[str, Any], deployment: dict[str, Any]) -> None:
    """USER is numeric and non-root (runAsNonRoot can check it without /etc/passwd), and is
    the uid:gid the Deployment's securityContext runs it as."""
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert config["Config"]["User"] == f"{pod['runAsUser']}:{pod['runAsGroup']}" == "65532:65532"


def test_entrypoint_cmd_ports_and_environment(
    config: dict[str, Any], deployment: dict[str, Any]
) -> None:
    """Exec form (the service is PID 1 and gets SIGTERM itself); the exposed ports are the
    Deployment's container ports; the venv first on PATH, no bytecode writes."""
    image = config["Config"]
    assert image["Entrypoint"] == ["nodecount-scaler"]
    assert image["Cmd"] == ["run"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    declared = {f"{p['containerPort']}/{p['protocol'].lower()}" for p in container["ports"]}
    assert set(image["ExposedPorts"]) == declared == {"8081/tcp", "8443/tcp"}
    env = dict(e.split("=", 1) for e in image["Env"])
    assert env["PATH"].startswith(f"{VENV}/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_labels_name_the_version_and_the_base(config: dict[str, Any]) -> None:
    labels = config["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.title"] == "nodecount-scaler"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    base = labels["org.opencontainers.image.base.name"]
    assert base.startswith("localhost/nodecount-scaler-base:"), base
    assert inspect("image", base)["Id"], base


def test_version_from_the_image(image: str) -> None:
    """`nodecount-scaler --version` in the image, read-only, as 65532: the package version,
    which is also the image's tag."""
    assert image.endswith(f":{__version__}")
    assert (
        run_in(image, "nodecount-scaler", "--version").strip() == f"nodecount-scaler {__version__}"
    )


def test_the_deployments_image_is_this_image(image: str, deployment: dict[str, Any]) -> None:
    """The shipped Deployment's image reference (a short name) resolves to the built image."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert inspect("image", container["image"])["Id"] == inspect("image", image)["Id"]


def test_no_compiler_on_the_image(rootfs: Path, config: dict[str, Any]) -> None:
    path = dict(e.split("=", 1) for e in config["Config"]["Env"])["PATH"].split(":")
    found = [
        f"{d}/{name}"
        for d in path
        if (rootfs / d.lstrip("/")).is_dir()
        for name in COMPILERS
        if (rootfs / d.lstrip("/") / name).exists()
    ]
    found += [str(p) for p in (rootfs / "usr/lib/gcc").glob("*/*/cc1*")]
    assert not found


def test_no_installer_or_build_backend_in_either_interpreter(image: str) -> None:
    """Neither the venv's interpreter nor the base's system one can import pip, setuptools,
    wheel or a build backend: the build stage's are not in the runtime stage."""
    probe = f"import importlib.util as u; print([m for m in {BUILD_MODULES!r} if u.find_spec(m)])"
    for python in (f"{VENV}/bin/python", "/usr/bin/python3"):
        assert run_in(image, python, "-c", probe).strip() == "[]", python


def wheel_record(tmp: Path) -> list[tuple[str, str]]:
    """(path, sha256) of every file of the wheel built from this checkout, as the build stage
    builds it (pip wheel --no-deps --no-build-isolation, the build lock's hatchling)."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--wheel-dir", str(tmp), str(REPO)),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = csv.reader(archive.read(record).decode().splitlines())
        return [(path, digest) for path, digest, _size in rows if digest]


def test_every_file_of_the_wheel_is_installed(rootfs: Path, tmp_path: Path) -> None:
    """Each file of the wheel is in the venv, byte for byte (RECORD's hashes), with its
    compiled .pyc beside it (the root filesystem is read-only at run time)."""
    record = wheel_record(tmp_path)
    assert len(record) > 50, record
    wrong = []
    for path, digest in record:
        algorithm, _, expected = digest.partition("=")
        installed = rootfs / SITE / path
        if not installed.is_file():
            wrong.append(f"{path}: missing")
            continue
        actual = base64.urlsafe_b64encode(hashlib.new(algorithm, installed.read_bytes()).digest())
        if actual.rstrip(b"=").decode() != expected:
            wrong.append(f"{path}: differs")
        if path.endswith(".py"):
            cached = installed.parent / "__pycache__" / f"{installed.stem}.cpython-311.pyc"
            if not cached.is_file():
                wrong.append(f"{path}: no .pyc")
    assert not wrong


def test_installed_distributions_are_the_runtime_lock(rootfs: Path) -> None:
    """The venv holds exactly the runtime lock's pins, and the package itself: nothing more
    (no installer), nothing less (the wheel went in with --no-deps)."""
    installed = {}
    for info in (rootfs / SITE).glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        installed[canonicalize_name(name)] = version
    expected = {**pins("runtime.txt"), "nodecount-scaler": __version__}
    assert installed == expected


def test_size_under_budget(config: dict[str, Any], rootfs: Path, figures: list[str]) -> None:
    """The image's size against IMAGE_BUDGET_MB, printed with where it goes."""
    size = config["Size"] / 1e6
    base = inspect("image", config["Config"]["Labels"]["org.opencontainers.image.base.name"])
    base_mb = float(base["Size"]) / 1e6  # type: ignore[arg-type]
    packages = sorted(
        ((sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e6, d.name)
         for d in (rootfs / SITE).iterdir() if d.is_dir() and not d.name.endswith("-info")),
        reverse=True,
    )  # fmt: skip
    top = ", ".join(f"{name} {mb:.1f}" for mb, name in packages[:6])
    figures.append(
        f"image {size:.1f} MB (budget {IMAGE_BUDGET_MB} MB): base {base_mb:.1f} MB, "
        f"{VENV} {size - base_mb:.1f} MB (largest, MB: {top}); upstream python:3.11-slim: "
        "not knowable here (no image registry reachable)"
    )
    assert size <= IMAGE_BUDGET_MB, figures[-1]
