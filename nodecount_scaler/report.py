"""Target statuses for people and programs: the JSON of `/status` and `plan --output json`,
and `plan`'s table. The only place a TargetStatus becomes untyped data; and back for people:
`kubectl nodecount status`'s table of a /status answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from nodecount_scaler.model.kinds import shown_name
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
    return mode_text(status.mode, status.topology)


def mode_text(mode_and_bases: str, topology: Sequence[str]) -> str:
    """`linear(nodes)`, `ladder(nodes+cores)`, `linear(topology.kubernetes.io/zone)`."""
    if not mode_and_bases:
        return "-"
    mode, _, bases = mode_and_bases.partition(" ")
    if topology:
        bases = bases.replace("nodes", "+".join(topology))
    return f"{mode}({bases})"


def _row(status: TargetStatus) -> tuple[str, ...]:
    problems = list(status.errors)
    if status.autoscalers:
        problems.append(f"autoscaler: {', '.join(status.autoscalers)}")
    key = status.key
    return (
        key.namespace,
        shown_name(key.kind, key.name),
        "-" if status.eligible is None else str(status.eligible),
        str(status.current),
        "-" if status.desired is None else str(status.desired),
        mode_cell(status),
        ",".join(f"{rule}={n}" for rule, n in status.excluded or ()) or "-",
        ",".join(f.kind for f in status.findings) or "-",
        "; ".join(problems) or "-",
    )


def render_table(statuses: Iterable[TargetStatus], out: TextIO) -> None:
    write_columns([TABLE_HEADER, *(_row(s) for s in statuses)], out)


def write_columns(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Rows as aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


# --- `kubectl nodecount status`: the leader's /status answer, for people -------------------

# plan's first columns, then what the running service adds.
STATUS_HEADER = (*TABLE_HEADER[:6], "LAST CHANGE", "PROBLEMS")


class StatusShapeError(ValueError):
    """An answer that is not the JSON of nodecount-scaler's /status."""


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return str(value) or "-"
    return "?"


def _texts(value: object) -> list[str]:
    return [_cell(v) for v in value] if isinstance(value, list) else []


def _change_cell(change: object) -> str:
    """`3->5 at 2026-05-01T10:00:00Z`; '-' without one."""
    if not isinstance(change, Mapping):
        return "-"
    return f"{_cell(change.get('from'))}->{_cell(change.get('to'))} at {_cell(change.get('at'))}"


def _status_row(target: object) -> tuple[str, ...]:
    if not isinstance(target, Mapping):
        raise StatusShapeError(f"a target is {type(target).__name__}, not an object")
    problems = _texts(target.get("errors"))
    if autoscalers := _texts(target.get("autoscalers")):
        problems.append(f"autoscaler: {', '.join(autoscalers)}")
    if target.get("last_error"):
        problems.append(f"last error: {_cell(target.get('last_error'))}")
    mode = target.get("mode")
    return (
        _cell(target.get("namespace")),
        shown_name(_cell(target.get("kind")), _cell(target.get("name"))),
        _cell(target.get("eligible")),
        _cell(target.get("current")),
        _cell(target.get("desired")),
        mode_text(mode if isinstance(mode, str) else "", _texts(target.get("topology"))),
        _change_cell(target.get("last_change")),
        "; ".join(problems) or "-",
    )


def render_status(body: object, out: TextIO) -> None:
    """A summary line (leader, version, node count, sync, dry run), a note when the instance
    that answered does not lead, then one row per target; StatusShapeError for anything
    that is not /status."""
    if not isinstance(body, Mapping) or not isinstance(body.get("targets"), list):
        raise StatusShapeError("no list of targets")
    rows = [STATUS_HEADER, *(_status_row(t) for t in body["targets"])]
    facts = [
        f"leader {_cell(body.get('leader'))}",
        f"version {_cell(body.get('version'))}",
        f"{_cell(body.get('nodes'))} nodes",
        "caches synced" if body.get("synced") is True else "caches NOT synced",
    ]
    if body.get("dry_run") is True:
        facts.append("dry run (writes nothing)")
    out.write(", ".join(facts) + "\n")
    if body.get("leading") is not True:
        answered = _cell(body.get("identity"))
        out.write(f"note: the instance that answered ({answered}) does not lead\n")
    out.write("\n")
    if len(rows) == 1:
        out.write('no targets (no workload carries nodecount-scaler.io/enabled: "true")\n')
        return
    write_columns(rows, out)
