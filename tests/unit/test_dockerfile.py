"""The Dockerfile: its structure, and its install steps replayed without a container engine.

The build stage's COPY sources are copied into a scratch context, the wheel is built there
with the same `pip wheel --no-deps`, installed into a fresh venv as the runtime stage does,
and the installed entry point is run. Dependencies come from the package index.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
BASE_IMAGE = "python:3.11-slim"
VENV = "/opt/venv"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]


def logical_lines(text: str) -> Iterator[str]:
    """Joins backslash continuations; comment lines vanish, even inside a continuation."""
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        yield " ".join(pending)
        pending = []
    assert not pending, "Dockerfile ends inside a line continuation"


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    image: str | None = None
    name: str | None = None
    body: list[Instruction] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            if image is not None:
                stages.append(Stage(image, name, tuple(body)))
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            image = words[0]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            body = []
            continue
        assert image is not None, f"{keyword} before the first FROM"
        body.append(Instruction(keyword, args))
    assert image is not None, "no FROM"
    stages.append(Stage(image, name, tuple(body)))
    return stages


def env_pairs(stage: Stage) -> dict[str, str]:
    """ENV in its `KEY=value ...` form (the legacy `ENV KEY value` form is not used)."""
    pairs: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {args!r}: use the KEY=value form"
            pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def project_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    version = project["version"]
    assert isinstance(version, str)
    return version


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


def test_runtime_stage_installs_the_wheel_into_a_venv_and_leaves_no_cache(
    stages: list[Stage],
) -> None:
    """The runtime stage takes only /wheels from the build stage and removes it after use."""
    build, runtime = stages
    assert runtime.all("COPY") == [f"--from={build.name} /wheels /wheels"]
    install = [r for r in runtime.all("RUN") if "pip install" in r]
    assert len(install) == 1
    assert f"python -m venv {VENV}" in install[0]
    assert f"{VENV}/bin/pip install --no-cache-dir /wheels/*.whl" in install[0]
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
    assert runtime.last("EXPOSE") == "8080"


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
    kept = {"pyproject.toml", "README.md", "nodecount_scaler"}
    assert not kept & ignored


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
def installed_venv(stages: list[Stage], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replays the Dockerfile: COPY sources → pip wheel → venv → pip install the wheel."""
    root = tmp_path_factory.mktemp("image")
    context = root / "src"
    context.mkdir()
    # Only what the build stage copies, so a file the build needs but the COPY misses fails.
    for args in stages[0].all("COPY"):
        *sources, _dest = shlex.split(args)
        for source in sources:
            origin = REPO / source
            if origin.is_dir():
                shutil.copytree(
                    origin, context / source, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(origin, context / source)

    wheels = root / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", wheels, context)
    built = sorted(wheels.glob("*.whl"))
    assert len(built) == 1, built

    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--no-cache-dir", built[0])
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
