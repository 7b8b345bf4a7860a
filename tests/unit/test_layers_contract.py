"""The import-linter layers contracts name every module they layer: the package's top-level
modules and subpackages, and the modules inside control/ and kube/, so none can slip between
layers unchecked."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nodecount_scaler"
CONTRACTS: list[dict[str, Any]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "importlinter"
]["contracts"]


def layered(contract: dict[str, Any]) -> list[str]:
    return [m.strip() for layer in contract["layers"] for m in layer.split("|")]


def test_every_module_is_in_a_layer() -> None:
    """Each top-level module and subpackage of nodecount_scaler appears in one layer."""
    (top,) = [c for c in CONTRACTS if c["type"] == "layers" and "containers" not in c]
    named = layered(top)
    modules = {
        f"nodecount_scaler.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert sorted(named) == sorted(set(named)), "a module is in two layers"
    assert modules == set(named)


@pytest.mark.parametrize("package", ["control", "kube"])
def test_every_module_of_a_layered_package_is_in_a_layer(package: str) -> None:
    """control/ and kube/ are layered inside, module by module."""
    (inner,) = [c for c in CONTRACTS if c.get("containers") == [f"nodecount_scaler.{package}"]]
    named = layered(inner)
    modules = {p.stem for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__"}
    assert sorted(named) == sorted(set(named)), "a module is in two layers"
    assert modules == set(named)
