"""Selector construction: parse_selector (labels.Parse), the API object forms, and str()."""

from __future__ import annotations

from typing import Any

import pytest

from nodecount_scaler.model.selector import (
    EVERYTHING,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    parse_selector,
    requirement_from_node_selector_expression,
    selector_from_label_selector,
)

IN, NOT_IN, EXISTS, DNE, GT, LT = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EXISTS,
    Operator.DOES_NOT_EXIST,
    Operator.GT,
    Operator.LT,
)

NAME_63 = "n" * 63
PREFIX_253 = ".".join(["p" * 63] * 3 + ["p" * 61])  # 4 DNS labels, 253 characters


def req(key: str, operator: Operator, *values: str) -> Requirement:
    return Requirement(key, operator, frozenset(values))


def sel(*requirements: Requirement) -> LabelSelector:
    return LabelSelector(requirements)


# --- parse_selector: accepted syntax ------------------------------------------------------------

VALID: list[tuple[str, LabelSelector]] = [
    ("", EVERYTHING),
    (" \t\r\n ", EVERYTHING),
    ("a=b", sel(req("a", IN, "b"))),
    ("a==b", sel(req("a", IN, "b"))),
    ("a!=b", sel(req("a", NOT_IN, "b"))),
    ("a in (x,y)", sel(req("a", IN, "x", "y"))),
    ("a notin (x)", sel(req("a", NOT_IN, "x"))),
    ("a", sel(req("a", EXISTS))),
    ("!a", sel(req("a", DNE))),
    ("! a", sel(req("a", DNE))),
    ("a>1", sel(req("a", GT, "1"))),
    ("a<10", sel(req("a", LT, "10"))),
    ("a>01", sel(req("a", GT, "01"))),
    ("a=", sel(req("a", IN, ""))),
    ("a!=", sel(req("a", NOT_IN, ""))),
    ("a=,b= ", sel(req("a", IN, ""), req("b", IN, ""))),
    ("a in ()", sel(req("a", IN, ""))),
    ("a notin ( )", sel(req("a", NOT_IN, ""))),
    ("a in (x,)", sel(req("a", IN, "x", ""))),
    ("a in (,x)", sel(req("a", IN, "", "x"))),
    ("a in (x,,y)", sel(req("a", IN, "x", "", "y"))),
    ("a in (x,x)", sel(req("a", IN, "x"))),
    ("a in(x)", sel(req("a", IN, "x"))),
    ("a notin(x)", sel(req("a", NOT_IN, "x"))),
    ("a in (in,notin)", sel(req("a", IN, "in", "notin"))),
    ("in in (in)", sel(req("in", IN, "in"))),
    ("notin=in", sel(req("notin", IN, "in"))),
    ("in", sel(req("in", EXISTS))),
    ("  a = b ,  c  ", sel(req("a", IN, "b"), req("c", EXISTS))),
    ("a\tin\n(x ,\ry)", sel(req("a", IN, "x", "y"))),
    ("\rx", sel(req("x", EXISTS))),
    ("x=a,a=x", sel(req("a", IN, "x"), req("x", IN, "a"))),
    ("a=b,a!=c,!a", sel(req("a", IN, "b"), req("a", NOT_IN, "c"), req("a", DNE))),
    ("a,a", sel(req("a", EXISTS), req("a", EXISTS))),
    ("example.com/app=web", sel(req("example.com/app", IN, "web"))),
    (
        "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
        sel(req("0.1.2.domain/99", NOT_IN, "10.10.100.1", "tick.tack.clock")),
    ),
    ("1234=bar", sel(req("1234", IN, "bar"))),
    ("App.Name_x-1=V_a.l-1", sel(req("App.Name_x-1", IN, "V_a.l-1"))),
    (f"{NAME_63}={NAME_63}", sel(req(NAME_63, IN, NAME_63))),
    (f"{PREFIX_253}/{NAME_63}", sel(req(f"{PREFIX_253}/{NAME_63}", EXISTS))),
    ("a>9223372036854775807", sel(req("a", GT, "9223372036854775807"))),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t) for t, _ in VALID])
