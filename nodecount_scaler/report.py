"""Target statuses for people and programs: the JSON of `/status` and `plan --output json`,
and `plan`'s table. The only place a TargetStatus becomes untyped data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from nodecount_scaler.model.status import Change, TargetStatus

TABLE_HEADER = (
    "NAMESPACE",
    "NAME",
    "ELIGIBLE",
    "CURRENT",
    "DESIRED",
    "MODE",
    "NOT COUNTED",
    "FINDINGS",
    "ERRORS",
)


def _change_json(change: Change | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {
        "from": change.from_replicas,
        "to": change.to_replicas,
        "eligible": change.eligible,
        "reason": change.reason,
        "at": change.at,
    }


def status_json(status: TargetStatus) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespace": status.key.namespace,
        "kind": status.key.kind,
        "name": status.key.name,
        "valid": status.valid,
        "eligible": status.eligible,
        "current": status.current,
        "desired": status.desired,
        "findings": [{"kind": str(f.kind), "message": f.message} for f in status.findings],
        "errors": list(status.errors),
        "autoscalers": list(status.autoscalers),
        "last_change": _change_json(status.last_change),
        "last_error": status.last_error,
    }
    out["mode"] = status.mode
    out["topology"] = list(status.topology)
    out["domains"] = status.domains
    out["cores"] = None if status.cores is None else str(status.cores)
    out["explanation"] = status.explanation
    if status.excluded is not None:
        out["excluded"] = dict(status.excluded)
    return out


def mode_cell(status: TargetStatus) -> str:
    """`linear(nodes)`, `ladder(nodes+cores)`, `linear(topology.kubernetes.io/zone)`."""
    if not status.mode:
        return "-"
    mode, _, bases = status.mode.partition(" ")
    if status.topology:
        bases = bases.replace("nodes", "+".join(status.topology))
    return f"{mode}({bases})"


def _row(status: TargetStatus) -> tuple[str, ...]:
    problems = list(status.errors)
    if status.autoscalers:
        problems.append(f"autoscaler: {', '.join(status.autoscalers)}")
    key = status.key
    return (
        key.namespace,
        key.name if key.kind == "Deployment" else f"{key.kind.lower()}/{key.name}",
        "-" if status.eligible is None else str(status.eligible),
        str(status.current),
        "-" if status.desired is None else str(status.desired),
        mode_cell(status),
        ",".join(f"{rule}={n}" for rule, n in status.excluded or ()) or "-",
        ",".join(f.kind for f in status.findings) or "-",
        "; ".join(problems) or "-",
    )


def render_table(statuses: Iterable[TargetStatus], out: TextIO) -> None:
    rows: list[Sequence[str]] = [TABLE_HEADER, *(_row(s) for s in statuses)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
