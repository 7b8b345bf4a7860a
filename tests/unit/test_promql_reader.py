"""The tests' PromQL reader (tests/promql.py) finds every metric and label an expression names."""

from __future__ import annotations

import pytest

from tests.promql import PromQLError, Usage, read, substitute

CASES = [
    ("bare", "up", Usage({"up": set()})),
    (
        "matchers",
        'a{job="j", x=~"1|2", y!="", z!~"q"}',
        Usage({"a": {"job", "x", "y", "z"}}),
    ),
    (
        "aggregation in front",
        'sum by (le) (rate(a_bucket{job="j"}[5m]))',
        Usage({"a_bucket": {"job"}}, {"le"}, functions={"sum", "rate"}),
    ),
    ("aggregation behind", "sum(x) by (a)", Usage({"x": set()}, {"a"}, functions={"sum"})),
    (
        "vector matching",
        "a > on (job, instance) group_left (name) b",
        Usage({"a": set(), "b": set()}, {"job", "instance", "name"}),
    ),
    (
        "set operators, bool, offset",
        "a == bool 0 unless ignoring (x) b offset 5m or (c)",
        Usage({"a": set(), "b": set(), "c": set()}, {"x"}),
    ),
    ("__name__ matcher", '{__name__="c", x="1"}', Usage({"c": {"x"}})),
    (
        "label_values with a selector",
        'label_values(m{job="j"}, name)',
        Usage({"m": {"job"}}, label_values={"name"}, functions={"label_values"}),
    ),
    (
        "label_values alone",
        "label_values(job)",
        Usage(label_values={"job"}, functions={"label_values"}),
    ),
    (
        "numbers and strings",
        "histogram_quantile(0.99, x) > 1e3",
        Usage({"x": set()}, functions={"histogram_quantile"}),
    ),
]


@pytest.mark.parametrize(("expr", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_read_finds_names(expr: str, expected: Usage) -> None:
    """Metrics with their matcher labels, grouping labels and functions."""
    assert read(expr) == expected


BAD = [
    ("unknown function", "frobnicate(x)"),
    ("selector without a name", '{job="j"}'),
    ("unreadable", "a ? b"),
]


@pytest.mark.parametrize("expr", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_read_rejects_what_it_cannot_vouch_for(expr: str) -> None:
    """An expression the reader cannot fully account for is an error, not a pass."""
    with pytest.raises(PromQLError):
        read(expr)


def test_substitute_replaces_every_variable_form() -> None:
    """$x, ${x}, ${x:regex} and [[x]] are replaced; an unknown variable is an error."""
    values = {"job": "j", "ns": "a|b"}
    assert substitute('x{job="$job", n=~"${ns}", m=~"${ns:regex}", o="[[job]]"}', values) == (
        'x{job="j", n=~"a|b", m=~"a|b", o="j"}'
    )
    with pytest.raises(PromQLError):
        substitute("$missing", values)