def test_parse_accepts(text: str, expected: LabelSelector) -> None:
    """Text that labels.Parse accepts parses to the expected requirements."""
    assert parse_selector(text) == expected


# --- parse_selector: rejected syntax ------------------------------------------------------------

INVALID: list[tuple[str, str, str]] = [
    # (id, text, fragment of the message)
    ("double-pipe", "x=a||y=b", "invalid label value 'a||y'"),
    ("two-equals", "x==a==b", "found '=='"),
    ("not-with-value", "!x=a", "found '='"),
    ("double-not", "!!a", "expected: identifier"),
    ("lone-not", "!", "expected: identifier"),
    ("gt-not-integer", "x<a", "must be an integer"),
    ("gt-empty", "x>", "must be an integer"),
    ("gt-decimal", "x>1.5", "must be an integer"),
    ("gt-negative", "x>-1", "invalid label value '-1'"),
    ("gt-overflow", "x>9223372036854775808", "must be an integer"),
    ("gt-equals", "x>=1", "found '='"),
    ("trailing-comma", "a,", "identifier after ','"),
    ("leading-comma", ",a", "found ','"),
    ("double-comma", "a,,b", "identifier after ','"),
    ("set-then-comma", "a in (xyz),", "identifier after ','"),
    ("missing-operator", "a b", "found 'b'"),
    ("misspelt-operator", "x nott in (y)", "found 'nott'"),
    ("in-without-set", "a in", "expected: '('"),
    ("in-without-paren", "a in x", "found 'x', expected: '('"),
    ("unclosed-set", "a in (x", "expected: ',' or ')'"),
    ("unclosed-empty-set", "a notin(", "found end of string"),
    ("set-without-comma", "a in (xyz abc)", "found 'abc'"),
    ("set-with-operator", "a in (x,=)", "found '='"),
    ("set-then-identifier", "a in (xyz)b notin ()", "found 'b'"),
    ("key-then-paren", "a (", "found '('"),
    ("lone-paren", "(", "found '('"),
    ("lone-close-paren", ")", "found ')'"),
    ("leading-operator", "=a", "found '='"),
    ("value-in-parens", "a=(b)", "found '('"),
    ("two-values", "a=b c", "found 'c'"),
    ("chained-equals", "a=b=c", "found '='"),
    ("key-leading-dash", "-a", "invalid label key '-a'"),
    ("key-trailing-dash", "a-=b", "invalid label key 'a-'"),
    ("key-name-too-long", "k" * 64, "no more than 63"),
    ("key-empty-prefix", "/a", "prefix part must be non-empty"),
    ("key-empty-name", "a/", "name part must be non-empty"),
    ("key-two-slashes", "a/b/c", "optional DNS subdomain prefix"),
    ("key-uppercase-prefix", "Example.com/a", "DNS-1123 subdomain"),
    ("key-prefix-too-long", f"p{PREFIX_253}/a", "no more than 253"),
    ("key-non-breaking-space", "a\u00a0=b", "invalid label key"),
    ("key-non-ascii", "clé", "invalid label key"),
    ("value-leading-dash", "a=-b", "invalid label value '-b'"),
    ("value-too-long", "a=" + "v" * 64, "no more than 63"),
    ("value-non-ascii-digit", "a>\u0663", "must be an integer"),
    ("set-value-invalid", "a in (ok,no!)", "found '!'"),
    ("nul-terminates-go-lexer", "a\x00,garbage", "NUL"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_parse_rejects(text: str, fragment: str) -> None:
    """Text that labels.Parse rejects raises SelectorError naming the problem."""
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert fragment in str(caught.value)


def test_parse_error_names_position_and_token() -> None:
    """A syntax error message carries the offset and the offending token."""
    with pytest.raises(SelectorError, match=r"at position 4: found 'c'"):
        parse_selector("a=b c")


def test_parse_error_message_is_bounded() -> None:
    """A huge invalid input does not produce a huge message."""
    with pytest.raises(SelectorError) as caught:
        parse_selector("-" * 100_000)
    assert len(str(caught.value)) < 1_000


def test_parse_rejects_non_string() -> None:
    """A non-string argument is a SelectorError, not a TypeError."""
    with pytest.raises(SelectorError):
        parse_selector(None)  # type: ignore[arg-type]


def test_selector_error_is_value_error() -> None:
    """SelectorError can be handled as ValueError."""
    assert issubclass(SelectorError, ValueError)


# --- canonical form -----------------------------------------------------------------------------

CANONICAL: list[tuple[str, str]] = [
    ("", ""),
    ("a in (b)", "a=b"),
    ("a==b", "a=b"),
    ("a notin (b)", "a!=b"),
    ("a in (y,x)", "a in (x,y)"),
    ("a notin (y,x)", "a notin (x,y)"),
    ("a in ()", "a="),
    ("a in (x,)", "a in (,x)"),
    ("a", "a"),
    ("! a", "!a"),
    ("a > 5", "a>5"),
    ("a < 5", "a<5"),
    ("b, a", "a,b"),
    ("z=1,!y,x notin (p,q),w in (r,s),v>3,u<4", "u<4,v>3,w in (r,s),x notin (p,q),!y,z=1"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL, ids=[repr(t) for t, _ in CANONICAL])
def test_str_is_canonical(text: str, canonical: str) -> None:
    """str() prints kubectl syntax, sorted by key, with the shortest operator spelling."""
    assert str(parse_selector(text)) == canonical


def test_requirement_order_ignores_input_order() -> None:
    """Requirements are sorted by key, then operator, so input order does not matter."""
    forward = sel(req("b", EXISTS), req("a", NOT_IN, "x"), req("a", IN, "y"))
    backward = sel(req("a", IN, "y"), req("a", NOT_IN, "x"), req("b", EXISTS))
    assert forward == backward
    assert hash(forward) == hash(backward)
    assert [r.operator for r in forward.requirements] == [IN, NOT_IN, EXISTS]


def test_everything_is_the_empty_selector() -> None:
    """EVERYTHING is LabelSelector(()) and is empty."""
    assert LabelSelector(()) == EVERYTHING
    assert EVERYTHING.is_empty()


def test_non_empty_selector_is_not_empty() -> None:
    """A selector with a requirement is not empty."""
    assert not parse_selector("a").is_empty()


def test_keys_lists_each_key_once() -> None:
    """keys is the set of label keys the selector looks at."""
    assert parse_selector("a=1,a!=2,!b,c>3").keys == frozenset({"a", "b", "c"})


def test_requirement_accepts_operator_string() -> None:
    """A plain operator string is stored as the Operator member."""
    requirement = Requirement("a", "In", frozenset({"b"}))  # type: ignore[arg-type]
    assert requirement.operator is Operator.IN


# --- Requirement construction (labels.NewRequirement) ---------------------------------------

BAD_REQUIREMENTS: list[tuple[str, Any, Any, Any]] = [
    # (id, key, operator, values)
    ("in-no-values", "a", IN, frozenset()),
    ("notin-no-values", "a", NOT_IN, frozenset()),
    ("exists-with-value", "a", EXISTS, frozenset({"x"})),
    ("does-not-exist-with-value", "a", DNE, frozenset({""})),
    ("gt-two-values", "a", GT, frozenset({"1", "2"})),
    ("lt-no-value", "a", LT, frozenset()),
    ("gt-not-integer", "a", GT, frozenset({"one"})),
    ("gt-negative", "a", GT, frozenset({"-1"})),
    ("invalid-key", "A B", EXISTS, frozenset()),
    ("empty-key", "", EXISTS, frozenset()),
    ("invalid-value", "a", IN, frozenset({"x y"})),
    ("unknown-operator", "a", "Equals", frozenset({"x"})),
    ("values-as-list", "a", IN, ["x"]),
    ("values-as-string", "a", IN, "x"),
    ("non-string-value", "a", IN, frozenset({1})),
    ("non-string-key", 1, EXISTS, frozenset()),
]


@pytest.mark.parametrize(
    ("key", "operator", "values"),
    [c[1:] for c in BAD_REQUIREMENTS],
    ids=[c[0] for c in BAD_REQUIREMENTS],
)
def test_requirement_rejects(key: Any, operator: Any, values: Any) -> None:
    """Requirement() refuses what labels.NewRequirement refuses."""
    with pytest.raises(SelectorError):
        Requirement(key, operator, values)


def test_invalid_key_message_quotes_key() -> None:
    """The message names the offending key."""
    with pytest.raises(SelectorError, match=r"invalid label key 'A B': "):
        req("A B", EXISTS)


# --- selector_from_label_selector (metav1.LabelSelectorAsSelector) -----------------------------

FROM_LABEL_SELECTOR: list[tuple[str, Any, LabelSelector]] = [
    ("none", None, EVERYTHING),
    ("empty", {}, EVERYTHING),
    ("empty-parts", {"matchLabels": {}, "matchExpressions": []}, EVERYTHING),
    ("null-parts", {"matchLabels": None, "matchExpressions": None}, EVERYTHING),
    ("match-labels", {"matchLabels": {"app": "web", "tier": ""}}, parse_selector("app=web,tier=")),
    (
        "expressions",
        {
            "matchExpressions": [
                {"key": "a", "operator": "In", "values": ["x", "y"]},
                {"key": "b", "operator": "NotIn", "values": ["z"]},
                {"key": "c", "operator": "Exists"},
                {"key": "d", "operator": "DoesNotExist", "values": []},
                {"key": "e", "operator": "Exists", "values": None},
            ]
        },
        parse_selector("a in (x,y),b!=z,c,!d,e"),
    ),
    (
        "both-parts",
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "app", "operator": "Exists"}]},
        parse_selector("app=web,app"),
    ),
    ("unknown-fields-ignored", {"matchLabels": {"a": "b"}, "extra": 1}, parse_selector("a=b")),
]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [c[1:] for c in FROM_LABEL_SELECTOR],
    ids=[c[0] for c in FROM_LABEL_SELECTOR],
)
def test_label_selector_object(obj: Any, expected: LabelSelector) -> None:
    """A metav1.LabelSelector JSON object converts like LabelSelectorAsSelector."""
    assert selector_from_label_selector(obj) == expected


