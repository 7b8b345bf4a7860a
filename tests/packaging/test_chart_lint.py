"""`helm lint --strict` passes the chart with its defaults and with every option turned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helm import helm
from tests.manifests import CHART, CHART_EVERY_OPTION, NAMESPACE


@pytest.mark.parametrize("values", [{}, CHART_EVERY_OPTION], ids=["defaults", "every-option"])
def test_chart_lints_strict(values: dict[str, object], tmp_path: Path) -> None:
    """No error and no warning (strict makes a warning fail)."""
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    result = helm("lint", "--strict", str(CHART), "-n", NAMESPACE, "-f", str(path), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
