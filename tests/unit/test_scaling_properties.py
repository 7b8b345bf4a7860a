"""Properties of the scaling rules over generated input (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from nodecount_scaler.model.annotations import parse_scaling
from nodecount_scaler.model.keys import (
    CORES_PER_REPLICA,
    CORES_TO_REPLICAS,
    NODES_PER_REPLICA,
    NODES_TO_REPLICAS,
    PREVENT_SINGLE_POINT_FAILURE,
)
from nodecount_scaler.model.scaling import (
    DEFAULT_RULE,
    SPOF_FLOOR,
    Ladder,
    Linear,
    ScalingRule,
    Step,
    explain,
    format_decimal,
    format_steps,
    replicas,
)

PER_REPLICA = st.decimals(
    min_value=Decimal("0.001"), max_value=Decimal(500), places=3, allow_nan=False
).map(Fraction)
# Thresholds increase and replicas never decrease, as steps_from_json requires.
TABLES = st.lists(st.integers(0, 300), min_size=1, max_size=8, unique=True).flatmap(
    lambda thresholds: st.lists(
        st.integers(0, 60), min_size=len(thresholds), max_size=len(thresholds)
    ).map(lambda counts: tuple(map(Step, sorted(thresholds), sorted(counts))))
)
NODES = st.integers(0, 400)
CORES = st.fractions(min_value=0, max_value=4000, max_denominator=1000)


@st.composite
def bounds(draw: st.DrawFn) -> tuple[int, int | None, bool]:
    """min <= max (parse_config refuses the rest), max often absent."""
    minimum = draw(st.integers(0, 10))
    maximum = draw(st.one_of(st.none(), st.integers(minimum, 80)))
    return minimum, maximum, draw(st.booleans())


@st.composite
def two_basis_rules(draw: st.DrawFn) -> tuple[ScalingRule, ScalingRule, ScalingRule]:
    """A rule with both bases, and the same rule with each basis alone."""
    minimum, maximum, spof = draw(bounds())
    if draw(st.booleans()):
        nodes, cores = draw(PER_REPLICA), draw(PER_REPLICA)
        both: Linear | Ladder = Linear(nodes, cores)
        alone: tuple[Linear | Ladder, Linear | Ladder] = (Linear(nodes), Linear(None, cores))
    else:
        node_table, core_table = draw(TABLES), draw(TABLES)
        both = Ladder(node_table, core_table)
        alone = (Ladder(nodes_to_replicas=node_table), Ladder(cores_to_replicas=core_table))
    rules = [ScalingRule(s, minimum, maximum, spof) for s in (both, *alone)]
    return rules[0], rules[1], rules[2]


@given(two_basis_rules(), NODES, CORES)
def test_combined_is_the_larger_of_each_basis(
    rules: tuple[ScalingRule, ScalingRule, ScalingRule], nodes: int, cores: Fraction
) -> None:
    """Nodes and cores together give the larger of what each gives alone (bounds included)."""
    both, nodes_only, cores_only = rules
    assert replicas(both, nodes, cores) == max(
        replicas(nodes_only, nodes, cores), replicas(cores_only, nodes, cores)
    )


@given(two_basis_rules(), NODES, CORES)
def test_bounds_and_spof_hold(
    rules: tuple[ScalingRule, ScalingRule, ScalingRule], nodes: int, cores: Fraction
) -> None:
    """Never below min, above max only when lifted to 2, and 2 or more on 2+ nodes with SPOF."""
    rule = rules[0]
    result = replicas(rule, nodes, cores)
    lifted = rule.prevent_single_point_failure and nodes > 1
    assert result >= rule.min_replicas
    if rule.max_replicas is not None:
        assert result <= rule.max_replicas or (lifted and result == SPOF_FLOOR)
    if lifted:
        assert result >= SPOF_FLOOR


@given(two_basis_rules(), NODES, NODES, CORES, CORES)
def test_monotonic_in_nodes_and_cores(
    rules: tuple[ScalingRule, ScalingRule, ScalingRule],
    nodes_a: int,
    nodes_b: int,
    cores_a: Fraction,
    cores_b: Fraction,
) -> None:
    """More nodes or more cores never means fewer replicas."""
    rule = rules[0]
    low = replicas(rule, min(nodes_a, nodes_b), min(cores_a, cores_b))
    high = replicas(rule, max(nodes_a, nodes_b), max(cores_a, cores_b))
    assert low <= high


@given(two_basis_rules(), NODES, CORES)
def test_explanation_agrees(
    rules: tuple[ScalingRule, ScalingRule, ScalingRule], nodes: int, cores: Fraction
) -> None:
    """The explanation's terms, larger term and result match the computation."""
    rule = rules[0]
    explanation = explain(rule, nodes, cores)
    assert [t.basis for t in explanation.terms] == list(rule.bases)
    assert explanation.proportional == max(t.replicas for t in explanation.terms)
    assert explanation.text.endswith(f"-> {replicas(rule, nodes, cores)}")


@given(NODES, CORES)
def test_default_rule_is_one_replica_per_node(nodes: int, cores: Fraction) -> None:
    """Without scaling keys, the service's rule is unchanged: replicas = eligible nodes."""
    assert replicas(DEFAULT_RULE, nodes, cores) == nodes


@given(two_basis_rules())
def test_annotations_round_trip(rules: tuple[ScalingRule, ScalingRule, ScalingRule]) -> None:
    """A rule written as annotations (format_decimal, format_steps) parses back to itself."""
    for rule in rules:
        annotations: dict[str, str] = {}
        if isinstance(rule.scheme, Linear):
            pairs = [(NODES_PER_REPLICA.key, rule.scheme.nodes_per_replica)]
            pairs.append((CORES_PER_REPLICA.key, rule.scheme.cores_per_replica))
            annotations = {k: format_decimal(v) for k, v in pairs if v is not None}
        else:
            tables = [(NODES_TO_REPLICAS.key, rule.scheme.nodes_to_replicas)]
            tables.append((CORES_TO_REPLICAS.key, rule.scheme.cores_to_replicas))
            annotations = {k: format_steps(v) for k, v in tables if v is not None}
        annotations[PREVENT_SINGLE_POINT_FAILURE.key] = str(
            rule.prevent_single_point_failure
        ).lower()
        nodes = annotations.get(NODES_PER_REPLICA.key)
        parsed, errors = parse_scaling(
            annotations,
            nodes_per_replica=None if nodes is None else Fraction(nodes),
            min_replicas=rule.min_replicas,
            max_replicas=rule.max_replicas,
        )
        assert errors == ()
        assert parsed == rule
