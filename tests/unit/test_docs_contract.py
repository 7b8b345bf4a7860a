"""The docs are the truth: their flag, metric, Event and limit tables equal what the code has.

Each table is read under its `## heading` in the file it lives in: the annotations in the
README, flags, metrics and Events in docs/operations.md, limits in docs/security.md, workload
kinds in docs/annotations.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from nodecount_scaler import limits, metrics
from nodecount_scaler.cli import OPTIONS, shown_default
from nodecount_scaler.control.events import EVENT_REASONS
from nodecount_scaler.model.keys import REGISTRY
from nodecount_scaler.model.kinds import BUILTIN, CustomWorkload

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
SECURITY = (ROOT / "docs" / "security.md").read_text()
ANNOTATIONS = (ROOT / "docs" / "annotations.md").read_text()
README = (ROOT / "README.md").read_text()


def section(document: str, heading: str) -> str:
    """The text under a `## heading` of a document, up to the next `## ` heading."""
    parts = document.split(f"\n## {heading}\n", 1)
    assert len(parts) == 2, f"no '## {heading}' heading"
    return parts[1].split("\n## ", 1)[0]


def table(heading: str, *, raw: bool = False, document: str = OPERATIONS) -> list[list[str]]:
    """The rows of the first table under a `## heading` (cells without backticks unless raw)."""
    section_text = section(document, heading)
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
    """Every bound of limits.py in the Limits table, and no name there that limits.py lacks
    (every bound lives there)."""
    limits_text = section(SECURITY, "Limits").split("\n#", 1)[0]
    documented = {
        name
        for line in limits_text.splitlines()
        if line.startswith("|")
        for name in re.findall(r"`([A-Z][A-Z_]+)`", line.split("|")[2])
    }
    bounds = {name for name in vars(limits) if name.isupper()}
    assert bounds <= documented, bounds - documented
    assert documented <= bounds, documented - bounds


def test_annotation_table_is_the_registry() -> None:
    """The README's annotation table: one row per record of model/keys.py, in its order,
    with the record's own lines for what a value may be and what absence means."""
    rows = table("The annotations", raw=True, document=README)
    assert rows == [[f"`{a.key}`", a.value, a.default] for a in REGISTRY]


def test_workload_kind_table_has_every_builtin_kind() -> None:
    """A row per built-in kind (model/kinds.py BUILTIN), watched by default or by --kind as
    its record says, and the row for custom resources."""
    rows = {row[0]: row[1] for row in table("Workload kinds", document=ANNOTATIONS)}
    for kind in BUILTIN:
        watched = rows[f"{kind.kind} ({kind.api_version})"]
        assert watched == ("by default" if kind.by_default else f"--kind {kind.kind}"), kind.kind
    assert set(rows) == {f"{k.kind} ({k.api_version})" for k in BUILTIN} | {"custom resource"}


def test_custom_resource_rbac_snippet_is_the_kind_record_rules() -> None:
    """The rules docs/annotations.md tells to add for a custom resource are those its record
    asks for (WorkloadKind.rbac_rules), shown for Argo Rollouts."""
    after = section(ANNOTATIONS, "Workload kinds").split("For a custom resource, add these", 1)[1]
    snippet = yaml.safe_load(after.split("```yaml\n", 1)[1].split("```", 1)[0])
    rollouts = CustomWorkload("argoproj.io", "v1alpha1", "rollouts", ("spec", "template"))
    assert snippet == rollouts.with_kind("Rollout").rbac_rules()


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
