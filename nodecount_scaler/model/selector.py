"""Kubernetes label selectors: the kubectl string syntax, the API object forms, and matching.

Semantics follow k8s.io/apimachinery/pkg/labels (selector.go: Lexer, Parser, NewRequirement,
Requirement.Matches), k8s.io/apimachinery/pkg/util/validation (label keys and values),
metav1.LabelSelectorAsSelector and the nodeaffinity helpers of k8s.io/component-helpers.

Upstream keeps Equals/DoubleEquals/NotEquals as operators of their own; they match exactly like
In/NotIn with one value, so here "a=b" and "a in (b)" are the same Requirement (Operator.IN) and
print as "a=b".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "EVERYTHING",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "parse_selector",
    "requirement_from_node_selector_expression",
    "selector_from_label_selector",
]


class SelectorError(ValueError):
    """A selector (string or API object) that Kubernetes itself would reject."""


class Operator(enum.StrEnum):
    """Requirement operators, spelled as in LabelSelectorRequirement / NodeSelectorRequirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


# --- validation (k8s.io/apimachinery/pkg/util/validation) -------------------------------------

# Character classes are spelled out rather than \w or [[:alnum:]] so that only ASCII passes, as
# with Go's regexp on bytes; every pattern is used with fullmatch so that "$" cannot accept a
# trailing newline.
_LABEL_NAME_RE: Final = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_RE: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_LABEL_NAME_MAX_LENGTH: Final = 63  # validation.LabelValueMaxLength / qualifiedNameMaxLength
_DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
_LABEL_NAME_RULE: Final = (
    "consist of alphanumeric characters, '-', '_' or '.', "
    "and start and end with an alphanumeric character"
)

# strconv.ParseInt(s, 10, 64): an optional sign and ASCII digits (leading zeros allowed), within
# int64. Python's int() is looser (whitespace, '_', non-ASCII digits), hence the explicit check.
_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INT64_MAX_DIGITS: Final = 19


def _shorten(text: str, limit: int = 80) -> str:
    """repr() of text, cut so that a huge input cannot make a huge error message."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"


def _describe(value: object) -> str:
    """A short rendering of a JSON value for an error message."""
    return _shorten(value) if isinstance(value, str) else type(value).__name__


def label_key_problem(key: str) -> str | None:
    """Why key is not a valid label key (IsQualifiedName / content.IsLabelKey), or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return "a label key is an optional DNS subdomain prefix and '/' and a name"
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > _DNS1123_SUBDOMAIN_MAX_LENGTH:
            return f"prefix part must be no more than {_DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        if _DNS1123_SUBDOMAIN_RE.fullmatch(prefix) is None:
            return (
                "prefix part must be a DNS-1123 subdomain: lower case alphanumeric characters, "
                "'-' or '.', starting and ending with an alphanumeric character"
            )
    name = parts[-1]
    if not name:
        return "name part must be non-empty"
    if len(name) > _LABEL_NAME_MAX_LENGTH:
        return f"name part must be no more than {_LABEL_NAME_MAX_LENGTH} characters"
    if _LABEL_NAME_RE.fullmatch(name) is None:
        return "name part must " + _LABEL_NAME_RULE
    return None


def _label_value_problem(value: str) -> str | None:
    """Why value is not a valid label value (IsValidLabelValue), or None; "" is valid."""
    if len(value) > _LABEL_NAME_MAX_LENGTH:
        return f"must be no more than {_LABEL_NAME_MAX_LENGTH} characters"
    if value and _LABEL_NAME_RE.fullmatch(value) is None:
        return "must be empty or " + _LABEL_NAME_RULE
    return None


