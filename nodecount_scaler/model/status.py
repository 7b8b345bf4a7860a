"""What `/status` and `plan` say about each target, as typed values.

Built from the cluster state (and, in the running service, what the controller remembers
of its last write); turned into JSON or a table only at the edges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from nodecount_scaler.model.policy import desired_replicas
from nodecount_scaler.model.scaling import explain
from nodecount_scaler.model.state import ClusterState, TargetState
from nodecount_scaler.model.targets import Finding, FindingKind, TargetKey


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
    # How the count is made: "linear nodes", "ladder nodes+cores", ...; and the unit.
    mode: str = "linear nodes"
    # Topology keys counted instead of nodes (one pod per zone); () counts nodes.
    topology: tuple[str, ...] = ()
    # The count the rule used: topology domains, when counting them.
    domains: int | None = None
    cores: Fraction | None = None
    # Why the number is what it is: "linear: ceil(12/3)=4 nodes, min 1 -> 4".
    explanation: str = ""


def target_status(
    state: ClusterState,
    key: TargetKey,
    replica_cap: int,
    *,
    last_change: Change | None = None,
    last_error: str | None = None,
    explain_at: float | None = None,
    found: tuple[Finding, ...] = (),
) -> TargetStatus:
    """The status of one stored target; `explain_at` (a monotonic time) adds the count of
    nodes each eligibility rule kept out; `found` are findings from where its pods are."""
    target = state.targets[key]
    view = target.view
    config = view.config if view.valid else None
    excluded = None
    if explain_at is not None:
        rules = Counter(r.value for r, _ in state.excluded_nodes(key, explain_at).values())
        excluded = tuple(sorted(rules.items()))
    count, cores = target.measure()
    rule = config.rule if config is not None else None
    return TargetStatus(
        key=key,
        valid=config is not None,
        eligible=len(target.eligible) if config is not None else None,
        current=view.replicas,
        desired=None if config is None else desired_replicas(count, config, replica_cap, cores),
        findings=(*view.findings, *topology_findings(target), *found),
        errors=view.problems,
        autoscalers=tuple(state.hpas_for(key)),
        last_change=last_change,
        last_error=last_error,
        excluded=excluded,
        mode=rule.describe() if rule is not None else "",
        topology=view.topology.keys,
        domains=None if view.topology.per_node or config is None else count,
        cores=cores if rule is not None and rule.uses_cores else None,
        explanation="" if rule is None else explain(rule, count, cores).text,
    )


def topology_findings(target: TargetState) -> tuple[Finding, ...]:
    """Findings that depend on the nodes, not only the template: eligible nodes without
    the topology key, where the scheduler lets replicas pile up (see Tally.keyless)."""
    if target.tally is None:
        return ()
    return tuple(
        Finding(
            FindingKind.NODES_WITHOUT_TOPOLOGY_KEY,
            f"{n} eligible node(s) have no {key} label: the scheduler ignores the "
            f"anti-affinity term there, so several replicas can land on them and leave a "
            f"{key} domain without one; add a required node affinity "
            f"`{key} Exists` to the pod template",
        )
        for key, n in sorted(target.tally.nodes_without_key().items())
    )
