"""Strict number grammars: one regular grammar each, bounded digits, never an exception."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.model.numbers import (
    NumberError,
    parse_decimal,
    parse_int,
    parse_positive_decimal,
)

# The number classes a hostile or careless value can take (issue reproduction cases).
HOSTILE = {
    "double-minus": "--1",
    "plus-minus": "+-1",
    "superscript-two": "\u00b2",
    "arabic-indic-three": "\u0663",
    "fullwidth-one": "\uff11",
    "underscore": "1_000",
    "5000-digits": "9" * 5000,
    "tiny-exponent": "1e-999999",
    "huge-exponent": "1e999999",
    "10000-characters": "x" * 10_000,
    "nan": "nan",
    "infinity": "inf",
    "empty": "",
    "inner-space": "1 2",
    "hex": "0x10",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("7", 7), ("007", 7), (" 3 ", 3), ("\t12\n", 12), ("2147483647", 2**31 - 1)],
    ids=["zero", "seven", "leading-zeros", "spaces", "tab-newline", "int32-max"],
)
def test_int_accepts_plain_digits(text: str, expected: int) -> None:
    """ASCII digits, surrounding spaces forgiven."""
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_int_rejects_every_hostile_class(text: str) -> None:
    """Every class gets a typed error, not an exception and not a number."""
    assert isinstance(parse_int(text), NumberError)


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "problem"),
    [
        ("-1", 0, 10, "must be 0 or more"),
        ("11", 0, 10, "must be at most 10"),
        ("-" + "9" * 40, 0, 10, "must be 0 or more"),
        ("9" * 40, 0, 10, "must be at most 10"),
        ("0", 1, 64, "must be 1 or more"),
        ("2147483648", 0, 2**31 - 1, "must be at most 2147483647"),
    ],
    ids=["negative", "above", "long-negative", "long-positive", "below-one", "int32-overflow"],
)
def test_int_range_problems_name_the_bound(
    text: str, minimum: int, maximum: int, problem: str
) -> None:
    """Out-of-range values say which bound they break."""
    result = parse_int(text, minimum=minimum, maximum=maximum)
    assert isinstance(result, NumberError)
    assert result.problem == problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", Fraction(3)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("2.", Fraction(2)),
        (" 0.1 ", Fraction(1, 10)),
        ("0.000000000000000001", Fraction(1, 10**18)),
    ],
    ids=["int", "half", "leading-dot", "trailing-dot", "spaces", "eighteen-places"],
)
def test_decimal_is_exact(text: str, expected: Fraction) -> None:
    """Decimals are parsed exactly, as fractions."""
    assert parse_decimal(text) == expected


@pytest.mark.parametrize(
    "text",
    [*HOSTILE.values(), "-2", ".", "1.2.3", "1e3"],
    ids=[*HOSTILE, "negative", "dot", "two-dots", "exponent"],
)
def test_decimal_rejects_every_hostile_class(text: str) -> None:
    """No exponent, no sign, no non-ASCII digit, bounded digits."""
    assert isinstance(parse_decimal(text), NumberError)


def test_decimal_digit_bound_is_checked_before_conversion() -> None:
    """19 significant digits is too many, however they are spelled."""
    result = parse_decimal("1234567890.123456789")
    assert isinstance(result, NumberError)
    assert "too many digits" in result.problem


@pytest.mark.parametrize("text", ["0", "0.0", "000.000"], ids=["zero", "zero-decimal", "zeros"])
def test_positive_decimal_rejects_zero(text: str) -> None:
    """Zero nodes per replica would divide by zero: refused."""
    result = parse_positive_decimal(text)
    assert isinstance(result, NumberError)
    assert result.problem == "must be greater than 0"