BAD_LABEL_SELECTORS: list[tuple[str, Any]] = [
    ("not-an-object", ["app=web"]),
    ("match-labels-list", {"matchLabels": [["a", "b"]]}),
    ("match-labels-int-value", {"matchLabels": {"a": 1}}),
    ("match-labels-invalid-key", {"matchLabels": {"A B": "x"}}),
    ("match-labels-invalid-value", {"matchLabels": {"a": "x y"}}),
    ("expressions-object", {"matchExpressions": {"key": "a", "operator": "Exists"}}),
    ("expressions-string", {"matchExpressions": "a"}),
    ("expression-not-object", {"matchExpressions": ["a"]}),
    ("expression-no-key", {"matchExpressions": [{"operator": "Exists"}]}),
    ("expression-no-operator", {"matchExpressions": [{"key": "a"}]}),
    ("expression-gt", {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
    ("expression-lowercase-op", {"matchExpressions": [{"key": "a", "operator": "in"}]}),
    ("in-no-values", {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
    ("notin-null-values", {"matchExpressions": [{"key": "a", "operator": "NotIn"}]}),
    ("exists-values", {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
    ("values-string", {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}),
    ("values-int", {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
]


@pytest.mark.parametrize(
    "obj", [c[1] for c in BAD_LABEL_SELECTORS], ids=[c[0] for c in BAD_LABEL_SELECTORS]
)
def test_label_selector_object_rejects(obj: Any) -> None:
    """A malformed metav1.LabelSelector raises SelectorError."""
    with pytest.raises(SelectorError):
        selector_from_label_selector(obj)


def test_label_selector_error_names_location() -> None:
    """The message says which expression is wrong."""
    obj = {
        "matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "-", "operator": "Exists"}]
    }
    with pytest.raises(SelectorError, match=r"^matchExpressions\[1\]: invalid label key '-'"):
        selector_from_label_selector(obj)


# --- requirement_from_node_selector_expression (nodeaffinity) -----------------------------------

FROM_NODE_EXPRESSION: list[tuple[str, dict[str, Any], Requirement]] = [
    ("in", {"key": "zone", "operator": "In", "values": ["a", "b"]}, req("zone", IN, "a", "b")),
    ("notin", {"key": "zone", "operator": "NotIn", "values": ["a"]}, req("zone", NOT_IN, "a")),
    ("exists", {"key": "gpu", "operator": "Exists"}, req("gpu", EXISTS)),
    ("exists-empty-values", {"key": "gpu", "operator": "Exists", "values": []}, req("gpu", EXISTS)),
    ("does-not-exist", {"key": "gpu", "operator": "DoesNotExist"}, req("gpu", DNE)),
    ("gt", {"key": "cores", "operator": "Gt", "values": ["4"]}, req("cores", GT, "4")),
    ("lt", {"key": "cores", "operator": "Lt", "values": ["16"]}, req("cores", LT, "16")),
    (
        "prefixed-key",
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]},
        req("kubernetes.io/hostname", IN, "n1"),
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [c[1:] for c in FROM_NODE_EXPRESSION],
    ids=[c[0] for c in FROM_NODE_EXPRESSION],
)
def test_node_selector_expression(obj: dict[str, Any], expected: Requirement) -> None:
    """A NodeSelectorRequirement converts to the matching Requirement."""
    assert requirement_from_node_selector_expression(obj) == expected


BAD_NODE_EXPRESSIONS: list[tuple[str, Any]] = [
    ("not-object", "zone in (a)"),
    ("no-key", {"operator": "Exists"}),
    ("invalid-key", {"key": "A B", "operator": "Exists"}),
    ("unknown-operator", {"key": "a", "operator": "Equals", "values": ["x"]}),
    ("in-no-values", {"key": "a", "operator": "In", "values": []}),
    ("notin-no-values", {"key": "a", "operator": "NotIn"}),
    ("exists-with-values", {"key": "a", "operator": "Exists", "values": ["x"]}),
    ("does-not-exist-with-values", {"key": "a", "operator": "DoesNotExist", "values": [""]}),
    ("gt-no-value", {"key": "a", "operator": "Gt"}),
    ("gt-two-values", {"key": "a", "operator": "Gt", "values": ["1", "2"]}),
    ("gt-repeated-value", {"key": "a", "operator": "Gt", "values": ["1", "1"]}),
    ("gt-not-integer", {"key": "a", "operator": "Gt", "values": ["x"]}),
    ("lt-float", {"key": "a", "operator": "Lt", "values": ["1.5"]}),
    # NewRequirement also checks values as label values, so a negative bound fails there.
    ("lt-negative", {"key": "a", "operator": "Lt", "values": ["-1"]}),
    ("in-invalid-value", {"key": "a", "operator": "In", "values": ["x y"]}),
    ("values-int", {"key": "a", "operator": "Gt", "values": [1]}),
]


@pytest.mark.parametrize(
    "obj", [c[1] for c in BAD_NODE_EXPRESSIONS], ids=[c[0] for c in BAD_NODE_EXPRESSIONS]
)
def test_node_selector_expression_rejects(obj: Any) -> None:
    """A NodeSelectorRequirement the scheduler cannot use raises SelectorError."""
    with pytest.raises(SelectorError):
        requirement_from_node_selector_expression(obj)
