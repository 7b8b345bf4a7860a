"""Just enough of PromQL for the tests: which metric names and label names an expression
uses, so that alert rules and dashboards can be checked against what the service exports
(nodecount_scaler.metrics.catalog()), and the dashboard's expressions and template variables.

Grammar followed: https://prometheus.io/docs/prometheus/2.42/querying/basics/ (selectors,
matchers, durations) and .../operators/ (aggregation and vector-matching clauses).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Functions and aggregation operators an expression may call.
FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg",
        "avg_over_time",
        "bottomk",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "count",
        "count_over_time",
        "count_values",
        "delta",
        "deriv",
        "exp",
        "floor",
        "group",
        "histogram_quantile",
        "idelta",
        "increase",
        "irate",
        "last_over_time",
        "ln",
        "max",
        "max_over_time",
        "min",
        "min_over_time",
        "predict_linear",
        "quantile",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sort",
        "sort_desc",
        "stddev",
        "stdvar",
        "sum",
        "sum_over_time",
        "time",
        "timestamp",
        "topk",
        "vector",
    ]
)
# Words that take a parenthesised list of label names.
GROUPING = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
OPERATOR_WORDS = frozenset(["and", "or", "unless", "bool", "offset"])

_TOKENS = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>\d+(?:ms|[smhdwy])\b)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>=~|!~|!=|==|<=|>=|[{}(),=<>+\-*/%^])
    """,
    re.VERBOSE,
)
# Grafana's variable query: label_values(label) or label_values(selector, label).
_LABEL_VALUES = re.compile(r"\s*label_values\(\s*(?:(.*?)\s*,)?\s*(\w+)\s*\)\s*", re.DOTALL)
# Grafana's template variables: $name, ${name}, ${name:format}, [[name]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


class PromQLError(ValueError):
    pass


@dataclass
class Usage:
    """What one expression names."""

    # metric name -> the label names its selectors match on
    selectors: dict[str, set[str]] = field(default_factory=dict)
    # label names in by/without/on/ignoring/group_left/group_right lists
    grouping: set[str] = field(default_factory=set)
    # the label argument of Grafana's label_values(selector, label)
    label_values: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


def _tokens(expr: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(expr):
        match = _TOKENS.match(expr, position)
        if match is None:
            raise PromQLError(f"cannot read {expr[position : position + 20]!r} in {expr!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            yield kind, match.group()


def _label_list(tokens: list[tuple[str, str]], i: int, into: set[str]) -> int:
    """Read `( a, b )` starting at tokens[i] == '('; return the index after ')'."""
    i += 1
    while tokens[i][1] != ")":
        kind, text = tokens[i]
        if kind == "word":
            into.add(text)
        elif text != ",":
            raise PromQLError(f"unexpected {text!r} in a label list")
        i += 1
    return i + 1


def _matchers(tokens: list[tuple[str, str]], i: int, into: set[str]) -> tuple[int, str | None]:
    """Read `{ label op "value", ... }` starting at tokens[i] == '{'; return the index
    after '}' and the metric name a `__name__="..."` matcher gives, if any."""
    i += 1
    named: str | None = None
    while tokens[i][1] != "}":
        (kind, label), (_, op), (value_kind, value) = tokens[i : i + 3]
        if kind != "word" or op not in ("=", "!=", "=~", "!~") or value_kind != "string":
            raise PromQLError(f"bad matcher near {label!r}")
        if label == "__name__" and op == "=":
            named = value[1:-1]
        else:
            into.add(label)
        i += 3
        if tokens[i][1] == ",":
            i += 1
    return i + 1, named


def read(expr: str) -> Usage:
    """The metrics, labels and functions `expr` uses (template variables must be replaced
    first: see substitute()). Grafana's `label_values(selector, label)` is read too."""
    variable = _LABEL_VALUES.fullmatch(expr)
    if variable is not None:
        usage = read(variable.group(1)) if variable.group(1) else Usage()
        usage.label_values.add(variable.group(2))
        usage.functions.add("label_values")
        return usage
    tokens = [*_tokens(expr), ("end", "")]
    usage = Usage()
    i = 0
    while tokens[i][0] != "end":
        kind, text = tokens[i]
        following = tokens[i + 1][1]
        if kind == "word" and text in GROUPING and following == "(":
            i = _label_list(tokens, i + 1, usage.grouping)
        elif kind == "word" and text in OPERATOR_WORDS:
            i += 1
        elif kind == "word" and (following == "(" or following in ("by", "without")):
            # `sum by (x) (...)`: an aggregation with its clause in front.
            if text not in FUNCTIONS:
                raise PromQLError(f"unknown function {text!r}")
            usage.functions.add(text)
            i += 1
        elif kind == "word" and text in GROUPING:
            i += 1
        elif kind == "word":
            labels = usage.selectors.setdefault(text, set())
            i += 1
            if following == "{":
                i, _ = _matchers(tokens, i, labels)
        elif text == "{":
            labels = set()
            i, named = _matchers(tokens, i, labels)
            if named is None:
                raise PromQLError(f"a selector without a metric name in {expr!r}")
            usage.selectors.setdefault(named, set()).update(labels)
        else:
            i += 1
    return usage


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana template variables; a variable without a value is an error."""

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise PromQLError(f"no value for template variable {name!r} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(one, expr)


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel query and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"]
