"""The hash-pinned locks in requirements/ still satisfy pyproject.toml (run hack/lock.sh).

Read as text, without resolving anything: every requirement of pyproject.toml has a pin
that its specifier admits, with hashes, and the dev lock pins what the image ships.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Final

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO: Final = Path(__file__).resolve().parents[2]
LOCKS: Final = REPO / "requirements"
PYPROJECT: Final = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    """Package name (canonical) -> pinned version, from one lock file."""
    found: dict[str, str] = {}
    for line in (LOCKS / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


def requirements(*groups: str) -> list[Requirement]:
    """The project's own requirements: dependencies, then the named extras (recursively)."""
    project = PYPROJECT["project"]
    texts = list(project["dependencies"])
    pending = list(groups)
    while pending:
        for text in project["optional-dependencies"][pending.pop()]:
            req = Requirement(text)
            if canonicalize_name(req.name) == canonicalize_name(project["name"]):
                pending.extend(req.extras)
            else:
                texts.append(text)
    return [Requirement(t) for t in texts]


BUILD: Final = [Requirement(t) for t in PYPROJECT["build-system"]["requires"]]
CASES: Final = {
    "runtime": ("runtime.txt", requirements()),
    "dev": ("dev.txt", [*requirements("dev"), *BUILD]),
    "build": ("build.txt", BUILD),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_requirement_has_a_pin_it_admits(case: str) -> None:
    """A dependency added to or tightened in pyproject.toml without hack/lock.sh fails here."""
    lock, reqs = CASES[case]
    pinned = pins(lock)
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} is not in requirements/{lock}"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, outside {req}"
        )


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt", "build.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    """pip --require-hashes refuses a lock with an unhashed pin."""
    text = (LOCKS / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]


@pytest.mark.parametrize("other", ["runtime.txt", "build.txt"])
def test_dev_lock_pins_what_the_image_ships(other: str) -> None:
    """Tests run against the very versions the Dockerfile installs."""
    dev = pins("dev.txt")
    shipped = pins(other)
    assert shipped
    assert {name: dev.get(name) for name in shipped} == shipped
