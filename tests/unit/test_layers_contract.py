"""The import-linter layers contract names every module of the package, so none can slip
between layers unchecked."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nodecount_scaler"


def test_every_module_is_in_a_layer() -> None:
    """Each top-level module and subpackage of nodecount_scaler appears in one layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    named = [m.strip() for layer in layers for m in layer.split("|")]
    modules = {
        f"nodecount_scaler.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert sorted(named) == sorted(set(named)), "a module is in two layers"
    assert modules == set(named)
