"""Scaling rules: how many replicas for N eligible nodes holding C allocatable cores.

The two modes of cluster-proportional-autoscaler (CPA), computed exactly:

- linear: ceil(nodes / nodes-per-replica) and/or ceil(cores / cores-per-replica);
- ladder: step tables, the replicas of the step with the largest threshold <= the count.

With two bases (nodes and cores) the larger result wins. Then, as CPA's linear controller
does (https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/blob/master/pkg/autoscaler/controller/linearcontroller/linear_controller.go):
min-replicas, max-replicas, and last prevent-single-point-failure, which lifts the result
to 2 whenever more than one node counts, even above max-replicas. Clamping each basis
before taking the larger (CPA's order) and clamping the larger give the same number,
because clamping never reorders two counts.

Where CPA and this module part ways, on purpose:
- exact arithmetic: CPA divides in float64 (3 nodes at 0.1 per replica is 31 there, 30 here)
  and rounds the total CPU up to whole cores before dividing or comparing;
- ladder mode honours min-replicas, max-replicas and prevent-single-point-failure too (CPA
  ignores them there; all three default to no effect, so a plain ladder behaves as CPA's);
- the global --replica-cap cap of the service is applied by the caller, after this.

Below its first threshold a ladder gives the first step's replicas, as CPA's lookup does.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

from nodecount_scaler.limits import LADDER_MAX_LENGTH, LADDER_MAX_STEPS
from nodecount_scaler.model.display import shortened
from nodecount_scaler.model.numbers import INT32_MAX, NumberError, parse_positive_decimal
from nodecount_scaler.model.strict_json import JsonProblem, load_json

# Deployment spec.replicas is an int32; CPA stores counts in int32 too.
MAX_STEP_NUMBER: Final = INT32_MAX
# prevent-single-point-failure: the smallest count that is not a single point of failure.
SPOF_FLOOR: Final = 2


class Mode(enum.StrEnum):
    LINEAR = "linear"
    LADDER = "ladder"


class Basis(enum.StrEnum):
    NODES = "nodes"
    CORES = "cores"


@dataclass(frozen=True, slots=True)
class Step:
    threshold: int
    replicas: int


@dataclass(frozen=True, slots=True)
class Linear:
    nodes_per_replica: Fraction | None = None
    cores_per_replica: Fraction | None = None


@dataclass(frozen=True, slots=True)
class Ladder:
    """Step tables sorted by strictly increasing threshold, each with at least one step."""

    nodes_to_replicas: tuple[Step, ...] | None = None
    cores_to_replicas: tuple[Step, ...] | None = None


@dataclass(frozen=True, slots=True)
class ScalingRule:
    scheme: Linear | Ladder
    min_replicas: int = 0
    max_replicas: int | None = None
    prevent_single_point_failure: bool = False

    @property
    def mode(self) -> Mode:
        return Mode.LINEAR if isinstance(self.scheme, Linear) else Mode.LADDER

    @property
    def bases(self) -> tuple[Basis, ...]:
        nodes: object
        cores: object
        if isinstance(self.scheme, Linear):
            nodes, cores = self.scheme.nodes_per_replica, self.scheme.cores_per_replica
        else:
            nodes, cores = self.scheme.nodes_to_replicas, self.scheme.cores_to_replicas
        return tuple(
            b for b, given in ((Basis.NODES, nodes), (Basis.CORES, cores)) if given is not None
        )

    @property
    def uses_cores(self) -> bool:
        """Whether the eligible nodes' CPU must be summed at all."""
        return Basis.CORES in self.bases

    def describe(self) -> str:
        """The mode and bases, for a plan column: "linear nodes", "ladder nodes+cores"."""
        return f"{self.mode} {'+'.join(self.bases)}"


# Today's rule: one replica per eligible node.
DEFAULT_RULE: Final = ScalingRule(Linear(nodes_per_replica=Fraction(1)))


@dataclass(frozen=True, slots=True)
class Term:
    """What one basis asks for: `detail` reads like "ceil(12/3)=4 nodes"."""

    basis: Basis
    replicas: int
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    terms: tuple[Term, ...]
    # The larger of the terms, before min, max and prevent-single-point-failure.
    proportional: int
    replicas: int
    text: str


