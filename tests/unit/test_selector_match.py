"""Matching label sets: Requirement.matches and LabelSelector.matches (Requirement.Matches)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from nodecount_scaler.model.selector import (
    EVERYTHING,
    Operator,
    Requirement,
    parse_selector,
)

Labels = dict[str, str]


def req(key: str, operator: Operator, *values: str) -> Requirement:
    return Requirement(key, operator, frozenset(values))


REQUIREMENT_CASES: list[tuple[str, Requirement, Labels, bool]] = [
    # In: the label must exist and have one of the values.
    ("in-match", req("a", Operator.IN, "x", "y"), {"a": "y"}, True),
    ("in-other-value", req("a", Operator.IN, "x"), {"a": "z"}, False),
    ("in-missing", req("a", Operator.IN, "x"), {"b": "x"}, False),
    ("in-empty-value-present", req("a", Operator.IN, ""), {"a": ""}, True),
    ("in-empty-value-missing", req("a", Operator.IN, ""), {}, False),
    ("in-key-case-sensitive", req("App", Operator.IN, "x"), {"app": "x"}, False),
    ("in-value-case-sensitive", req("a", Operator.IN, "X"), {"a": "x"}, False),
    # NotIn: a missing label matches.
    ("notin-missing", req("a", Operator.NOT_IN, "x"), {}, True),
    ("notin-other-value", req("a", Operator.NOT_IN, "x"), {"a": "y"}, True),
    ("notin-listed-value", req("a", Operator.NOT_IN, "x", "y"), {"a": "y"}, False),
    ("notin-empty-value-present", req("a", Operator.NOT_IN, ""), {"a": ""}, False),
    # Exists / DoesNotExist look only at the key.
    ("exists-present", req("a", Operator.EXISTS), {"a": "x"}, True),
    ("exists-empty-value", req("a", Operator.EXISTS), {"a": ""}, True),
    ("exists-missing", req("a", Operator.EXISTS), {"b": "x"}, False),
    ("does-not-exist-missing", req("a", Operator.DOES_NOT_EXIST), {"b": "x"}, True),
    ("does-not-exist-present", req("a", Operator.DOES_NOT_EXIST), {"a": ""}, False),
    # Gt / Lt: strict integer comparison; a missing or non-integer label never matches.
    ("gt-greater", req("a", Operator.GT, "1"), {"a": "2"}, True),
    ("gt-equal", req("a", Operator.GT, "1"), {"a": "1"}, False),
    ("gt-smaller", req("a", Operator.GT, "1"), {"a": "0"}, False),
    ("gt-missing", req("a", Operator.GT, "1"), {}, False),
    ("gt-not-integer", req("a", Operator.GT, "1"), {"a": "v2"}, False),
    ("gt-empty", req("a", Operator.GT, "1"), {"a": ""}, False),
    ("gt-decimal", req("a", Operator.GT, "1"), {"a": "2.5"}, False),
    ("gt-leading-zeros", req("a", Operator.GT, "06"), {"a": "007"}, True),
    ("gt-plus-sign", req("a", Operator.GT, "1"), {"a": "+3"}, True),
    ("gt-negative-label", req("a", Operator.GT, "1"), {"a": "-5"}, False),
    ("gt-int64-max", req("a", Operator.GT, "1"), {"a": "9223372036854775807"}, True),
    ("gt-int64-overflow", req("a", Operator.GT, "1"), {"a": "9223372036854775808"}, False),
    ("gt-long-zero-padding", req("a", Operator.GT, "1"), {"a": "0" * 5000 + "2"}, True),
    ("gt-huge-number", req("a", Operator.GT, "1"), {"a": "9" * 5000}, False),
    # Python's int() would accept these; strconv.ParseInt does not.
    ("gt-surrounding-space", req("a", Operator.GT, "1"), {"a": " 3 "}, False),
    ("gt-underscore", req("a", Operator.GT, "1"), {"a": "1_000"}, False),
    ("gt-non-ascii-digit", req("a", Operator.GT, "1"), {"a": "\u0663"}, False),
    ("lt-smaller", req("a", Operator.LT, "10"), {"a": "9"}, True),
    ("lt-equal", req("a", Operator.LT, "10"), {"a": "10"}, False),
    ("lt-negative-label", req("a", Operator.LT, "0"), {"a": "-1"}, True),
    ("lt-int64-min", req("a", Operator.LT, "0"), {"a": "-9223372036854775808"}, True),
    ("lt-int64-underflow", req("a", Operator.LT, "0"), {"a": "-9223372036854775809"}, False),
    ("lt-missing", req("a", Operator.LT, "10"), {}, False),
    ("lt-not-integer", req("a", Operator.LT, "10"), {"a": "x"}, False),
]


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [c[1:] for c in REQUIREMENT_CASES],
    ids=[c[0] for c in REQUIREMENT_CASES],
)
def test_requirement_matches(requirement: Requirement, labels: Labels, expected: bool) -> None:
    """Requirement.matches follows Requirement.Matches for every operator."""
    assert requirement.matches(labels) is expected


SELECTOR_CASES: list[tuple[str, Labels, bool]] = [
    ("", {}, True),
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False),
    ("x<1", {"x": "2"}, False),
    ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
    ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
    ("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
    ("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
    ("x notin (),y", {"y": ""}, True),
    ("!x,y", {"y": ""}, True),
    ("x notin (),!y", {"y": ""}, False),
    ("x in ()", {"y": "baz"}, False),
    ("x=a,x!=a", {"x": "a"}, False),
    ("gpu,zone in (a,b),cores>4", {"gpu": "", "zone": "b", "cores": "8"}, True),
    ("gpu,zone in (a,b),cores>4", {"gpu": "", "zone": "b", "cores": "4"}, False),
]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    SELECTOR_CASES,
    ids=[f"{t!r}-{sorted(labels.items())}" for t, labels, _ in SELECTOR_CASES],
)
def test_selector_matches(text: str, labels: Labels, expected: bool) -> None:
    """A parsed selector matches like labels.Selector.Matches (an AND of its requirements)."""
    assert parse_selector(text).matches(labels) is expected


def test_everything_matches_empty_labels() -> None:
    """The empty selector matches an object without labels."""
    assert EVERYTHING.matches({})


def test_matches_accepts_any_mapping() -> None:
    """matches() needs only the Mapping protocol, e.g. a read-only view."""
    labels = MappingProxyType({"a": "1", "b": "2"})
    assert parse_selector("a=1,b>1,!c").matches(labels)
