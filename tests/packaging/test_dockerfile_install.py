"""The Dockerfile's install steps replayed without a container engine, against the locks.

The build stage's COPY sources are copied into a scratch context; hatchling is installed
from requirements/build.txt with --require-hashes and the wheel is built with it, as the
build stage does; a fresh venv gets the runtime lock (hash-checked) and then the wheel
alone (--no-deps), as the runtime stage does; then the installed entry point is run.
Packages come from the package index.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.dockerfile import REPO, Stage, read_stages


def run(*argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert result.returncode == 0, (
        f"{shlex.join(str(a) for a in argv)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages()


@pytest.fixture(scope="module")
def project_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    version = project["version"]
    assert isinstance(version, str)
    return version


def copy_build_context(stage: Stage, context: Path) -> None:
    """Only what the build stage copies, so a file the build needs but the COPY misses fails."""
    for args in stage.all("COPY"):
        *sources, _dest = shlex.split(args)
        for source in sources:
            origin = REPO / source
            target = context / source
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, target)


def pip(venv: Path, *args: str | Path) -> None:
    run(venv / "bin" / "python", "-m", "pip", "install", "--no-cache-dir", *args)


@pytest.fixture(scope="module")
def installed_venv(stages: list[Stage], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replays the Dockerfile: COPY → build lock → pip wheel → venv → runtime lock → wheel."""
    root = tmp_path_factory.mktemp("image")
    context = root / "src"
    copy_build_context(stages[0], context)

    builder = root / "build-venv"
    run(sys.executable, "-m", "venv", builder)
    pip(builder, "--require-hashes", "-r", context / "requirements" / "build.txt")
    wheels = root / "wheels"
    run(
        builder / "bin" / "python",
        *("-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-build-isolation"),
        *("--wheel-dir", wheels, context),
    )
    built = sorted(wheels.glob("*.whl"))
    assert len(built) == 1, built

    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip(venv, "--require-hashes", "-r", context / "requirements" / "runtime.txt")
    pip(venv, "--no-deps", built[0])
    return venv


def test_installed_entry_point_prints_the_version(
    installed_venv: Path, project_version: str
) -> None:
    """`nodecount-scaler --version` from the installed wheel names the package version."""
    result = run(installed_venv / "bin" / "nodecount-scaler", "--version", timeout=60)
    assert project_version in result.stdout + result.stderr


def test_installed_run_help_names_the_deployment_flags(installed_venv: Path) -> None:
    """`nodecount-scaler run --help` documents the flags the Deployment and probes rely on."""
    result = run(installed_venv / "bin" / "nodecount-scaler", "run", "--help", timeout=60)
    assert "--leader-elect" in result.stdout
    assert "--health-addr" in result.stdout
    assert "--metrics-secure" in result.stdout


def test_runtime_lock_holds_every_dependency_of_the_wheel(installed_venv: Path) -> None:
    """The wheel went in with --no-deps: `pip check` proves the lock left nothing out."""
    result = run(installed_venv / "bin" / "python", "-m", "pip", "check", timeout=60)
    assert "No broken requirements found" in result.stdout
