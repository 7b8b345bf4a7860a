"""The packaging tier: what ships, built or rendered by the real tools (pip and the package
index, kubectl kustomize). Every test in this directory gets the ``packaging`` marker."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.packaging)
