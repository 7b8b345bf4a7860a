"""The Dockerfile's structure, read as data (the image itself is built and checked by the
image tier, tests/image)."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.dockerfile import (
    BASE_IMAGE,
    REPO,
    VENV,
    Stage,
    env_pairs,
    read_global_args,
    read_stages,
)

BUILD_VENV = "/opt/build"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages()


def copied_sources(stage: Stage) -> set[str]:
    """The build-context paths a stage COPYs (not those from another stage)."""
    return {
        source
        for args in stage.all("COPY")
        if not args.startswith("--from=")
        for source in shlex.split(args)[:-1]
    }


def test_two_stages_on_one_base_argument_defaulting_to_upstream(stages: list[Stage]) -> None:
    """Both stages on ${BASE} (the venv's interpreter is the base's), whose default is the
    upstream python:3.11-slim; the runtime stage names it in a label."""
    assert read_global_args() == {"BASE": BASE_IMAGE}
    assert [s.image for s in stages] == ["${BASE}", "${BASE}"]
    assert stages[0].name
    assert "BASE" in stages[1].all("ARG")


def test_build_tools_and_runtime_dependencies_come_from_the_locks(stages: list[Stage]) -> None:
    """hatchling into a build venv of its own, from the build lock; the runtime lock into
    /opt/venv, made without pip and installed into by the build venv's pip; both
    --require-hashes."""
    build = stages[0]
    assert {"requirements/build.txt", "requirements/runtime.txt"} <= copied_sources(build)
    runs = " ".join(build.all("RUN"))
    assert f"python3 -m venv {BUILD_VENV}" in runs
    assert f"{BUILD_VENV}/bin/pip install --require-hashes -r requirements/build.txt" in runs
    assert f"python3 -m venv --without-pip {VENV}" in runs
    into_venv = f"{BUILD_VENV}/bin/pip --python {VENV}/bin/python install"
    assert f"{into_venv} --require-hashes -r requirements/runtime.txt" in runs


def test_build_stage_builds_and_installs_only_our_wheel(stages: list[Stage]) -> None:
    """The package sources go in after the dependencies (their layer stays cached); the
    wheel is built without an isolated build environment and installed with --no-deps."""
    build = stages[0]
    assert {"pyproject.toml", "README.md", "nodecount_scaler/"} <= copied_sources(build)
    (wheel,) = [r for r in build.all("RUN") if "pip wheel" in r]
    assert "--no-deps --no-build-isolation --wheel-dir /wheels" in wheel
    assert f"--python {VENV}/bin/python install --no-deps /wheels/*.whl" in wheel


def test_runtime_stage_takes_only_the_venv(stages: list[Stage]) -> None:
    """The runtime stage copies /opt/venv from the build stage and installs nothing: no pip,
    no package manager, no compiler step."""
    build, runtime = stages
    assert runtime.all("COPY") == [f"--from={build.name} {VENV} {VENV}"]
    runs = " ".join(runtime.all("RUN"))
    for word in ("pip", "apt-get", "apt ", "gcc", "build-essential", "python3-dev"):
        assert word not in runs


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
    """The image says what it is, which version, and which base it was built on."""
    labels = " ".join(stages[1].all("LABEL"))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.base.name="${BASE}"' in labels


def test_build_script_hashes_every_copied_source(stages: list[Stage]) -> None:
    """hack/build-image.sh skips the build when the hash of its inputs is unchanged: every
    file the Dockerfile copies from the context must be among them."""
    script = (REPO / "hack" / "build-image.sh").read_text()
    match = re.search(r"find (.*?) -type f", script, re.DOTALL)
    assert match, "no `find ... -type f` in hack/build-image.sh"
    hashed = {word.rstrip("/") for word in match[1].replace("\\\n", " ").split()}
    copied = {source.rstrip("/") for stage in stages for source in copied_sources(stage)}
    assert copied <= hashed
    assert {"Dockerfile", ".dockerignore"} <= hashed


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    """Tests, tooling, manifests, VCS data, caches and venvs never reach the build context."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    expected = {".git", "tests", "bench", "devcluster", "hack", "manifests", ".venv"}
    expected |= {"**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    assert expected <= ignored
    kept = {"pyproject.toml", "README.md", "nodecount_scaler", "requirements"}
    assert not kept & ignored
