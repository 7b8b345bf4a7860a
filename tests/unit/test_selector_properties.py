"""Properties of selectors over generated input (hypothesis)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.selector import (
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    parse_selector,
)

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits


def _words(edge: str, middle: str) -> st.SearchStrategy[str]:
    """Strings that start and end with a character of edge and have middle characters inside."""
    return st.one_of(
        st.sampled_from(edge),
        st.builds(
            lambda first, inner, last: first + inner + last,
            st.sampled_from(edge),
            st.text(middle, max_size=10),
            st.sampled_from(edge),
        ),
    )


# Wide generators: any valid key / value, for the syntax round trip.
NAMES = _words(ALNUM, ALNUM + "-_.")
PREFIXES = st.lists(_words(LOWER_ALNUM, LOWER_ALNUM + "-"), min_size=1, max_size=3).map(".".join)
KEYS = st.one_of(
    NAMES,
    st.sampled_from(["in", "notin"]),  # keywords are identifiers where a key is expected
    st.builds(lambda prefix, name: f"{prefix}/{name}", PREFIXES, NAMES),
)
VALUES = st.one_of(st.just(""), st.sampled_from(["in", "notin"]), NAMES)
INTEGERS = st.builds(
    lambda zeros, n: "0" * zeros + str(n), st.integers(0, 2), st.integers(0, 2**63 - 1)
)

# Narrow pools: few keys and values, so selectors and label sets often overlap.
POOL_KEYS = st.sampled_from(["a", "b", "app", "example.com/tier"])
POOL_VALUES = st.sampled_from(["", "x", "web", "0", "1", "7", "10"])
# Label sets may hold values no selector could name (negative, signed, non-integer text).
POOL_LABELS = st.dictionaries(POOL_KEYS, st.one_of(POOL_VALUES, st.sampled_from(["-3", "+8"])))

# Selector-ish fragments reach deep into the parser far more often than random text does.
FRAGMENTS = st.sampled_from(
    [
        *("a", "b.c/d", "in", "notin", "1", "9" * 20, "-", "/", "", "x y", "\u00e9", "\x00"),
        *("=", "==", "!=", "!", "(", ")", ",", ">", "<", " ", "\t"),
    ]
)
SELECTOR_LIKE_TEXT = st.lists(FRAGMENTS, max_size=12).map("".join)


@st.composite
def requirements(
    draw: st.DrawFn,
    keys: st.SearchStrategy[str] = KEYS,
    values: st.SearchStrategy[str] = VALUES,
) -> Requirement:
    key = draw(keys)
    operator = draw(st.sampled_from(Operator))
    if operator in (Operator.IN, Operator.NOT_IN):
        chosen = draw(st.frozensets(values, min_size=1, max_size=4))
    elif operator in (Operator.GT, Operator.LT):
        integer = draw(st.one_of(INTEGERS, values.filter(str.isdigit)))
        chosen = frozenset({integer})
    else:
        chosen = frozenset()
    return Requirement(key, operator, chosen)


def selectors(
    keys: st.SearchStrategy[str] = KEYS, values: st.SearchStrategy[str] = VALUES
) -> st.SearchStrategy[LabelSelector]:
    return st.lists(requirements(keys, values), max_size=5).map(
        lambda found: LabelSelector(tuple(found))
    )


@settings(max_examples=200, deadline=None)
@given(selectors())
def test_str_round_trips(selector: LabelSelector) -> None:
    """parse_selector(str(s)) == s for every valid selector."""
    assert parse_selector(str(selector)) == selector


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), SELECTOR_LIKE_TEXT))
def test_parse_fails_only_with_selector_error(text: str) -> None:
    """parse_selector on any text returns a LabelSelector or raises SelectorError."""
    try:
        result = parse_selector(text)
    except SelectorError:
        return
    assert isinstance(result, LabelSelector)


@settings(max_examples=300, deadline=None)
@given(SELECTOR_LIKE_TEXT)
def test_parsed_text_round_trips(text: str) -> None:
    """Whatever parses prints to a canonical form that parses to the same selector."""
    try:
        selector = parse_selector(text)
    except SelectorError:
        return
    assert parse_selector(str(selector)) == selector


@settings(max_examples=300, deadline=None)
@given(selectors(POOL_KEYS, POOL_VALUES), POOL_LABELS)
def test_selector_is_and_of_requirements(selector: LabelSelector, labels: dict[str, str]) -> None:
    """A parsed selector matches exactly when every one of its requirements does."""
    parsed = parse_selector(str(selector))
    assert parsed.matches(labels) == all(r.matches(labels) for r in parsed.requirements)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(POOL_KEYS, POOL_VALUES, max_size=3),
    POOL_LABELS,
    st.booleans(),
)
def test_equality_selector_matches_supersets(
    required: dict[str, str], labels: dict[str, str], include_required: bool
) -> None:
    """A selector of k=v requirements matches exactly the label sets containing every pair."""
    if include_required:
        labels = {**labels, **required}
    selector = LabelSelector(
        tuple(Requirement(k, Operator.IN, frozenset({v})) for k, v in required.items())
    )
    expected = all(key in labels and labels[key] == value for key, value in required.items())
    assert selector.matches(labels) is expected