def format_decimal(value: Fraction) -> str:
    """Exact decimal notation where it ends ("2.5", "3.92"), else "p/q"."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    return format(Decimal(value.numerator * 10**places // value.denominator).scaleb(-places), "f")


def ladder_step(steps: Sequence[Step], count: int | Fraction) -> Step:
    """The step with the largest threshold <= count; the first step when count is below all."""
    chosen = steps[0]
    for step in steps:
        if step.threshold > count:
            break
        chosen = step
    return chosen


def _wanted(rule: ScalingRule, basis: Basis, count: int | Fraction) -> int:
    """The replicas one basis asks for: ceil(count / per-replica), or the ladder step's."""
    if isinstance(rule.scheme, Linear):
        linear = rule.scheme
        per = linear.nodes_per_replica if basis is Basis.NODES else linear.cores_per_replica
        assert per is not None  # only bases the rule has reach here
        if isinstance(count, int) and per.denominator == 1:
            return -(-count // per.numerator)
        return math.ceil(Fraction(count) / per)
    steps = rule.scheme.nodes_to_replicas if basis is Basis.NODES else rule.scheme.cores_to_replicas
    assert steps is not None
    return ladder_step(steps, count).replicas


def _clamp(rule: ScalingRule, proportional: int, nodes: int) -> int:
    """min, then max, then prevent-single-point-failure, as explain() does in words (a
    property test holds the two equal)."""
    result = max(proportional, rule.min_replicas)
    if rule.max_replicas is not None:
        result = min(result, rule.max_replicas)
    if rule.prevent_single_point_failure and nodes > 1 and result < SPOF_FLOOR:
        result = SPOF_FLOOR
    return result


def _term(rule: ScalingRule, basis: Basis, count: int | Fraction) -> Term:
    shown = format_decimal(Fraction(count))
    unit = basis.value[:-1] if count == 1 else basis.value
    if isinstance(rule.scheme, Linear):
        linear = rule.scheme
        per = linear.nodes_per_replica if basis is Basis.NODES else linear.cores_per_replica
        assert per is not None  # only bases the rule has reach here
        wanted = _wanted(rule, basis, count)
        return Term(basis, wanted, f"ceil({shown}/{format_decimal(per)})={wanted} {basis}")
    steps = rule.scheme.nodes_to_replicas if basis is Basis.NODES else rule.scheme.cores_to_replicas
    assert steps is not None
    step = ladder_step(steps, count)
    relation = "<" if step.threshold > count else ">="
    return Term(
        basis, step.replicas, f"{shown} {unit} {relation} {step.threshold} -> {step.replicas}"
    )


def explain(rule: ScalingRule, nodes: int, cores: Fraction) -> Explanation:
    """The replica count and every step that led to it, in words."""
    counts = {Basis.NODES: Fraction(nodes), Basis.CORES: cores}
    terms = tuple(_term(rule, basis, counts[basis]) for basis in rule.bases)
    proportional = max((t.replicas for t in terms), default=0)
    if len(terms) == 1:
        text = f"{rule.mode}: {terms[0].detail}"
    else:
        text = f"{rule.mode}: max({', '.join(t.detail for t in terms)}) = {proportional}"
    result = max(proportional, rule.min_replicas)
    text += f", min {rule.min_replicas}"
    if rule.max_replicas is not None:
        result = min(result, rule.max_replicas)
        text += f", max {rule.max_replicas}"
    if rule.prevent_single_point_failure:
        if nodes > 1 and result < SPOF_FLOOR:
            result = SPOF_FLOOR
            text += f", prevent-single-point-failure: {nodes} nodes, at least {SPOF_FLOOR}"
        elif nodes <= 1:
            text += f", {nodes} node: prevent-single-point-failure does not apply"
    return Explanation(terms, proportional, result, f"{text} -> {result}")


def replicas(rule: ScalingRule, nodes: int, cores: Fraction) -> int:
    """Replicas for `nodes` eligible nodes holding `cores` allocatable CPU: explain()'s
    number without its words (a reconcile needs only the number, on every node change).

    The service's global cap is not applied here: the caller takes min(this, cap).
    """
    counts: dict[Basis, int | Fraction] = {Basis.NODES: nodes, Basis.CORES: cores}
    proportional = max((_wanted(rule, b, counts[b]) for b in rule.bases), default=0)
    return _clamp(rule, proportional, nodes)


# --- annotations ------------------------------------------------------------------------------


def parse_decimal(raw: str) -> Fraction | str:
    """A decimal number > 0 ("2", "0.5", "2.") as an exact Fraction, or the problem."""
    value = parse_positive_decimal(raw)
    return value.problem if isinstance(value, NumberError) else value


def steps_from_json(value: object, *, sort: bool = False) -> tuple[Step, ...] | str:
    """Validate a decoded step table ([[threshold, replicas], ...]), or say what is wrong.

    With `sort`, steps may come in any order (as CPA accepts them); without, thresholds must
    increase, so that the table reads in the order it is applied. Replicas must not decrease.
    """
    if not isinstance(value, list):
        return "must be a JSON array of [threshold, replicas] pairs, like [[0,1],[4,2]]"
    if not value:
        return "has no steps: give at least one [threshold, replicas] pair"
    if len(value) > LADDER_MAX_STEPS:
        return f"has {len(value)} steps; at most {LADDER_MAX_STEPS} are allowed"
    steps: list[Step] = []
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, list) or len(entry) != 2:
            return f"step {number} is not a [threshold, replicas] pair"
        for item in entry:
            problem = _step_number_problem(item)
            if problem:
                return f"step {number}: {problem}"
        steps.append(Step(entry[0], entry[1]))
    if sort:
        steps.sort(key=lambda s: s.threshold)
    for before, after in itertools.pairwise(steps):
        if before.threshold == after.threshold:
            return f"threshold {after.threshold} appears twice"
        if before.threshold > after.threshold:
            return f"thresholds must increase: {after.threshold} comes after {before.threshold}"
    for before, after in itertools.pairwise(steps):
        # A bigger cluster never asks for fewer replicas (CPA accepts such a table; it is
        # refused here so that the count is monotonic in nodes and cores).
        if after.replicas < before.replicas:
            return (
                f"replicas must not decrease as the count grows: {after.replicas} at "
                f"{after.threshold} after {before.replicas} at {before.threshold}"
            )
    return tuple(steps)


def _step_number_problem(item: object) -> str | None:
    # bool is an int subclass in Python: true must not read as 1.
    if isinstance(item, bool) or not isinstance(item, int):
        return f"{shortened(str(item))} is not a whole number"
    if item < 0:
        return f"{item} is negative"
    if item > MAX_STEP_NUMBER:
        return f"{shortened(str(item))} is larger than {MAX_STEP_NUMBER}"
    return None


def parse_steps(raw: str) -> tuple[Step, ...] | str:
    decoded = load_json(raw, max_length=LADDER_MAX_LENGTH)
    if isinstance(decoded, JsonProblem):
        return decoded.problem
    return steps_from_json(decoded)


def format_steps(steps: Sequence[Step]) -> str:
    """The table in CPA's JSON form, compact: [[0,1],[4,2]]."""
    return "[" + ",".join(f"[{s.threshold},{s.replicas}]" for s in steps) + "]"
