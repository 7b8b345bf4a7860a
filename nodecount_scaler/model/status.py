"""What `/status` and `plan` say about each target, as typed values.

Built from the cluster state (and, in the running service, what the controller remembers
of its last write); turned into JSON or a table only at the edges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from nodecount_scaler.model.policy import desired_replicas
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import Finding, TargetKey


@dataclass(frozen=True, slots=True)
class Change:
    """The last replica change this instance wrote for a target."""

    from_replicas: int
    to_replicas: int
    eligible: int
    reason: str
    at: str  # wall-clock time, ISO 8601, for people


@dataclass(frozen=True, slots=True)
class TargetStatus:
    key: TargetKey
    valid: bool
    eligible: int | None
    current: int
    desired: int | None
    findings: tuple[Finding, ...]
    errors: tuple[str, ...]
    autoscalers: tuple[str, ...]
    last_change: Change | None = None
    last_error: str | None = None
    # Rule -> number of nodes it kept out; only `plan` asks (it costs nodes x targets).
    excluded: tuple[tuple[str, int], ...] | None = None


def target_status(
    state: ClusterState,
    key: TargetKey,
    replica_cap: int,
    *,
    last_change: Change | None = None,
    last_error: str | None = None,
    explain_at: float | None = None,
) -> TargetStatus:
    """The status of one stored target; `explain_at` (a monotonic time) adds the count of
    nodes each eligibility rule kept out."""
    target = state.targets[key]
    view = target.view
    config = view.config if view.valid else None
    excluded = None
    if explain_at is not None:
        rules = Counter(r.value for r, _ in state.excluded_nodes(key, explain_at).values())
        excluded = tuple(sorted(rules.items()))
    return TargetStatus(
        key=key,
        valid=config is not None,
        eligible=len(target.eligible) if config is not None else None,
        current=view.replicas,
        desired=None
        if config is None
        else desired_replicas(len(target.eligible), config, replica_cap),
        findings=view.findings,
        errors=view.problems,
        autoscalers=tuple(state.hpas_for(key)),
        last_change=last_change,
        last_error=last_error,
        excluded=excluded,
    )
