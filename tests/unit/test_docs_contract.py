"""The docs are the truth: their flag, metric, Event and limit tables equal what the code has.

Each table is read under its `## heading` in the file it lives in: flags, metrics and Events in
docs/operations.md, limits in docs/security.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from nodecount_scaler import limits, metrics
from nodecount_scaler.cli import OPTIONS, shown_default
from nodecount_scaler.control import events
from nodecount_scaler.control.events import EVENT_REASONS
from nodecount_scaler.model import nodes

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
SECURITY = (ROOT / "docs" / "security.md").read_text()


def section(document: str, heading: str) -> str:
    """The text under a `## heading` of a document, up to the next `## ` heading."""
    parts = document.split(f"\n## {heading}\n", 1)
    assert len(parts) == 2, f"no '## {heading}' heading"
    return parts[1].split("\n## ", 1)[0]


def table(heading: str, *, raw: bool = False) -> list[list[str]]:
    """The rows of the first table under a `## heading` (cells without backticks unless raw)."""
    section_text = section(OPERATIONS, heading)
    rows = [line for line in section_text.splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"no table under '## {heading}'"
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    return cells if raw else [[c.replace("`", "") for c in row] for row in cells]


def test_flag_table_matches_the_parser() -> None:
    """Every option once, with the subcommands that take it and the default --help shows."""
    documented = {(row[0], frozenset(row[1].split(", "))): row[2] for row in table("Command line")}
    assert set(documented) == {(o.flag, o.commands) for o in OPTIONS}
    for option in OPTIONS:
        assert documented[option.flag, option.commands] == shown_default(option), option.flag


def test_metric_table_matches_the_registry() -> None:
    """Every exported metric once, with exactly its labels."""
    documented = {row[0]: row[1] for row in table("Metrics")}
    exported = metrics.catalog()
    assert set(documented) == set(exported)
    for name, labels in exported.items():
        shown = () if documented[name] == "-" else tuple(documented[name].split(", "))
        assert shown == labels, name


def test_documented_label_values_are_emitted_by_the_code() -> None:
    """Result values the metrics table names in backticks occur as literals in the code."""
    source = "\n".join(p.read_text() for p in (ROOT / "nodecount_scaler").rglob("*.py"))
    for name, labels, meaning in table("Metrics", raw=True):
        if "result" not in labels:
            continue
        values = re.findall(r"`([a-z_]+)`", meaning)
        assert values, f"{name}: list its result values in backticks"
        for value in values:
            assert f'"{value}"' in source, (name, value)


def test_event_table_matches_the_reasons() -> None:
    """Every Event reason the service can write, and no other."""
    assert {row[1] for row in table("Events")} == set(EVENT_REASONS)


def test_limit_table_names_every_limit() -> None:
    """Every bound of limits.py in the Limits table, and no name there the code lacks."""
    limits_text = section(SECURITY, "Limits").split("\n#", 1)[0]
    documented = {
        name
        for line in limits_text.splitlines()
        if line.startswith("|")
        for name in re.findall(r"`([A-Z][A-Z_]+)`", line.split("|")[2])
    }
    bounds = {name for name in vars(limits) if name.isupper()}
    assert bounds <= documented, bounds - documented
    known = bounds | set(vars(events)) | set(vars(nodes))
    assert documented <= known, documented - known


def test_nothing_points_outside_the_repository() -> None:
    """No path outside the repository, and no section numbers of a document users lack."""
    found = subprocess.run(
        [
            "git",
            "grep",
            "-n",
            "-e",
            "shared/",
            "-e",
            "eligibility.md section",
            "--",
            ".",
            ":!.ci",
            ":!tests/unit/test_docs_contract.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""