def _parse_int64(text: str) -> int | None:
    """The value of text under strconv.ParseInt(text, 10, 64), or None where Go errors."""
    if _INT_RE.fullmatch(text) is None:
        return None
    # Drop sign and leading zeros (which ParseInt accepts) and bound the digit count before
    # int(), so long digit strings stay cheap and below Python's int/str conversion limit.
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > _INT64_MAX_DIGITS:
        return None
    value = -int(digits) if text.startswith("-") else int(digits)
    if not _INT64_MIN <= value <= _INT64_MAX:
        return None
    return value


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a selector; construction validates like labels.NewRequirement.

    Raises SelectorError if the key is not a label key, a value is not a label value, or the
    number of values does not suit the operator (In/NotIn: at least one; Exists/DoesNotExist:
    none; Gt/Lt: exactly one, an int64).
    """

    key: str
    operator: Operator
    values: frozenset[str]

    def __post_init__(self) -> None:
        try:
            operator = Operator(self.operator)
        except ValueError:
            raise SelectorError(
                f"invalid operator {self.operator!r} for key {_shorten(str(self.key))}: "
                f"expected one of {', '.join(op.value for op in Operator)}"
            ) from None
        # Store the enum member even if a plain string was passed, so str() and `is` work.
        object.__setattr__(self, "operator", operator)
        if not isinstance(self.key, str):
            raise SelectorError(f"label key must be a string, got {type(self.key).__name__}")
        if not isinstance(self.values, frozenset) or not all(
            isinstance(v, str) for v in self.values
        ):
            raise SelectorError(
                f"values of {_shorten(self.key)} must be a frozenset of strings, "
                f"got {type(self.values).__name__}"
            )
        problem = label_key_problem(self.key)
        if problem is not None:
            raise SelectorError(f"invalid label key {_shorten(self.key)}: {problem}")
        self._check_values_for_operator(operator)
        for value in sorted(self.values):
            problem = _label_value_problem(value)
            if problem is not None:
                raise SelectorError(
                    f"invalid label value {_shorten(value)} for key {self.key!r}: {problem}"
                )

    def _check_values_for_operator(self, operator: Operator) -> None:
        """The value-count and Gt/Lt integer rules of labels.NewRequirement."""
        count = len(self.values)
        if operator in (Operator.IN, Operator.NOT_IN) and count == 0:
            raise SelectorError(f"{self.key!r} {operator}: values set can't be empty")
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and count != 0:
            raise SelectorError(f"{self.key!r} {operator}: values set must be empty")
        if operator in (Operator.GT, Operator.LT):
            if count != 1:
                raise SelectorError(
                    f"{self.key!r} {operator}: exactly one value is required, got {count}"
                )
            (value,) = self.values
            if _parse_int64(value) is None:
                raise SelectorError(
                    f"{self.key!r} {operator}: value {_shorten(value)} must be an integer"
                )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Requirement.Matches: whether a label set satisfies this requirement."""
        operator = self.operator
        present = self.key in labels
        if operator is Operator.EXISTS:
            return present
        if operator is Operator.DOES_NOT_EXIST:
            return not present
        if operator is Operator.IN:
            return present and labels[self.key] in self.values
        if operator is Operator.NOT_IN:
            # A missing label satisfies NotIn ("notin" also selects objects without the key).
            return not present or labels[self.key] not in self.values
        # Gt / Lt: the label must exist and parse as an int64, else no match (not an error).
        if not present:
            return False
        actual = _parse_int64(labels[self.key])
        (bound_text,) = self.values
        bound = _parse_int64(bound_text)
        if actual is None or bound is None:
            return False
        return actual > bound if operator is Operator.GT else actual < bound

    def __str__(self) -> str:
        """Requirement.String, in the kubectl syntax that parse_selector reads back."""
        values = sorted(self.values)
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return "!" + self.key
            case Operator.GT:
                return f"{self.key}>{values[0]}"
            case Operator.LT:
                return f"{self.key}<{values[0]}"
            case Operator.IN if len(values) == 1:
                return f"{self.key}={values[0]}"
            case Operator.NOT_IN if len(values) == 1:
                return f"{self.key}!={values[0]}"
            case Operator.IN:
                return f"{self.key} in ({','.join(values)})"
            case _:
                return f"{self.key} notin ({','.join(values)})"


def _requirement_order(requirement: Requirement) -> tuple[str, str, tuple[str, ...]]:
    # Upstream sorts by key only (sort.Sort(ByKey)); operator and values break ties so that the
    # order, and hence equality and str(), never depends on input order.
    return requirement.key, requirement.operator.value, tuple(sorted(requirement.values))


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of requirements, kept sorted so that equal selectors compare equal."""

    requirements: tuple[Requirement, ...]

    def __post_init__(self) -> None:
        requirements = tuple(self.requirements)
        for requirement in requirements:
            if not isinstance(requirement, Requirement):
                raise SelectorError(
                    f"selector requirements must be Requirement, got {type(requirement).__name__}"
                )
        object.__setattr__(
            self, "requirements", tuple(sorted(requirements, key=_requirement_order))
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True if every requirement matches; the empty selector matches every label set."""
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def keys(self) -> frozenset[str]:
        """The label keys the selector looks at."""
        return frozenset(requirement.key for requirement in self.requirements)

    def is_empty(self) -> bool:
        """Selector.Empty: no requirement, so no restriction."""
        return not self.requirements

    def __str__(self) -> str:
        """Selector.String: requirements joined with ","; "" for the empty selector."""
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING: Final[LabelSelector] = LabelSelector(())


