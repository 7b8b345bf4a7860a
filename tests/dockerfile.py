"""The Dockerfile read as data: stages and their instructions (no container engine).

Shared by the structure tests (unit tier) and the install replay (packaging tier).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
DOCKERFILE: Final = REPO / "Dockerfile"
# The default of the BASE argument both stages are built on (hack/build-image.sh passes its
# own base made from Debian's packages).
BASE_IMAGE: Final = "docker.io/library/python:3.11-slim"
VENV: Final = "/opt/venv"


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
        if image is None:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            continue  # a global ARG: global_args() reads those
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


def global_args(text: str) -> dict[str, str | None]:
    """The ARGs before the first FROM (usable in FROM lines), with their defaults."""
    found: dict[str, str | None] = {}
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            break
        name, sep, default = args.strip().partition("=")
        found[name] = default if sep else None
    return found


def read_global_args() -> dict[str, str | None]:
    return global_args(DOCKERFILE.read_text())


def read_stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())
