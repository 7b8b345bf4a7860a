"""The Dockerfile's structure, read as data (the install replay is in tests/packaging)."""

from __future__ import annotations

import json
import shlex

import pytest

from tests.dockerfile import BASE_IMAGE, REPO, VENV, Stage, env_pairs, read_stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages()


def test_two_stages_on_the_pinned_python_slim_image(stages: list[Stage]) -> None:
    """A named build stage and a runtime stage, both on python:3.11-slim."""
    assert len(stages) == 2
    assert [s.image for s in stages] == [BASE_IMAGE, BASE_IMAGE]
    assert stages[0].name


def test_build_stage_builds_only_our_wheel(stages: list[Stage]) -> None:
    """The build stage copies the package sources and runs `pip wheel --no-deps`."""
    build = stages[0]
    copied = {src for args in build.all("COPY") for src in shlex.split(args)[:-1]}
    assert {"pyproject.toml", "README.md", "nodecount_scaler/"} <= copied
    wheel = [r for r in build.all("RUN") if "pip wheel" in r]
    assert len(wheel) == 1
    assert "--no-deps" in wheel[0]
    assert "--wheel-dir /wheels" in wheel[0]


def test_build_backend_comes_from_the_build_lock(stages: list[Stage]) -> None:
    """hatchling is installed with --require-hashes, and the wheel build uses it (no
    isolated build environment resolved from the index)."""
    build = stages[0]
    copied = {src for args in build.all("COPY") for src in shlex.split(args)[:-1]}
    assert {"requirements/build.txt", "requirements/runtime.txt"} <= copied
    runs = build.all("RUN")
    assert "pip install --no-cache-dir --require-hashes -r requirements/build.txt" in runs
    (wheel,) = [r for r in runs if "pip wheel" in r]
    assert "--no-build-isolation" in wheel
    assert "cp requirements/runtime.txt /wheels/requirements.txt" in wheel


def test_runtime_stage_installs_the_wheel_into_a_venv_and_leaves_no_cache(
    stages: list[Stage],
) -> None:
    """The runtime stage takes only /wheels from the build stage (our wheel and the runtime
    lock), installs the lock's hash-checked dependencies, then the wheel alone, and removes
    /wheels after use."""
    build, runtime = stages
    assert runtime.all("COPY") == [f"--from={build.name} /wheels /wheels"]
    install = [r for r in runtime.all("RUN") if "pip install" in r]
    assert len(install) == 1
    assert f"python -m venv {VENV}" in install[0]
    lock = "--require-hashes -r /wheels/requirements.txt"
    assert f"{VENV}/bin/pip install --no-cache-dir {lock}" in install[0]
    assert f"{VENV}/bin/pip install --no-cache-dir --no-deps /wheels/*.whl" in install[0]
    assert "rm -rf /wheels" in install[0]


def test_runtime_stage_has_no_compiler_or_package_manager_step(stages: list[Stage]) -> None:
    """Dependencies install from wheels: nothing is compiled, no apt caches are left."""
    runtime_runs = " ".join(stages[1].all("RUN"))
    for word in ("apt-get", "apt ", "gcc", "build-essential", "python3-dev"):
        assert word not in runtime_runs


def test_runtime_environment(stages: list[Stage]) -> None:
    """The venv comes first on PATH; no bytecode writes, unbuffered logs."""
    env = env_pairs(stages[1])
    assert env["PATH"].split(":")[0] == f"{VENV}/bin"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_runs_as_the_non_root_user_of_the_pod_security_context(stages: list[Stage]) -> None:
    """USER is numeric 65532:65532, so runAsNonRoot can verify it without /etc/passwd."""
    user = stages[1].last("USER")
    assert user == "65532:65532"
    assert all(int(part) != 0 for part in user.split(":"))


def test_entrypoint_cmd_and_port(stages: list[Stage]) -> None:
    """Exec-form ENTRYPOINT/CMD, so the process is PID 1 and receives SIGTERM itself."""
    runtime = stages[1]
    assert json.loads(runtime.last("ENTRYPOINT")) == ["nodecount-scaler"]
    assert json.loads(runtime.last("CMD")) == ["run"]
    assert runtime.last("EXPOSE") == "8081 8443"


def test_oci_labels(stages: list[Stage]) -> None:
    """The image says what it is."""
    labels = " ".join(stages[1].all("LABEL"))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    """Tests, tooling, manifests, VCS data, caches and venvs never reach the build context."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    expected = {".git", "tests", "bench", "devcluster", "hack", "manifests", ".venv"}
    expected |= {"**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    assert expected <= ignored
    kept = {"pyproject.toml", "README.md", "nodecount_scaler", "requirements"}
    assert not kept & ignored