# --- the string syntax (labels.Parse) ---------------------------------------------------------


class _Kind(enum.Enum):
    END = enum.auto()
    IDENTIFIER = enum.auto()
    NOT = enum.auto()  # "!" (DoesNotExistToken)
    EQUALS = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    NOT_EQUALS = enum.auto()
    GREATER = enum.auto()
    LESS = enum.auto()
    IN = enum.auto()
    NOT_IN = enum.auto()
    OPEN = enum.auto()
    CLOSE = enum.auto()
    COMMA = enum.auto()


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str
    position: int

    def describe(self) -> str:
        return "end of string" if self.kind is _Kind.END else _shorten(self.text)


# Lexer.isWhitespace: only these four; any other character (e.g. a non-breaking space) is part of
# an identifier and then fails key/value validation.
_WHITESPACE: Final = frozenset(" \t\r\n")
# Lexer.isSpecialSymbol: these end an identifier.
_SPECIAL: Final = frozenset("=!(),><")
_SYMBOLS: Final[Mapping[str, _Kind]] = {
    "==": _Kind.DOUBLE_EQUALS,
    "!=": _Kind.NOT_EQUALS,
    "=": _Kind.EQUALS,
    "!": _Kind.NOT,
    ">": _Kind.GREATER,
    "<": _Kind.LESS,
    "(": _Kind.OPEN,
    ")": _Kind.CLOSE,
    ",": _Kind.COMMA,
}
_KEYWORDS: Final[Mapping[str, _Kind]] = {"in": _Kind.IN, "notin": _Kind.NOT_IN}


def _tokenize(text: str) -> list[_Token]:
    """Lexer.Lex until the end: identifiers, keywords and the longest symbol at each point."""
    tokens: list[_Token] = []
    position = 0
    length = len(text)
    while True:
        while position < length and text[position] in _WHITESPACE:
            position += 1
        if position == length:
            tokens.append(_Token(_Kind.END, "", position))
            return tokens
        start = position
        if text[position] in _SPECIAL:
            # scanSpecialSymbol keeps the longest prefix that is a symbol; none is longer than 2.
            pair = text[position : position + 2]
            symbol = pair if pair in _SYMBOLS else text[position]
            position += len(symbol)
            tokens.append(_Token(_SYMBOLS[symbol], symbol, start))
            continue
        while (
            position < length
            and text[position] not in _SPECIAL
            and text[position] not in _WHITESPACE
        ):
            position += 1
        word = text[start:position]
        tokens.append(_Token(_KEYWORDS.get(word, _Kind.IDENTIFIER), word, start))


class _Parser:
    """labels.Parser: recursive descent over the token list, one token of lookahead."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _tokenize(text)
        self._index = 0

    def _error(self, token: _Token, message: str) -> SelectorError:
        return SelectorError(
            f"invalid selector {_shorten(self._text)} at position {token.position}: {message}"
        )

    # Parser context "Values": wherever a key or value may stand, "in" and "notin" are plain
    # identifiers ("in in (in)" is valid); only _next_operator sees them as keywords.
    def _peek(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind in (_Kind.IN, _Kind.NOT_IN):
            return _Token(_Kind.IDENTIFIER, token.text, token.position)
        return token

    def _next(self) -> _Token:
        token = self._peek()
        self._index += 1
        return token

    def _next_operator(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token = self._peek()
            if token.kind is _Kind.END:
                return requirements
            if token.kind not in (_Kind.IDENTIFIER, _Kind.NOT):
                raise self._error(
                    token, f"found {token.describe()}, expected: '!', identifier, or end of string"
                )
            requirements.append(self._requirement())
            token = self._next()
            if token.kind is _Kind.END:
                return requirements
            if token.kind is not _Kind.COMMA:
                raise self._error(
                    token, f"found {token.describe()}, expected: ',' or end of string"
                )
            # A trailing or doubled comma is an error upstream, not an empty requirement.
            after = self._peek()
            if after.kind not in (_Kind.IDENTIFIER, _Kind.NOT):
                raise self._error(
                    after, f"found {after.describe()}, expected: identifier after ','"
                )

    def _requirement(self) -> Requirement:
        start = self._peek()
        key, inferred = self._key_and_inferred_operator()
        if inferred is not None:
            return self._build(start, key, inferred, frozenset())
        operator_token = self._next_operator()
        match operator_token.kind:
            case _Kind.IN | _Kind.NOT_IN:
                operator = Operator.IN if operator_token.kind is _Kind.IN else Operator.NOT_IN
                values = self._value_set()
            case _Kind.EQUALS | _Kind.DOUBLE_EQUALS:
                operator, values = Operator.IN, self._exact_value()
            case _Kind.NOT_EQUALS:
                operator, values = Operator.NOT_IN, self._exact_value()
            case _Kind.GREATER:
                operator, values = Operator.GT, self._exact_value()
            case _Kind.LESS:
                operator, values = Operator.LT, self._exact_value()
            case _:
                raise self._error(
                    operator_token,
                    f"found {operator_token.describe()}, expected: "
                    "in, notin, =, ==, !=, >, <, ',' or end of string",
                )
        return self._build(start, key, operator, values)

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        """parseKeyAndInferOperator: [!] KEY, inferring Exists before ',' or the end."""
        token = self._next()
        negated = token.kind is _Kind.NOT
        if negated:
            token = self._next()
        if token.kind is not _Kind.IDENTIFIER:
            raise self._error(token, f"found {token.describe()}, expected: identifier")
        problem = label_key_problem(token.text)
        if problem is not None:
            raise self._error(token, f"invalid label key {_shorten(token.text)}: {problem}")
        if negated:
            # "!key" takes no operator; whatever follows must be ',' or the end (checked by
            # parse), so "!a=b" is an error as upstream.
            return token.text, Operator.DOES_NOT_EXIST
        if self._peek().kind in (_Kind.END, _Kind.COMMA):
            return token.text, Operator.EXISTS
        return token.text, None

    def _value_set(self) -> frozenset[str]:
        """parseValues: "(" [values] ")"; "()" and empty list entries stand for the value ""."""
        token = self._next()
        if token.kind is not _Kind.OPEN:
            raise self._error(token, f"found {token.describe()}, expected: '('")
        token = self._peek()
        if token.kind is _Kind.CLOSE:
            self._next()
            return frozenset({""})
        if token.kind not in (_Kind.IDENTIFIER, _Kind.COMMA):
            raise self._error(token, f"found {token.describe()}, expected: ',', ')' or identifier")
        values = self._identifier_list()
        self._next()  # the ")" that ended the list
        return frozenset(values)

    def _identifier_list(self) -> set[str]:
        """parseIdentifiersList: a comma-separated list whose empty entries mean ""."""
        values: set[str] = set()
        while True:
            token = self._next()
            if token.kind is _Kind.IDENTIFIER:
                values.add(token.text)
                after = self._peek()
                if after.kind is _Kind.CLOSE:
                    return values
                if after.kind is not _Kind.COMMA:
                    raise self._error(after, f"found {after.describe()}, expected: ',' or ')'")
            elif token.kind is _Kind.COMMA:
                after = self._peek()
                # "(,", ",," and ",)" each stand for an empty value.
                if not values or after.kind in (_Kind.COMMA, _Kind.CLOSE):
                    values.add("")
                if after.kind is _Kind.CLOSE:
                    return values
            else:
                raise self._error(token, f"found {token.describe()}, expected: ',' or identifier")

    def _exact_value(self) -> frozenset[str]:
        """parseExactValue: one identifier, or "" when ',' or the end follows the operator."""
        if self._peek().kind in (_Kind.END, _Kind.COMMA):
            return frozenset({""})
        token = self._next()
        if token.kind is not _Kind.IDENTIFIER:
            raise self._error(token, f"found {token.describe()}, expected: identifier")
        return frozenset({token.text})

    def _build(
        self, start: _Token, key: str, operator: Operator, values: frozenset[str]
    ) -> Requirement:
        try:
            return Requirement(key, operator, values)
        except SelectorError as exc:
            raise self._error(start, str(exc)) from None


def parse_selector(text: str) -> LabelSelector:
    """labels.Parse: the kubectl selector syntax; "" (or only whitespace) selects everything.

    Raises SelectorError, and no other exception, for any text upstream rejects.
    """
    if not isinstance(text, str):
        raise SelectorError(f"a selector must be a string, got {type(text).__name__}")
    # Go's lexer reads a NUL byte as the end of input and silently drops the rest; accepting a
    # truncated selector would be worse than refusing it.
    nul = text.find("\x00")
    if nul != -1:
        raise SelectorError(
            f"invalid selector {_shorten(text)} at position {nul}: NUL character not allowed"
        )
    requirements = _Parser(text).parse()
    if not requirements:
        return EVERYTHING
    return LabelSelector(tuple(requirements))


# --- API objects --------------------------------------------------------------------------------

_LABEL_SELECTOR_OPERATORS: Final = frozenset(
    {Operator.IN, Operator.NOT_IN, Operator.EXISTS, Operator.DOES_NOT_EXIST}
)


def _string_list(raw: object, where: str) -> tuple[str, ...]:
    """A JSON list of strings, null or absent meaning empty."""
    if raw is None:
        return ()
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise SelectorError(f"{where}: must be a list of strings, got {type(raw).__name__}")
    for item in raw:
        if not isinstance(item, str):
            raise SelectorError(
                f"{where}: must be a list of strings, got a {type(item).__name__} item"
            )
    return tuple(raw)


def _expression(raw: object, where: str, allowed: frozenset[Operator]) -> Requirement:
    """One {"key", "operator", "values"} entry, validated by Requirement (NewRequirement)."""
    if not isinstance(raw, Mapping):
        raise SelectorError(f"{where}: must be an object, got {type(raw).__name__}")
    key = raw.get("key")
    if not isinstance(key, str):
        raise SelectorError(f"{where}.key: must be a string, got {type(key).__name__}")
    operator_text = raw.get("operator")
    if not isinstance(operator_text, str) or operator_text not in allowed:
        raise SelectorError(
            f"{where}.operator: {_describe(operator_text)} is not one of "
            f"{', '.join(sorted(allowed))}"
        )
    operator = Operator(operator_text)
    values = _string_list(raw.get("values"), where + ".values")
    if operator in (Operator.GT, Operator.LT) and len(values) != 1:
        # NewRequirement counts the list, so ["1", "1"] is two values here, not one.
        raise SelectorError(
            f"{where}: {_describe(key)} {operator}: exactly one value is required, "
            f"got {len(values)}"
        )
    try:
        return Requirement(key, operator, frozenset(values))
    except SelectorError as exc:
        raise SelectorError(f"{where}: {exc}") from None


def selector_from_label_selector(obj: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector for the JSON form (e.g. a Deployment's spec.selector).

    An absent/null/empty object, or one with no matchLabels and no matchExpressions, selects
    everything. (Upstream maps a nil *LabelSelector to Nothing, but a Deployment's selector is
    required, so the JSON form never carries that distinction.)
    """
    if obj is None:
        return EVERYTHING
    if not isinstance(obj, Mapping):
        raise SelectorError(f"label selector must be an object, got {type(obj).__name__}")
    match_labels = obj.get("matchLabels")
    if match_labels is None:
        match_labels = {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError(f"matchLabels: must be an object, got {type(match_labels).__name__}")
    expressions = obj.get("matchExpressions")
    if expressions is None:
        expressions = ()
    if isinstance(expressions, str | bytes) or not isinstance(expressions, Sequence):
        raise SelectorError(f"matchExpressions: must be a list, got {type(expressions).__name__}")
    requirements: list[Requirement] = []
    for key, value in match_labels.items():
        where = f"matchLabels[{_describe(key)}]"
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError(f"{where}: keys and values must be strings")
        try:
            # matchLabels entries are Equals requirements, i.e. In with one value.
            requirements.append(Requirement(key, Operator.IN, frozenset({value})))
        except SelectorError as exc:
            raise SelectorError(f"{where}: {exc}") from None
    for index, expression in enumerate(expressions):
        requirements.append(
            _expression(expression, f"matchExpressions[{index}]", _LABEL_SELECTOR_OPERATORS)
        )
    if not requirements:
        return EVERYTHING
    return LabelSelector(tuple(requirements))


def requirement_from_node_selector_expression(obj: Mapping[str, Any]) -> Requirement:
    """One NodeSelectorRequirement (a nodeSelectorTerms[].matchExpressions entry).

    Validated as nodeaffinity.nodeSelectorRequirementsAsSelector does, i.e. by NewRequirement:
    besides the operator/value-count rules, every value must be a label value, so a Gt/Lt
    bound is a non-negative integer. The API server accepts some expressions that fail here
    (it only checks the key and value counts); the scheduler then treats the whole term as
    matching no node, which is what callers should do with this SelectorError.
    """
    return _expression(obj, "expression", frozenset(Operator))
