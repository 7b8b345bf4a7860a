"""Kubernetes quantity strings to exact values: upstream's table, its invalid list, our bounds."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodecount_scaler.limits import QUANTITY_MAX_EXPONENT, QUANTITY_MAX_LENGTH
from nodecount_scaler.model.quantity import QuantityError, parse_quantity


def dec(mantissa: int, exponent: int) -> Fraction:
    """upstream's decQuantity(i, exponent): i * 10^exponent."""
    return Fraction(mantissa) * Fraction(10) ** exponent


MAX_ALLOWED = Fraction(2**63 - 1)  # upstream maxAllowed, the BinarySI cap
KI, MI, GI, TI = 2**10, 2**20, 2**30, 2**40

# TestQuantityParse in
# https://github.com/kubernetes/kubernetes/blob/v1.36.3/staging/src/k8s.io/apimachinery/pkg/api/resource/quantity_test.go
# (every valid row, in upstream's order and groups).
UPSTREAM_VALID = [
    ("0", dec(0, 0)),
    ("0n", dec(0, 0)),
    ("0u", dec(0, 0)),
    ("0m", dec(0, 0)),
    ("0Ki", dec(0, 0)),
    ("0k", dec(0, 0)),
    ("0Mi", dec(0, 0)),
    ("0M", dec(0, 0)),
    ("0Gi", dec(0, 0)),
    ("0G", dec(0, 0)),
    ("0Ti", dec(0, 0)),
    ("0T", dec(0, 0)),
    # Quantity less numbers are allowed
    ("1", dec(1, 0)),
    # Binary suffixes
    ("1Ki", dec(KI, 0)),
    ("8Ki", dec(8 * KI, 0)),
    ("7Mi", dec(7 * MI, 0)),
    ("6Gi", dec(6 * GI, 0)),
    ("5Ti", dec(5 * TI, 0)),
    ("4Pi", dec(4 * 2**50, 0)),
    ("3Ei", dec(3 * 2**60, 0)),
    ("10Ti", dec(10 * TI, 0)),
    ("100Ti", dec(100 * TI, 0)),
    # Decimal suffixes
    ("5n", dec(5, -9)),
    ("4u", dec(4, -6)),
    ("3m", dec(3, -3)),
    ("9", dec(9, 0)),
    ("8k", dec(8, 3)),
    ("50k", dec(5, 4)),
    ("7M", dec(7, 6)),
    ("6G", dec(6, 9)),
    ("5T", dec(5, 12)),
    ("40T", dec(4, 13)),
    ("300T", dec(3, 14)),
    ("2P", dec(2, 15)),
    ("1E", dec(1, 18)),
    # Decimal exponents
    ("1E-3", dec(1, -3)),
    ("1e3", dec(1, 3)),
    ("1E6", dec(1, 6)),
    ("1e9", dec(1, 9)),
    ("1E12", dec(1, 12)),
    ("1e15", dec(1, 15)),
    ("1E18", dec(1, 18)),
    # Nonstandard but still parsable
    ("1e14", dec(1, 14)),
    ("1e13", dec(1, 13)),
    ("100.035k", dec(100035, 0)),
    # Things that look like floating point
    ("0.001", dec(1, -3)),
    ("0.0005k", dec(5, -1)),
    ("0.005", dec(5, -3)),
    ("0.05", dec(5, -2)),
    ("0.5", dec(5, -1)),
    ("0.00050k", dec(5, -1)),
    ("0.00500", dec(5, -3)),
    ("0.05000", dec(5, -2)),
    ("0.50000", dec(5, -1)),
    ("0.5e0", dec(5, -1)),
    ("0.5e-1", dec(5, -2)),
    ("0.5e-2", dec(5, -3)),
    ("10.035M", dec(10035, 3)),
    ("1.2e3", dec(12, 2)),
    ("1.3E+6", dec(13, 5)),
    ("1.40e9", dec(14, 8)),
    ("1.53E12", dec(153, 10)),
    ("1.6e15", dec(16, 14)),
    ("1.7E18", dec(17, 17)),
    ("9.01", dec(901, -2)),
    ("8.1k", dec(81, 2)),
    ("7.123456M", dec(7123456, 0)),
    ("6.987654321G", dec(6987654321, 0)),
    ("5.444T", dec(5444, 9)),
    ("40.1T", dec(401, 11)),
    ("300.2T", dec(3002, 11)),
    ("2.5P", dec(25, 14)),
    ("1.01E", dec(101, 16)),
    # Things that saturate/round
    ("3.001n", dec(4, -9)),
    ("1.1E-9", dec(2, -9)),
    ("0.0000000001", dec(1, -9)),
    ("0.0000000005", dec(1, -9)),
    ("0.00000000050", dec(1, -9)),
    ("0.5e-9", dec(1, -9)),
    ("0.9n", dec(1, -9)),
    ("0.00000012345", dec(124, -9)),
    ("0.00000012354", dec(124, -9)),
    ("9Ei", MAX_ALLOWED),
    ("9223372036854775807Ki", MAX_ALLOWED),
    ("12E", dec(12, 18)),
    # We'll accept fractional binary stuff, too.
    ("100.035Ki", dec(10243584, -2)),
    ("0.5Mi", dec(MI // 2, 0)),
    ("0.05Gi", dec(536870912, -1)),
    ("0.025Ti", dec(274877906944, -1)),
    # Things written by trolls
    ("0.000000000001Ki", dec(2, -9)),
    (".001", dec(1, -3)),
    (".0001k", dec(100, -3)),
    ("1.", dec(1, 0)),
    ("1.G", dec(1, 9)),
]


@pytest.mark.parametrize(("text", "expected"), UPSTREAM_VALID, ids=[t for t, _ in UPSTREAM_VALID])
def test_upstream_valid_rows(text: str, expected: Fraction) -> None:
    """Every valid row of upstream's TestQuantityParse has upstream's value."""
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("sign", ["-", "+"])
@pytest.mark.parametrize(("text", "expected"), UPSTREAM_VALID, ids=[t for t, _ in UPSTREAM_VALID])
def test_upstream_signed_rows(sign: str, text: str, expected: Fraction) -> None:
    """Upstream's loops: "-" negates every row, and an explicit "+" changes nothing."""
    assert parse_quantity(sign + text) == (-expected if sign == "-" else expected)


# TestQuantityParseEmit and TestQuantityString (the canonical and alternate spellings) in
# the same upstream file: each spelling's value.
UPSTREAM_SPELLINGS = [
    ("1024Mi", dec(GI, 0)),
    ("1000M", dec(1, 9)),
    (".001Ki", dec(1024, -3)),
    (".000001Ki", dec(1024, -6)),
    (".000000001Ki", dec(1024, -9)),
    (".000000000001Ki", dec(2, -9)),
    ("307200Ki", dec(300 * MI, 0)),
    ("1025024Mi", dec(1001 * GI, 0)),
    ("5000m", dec(5, 0)),
    ("0.001T", dec(1, 9)),
    ("1000u", dec(1, -3)),
    ("1.08", dec(108, -2)),
    ("1080000000n", dec(108, -2)),
    ("1e21", dec(1, 21)),
    ("1000E", dec(1, 21)),
    ("10e69", dec(1, 70)),
    ("1e72", dec(1, 72)),
    (".001e12", dec(1, 9)),
    ("0.001e0", dec(1, -3)),
    ("1000e-12", dec(1, -9)),
    ("80e-3", dec(80, -3)),
    ("00", dec(0, 0)),
]


@pytest.mark.parametrize(
    ("text", "expected"), UPSTREAM_SPELLINGS, ids=[t for t, _ in UPSTREAM_SPELLINGS]
)
def test_upstream_spellings(text: str, expected: Fraction) -> None:
    """Spellings from upstream's emit and string tests parse to the value they stand for."""
    assert parse_quantity(text) == expected


# The invalid list at the end of upstream's TestQuantityParse.
UPSTREAM_INVALID = [
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    " 1",
    "1 ",
    "",
]


@pytest.mark.parametrize("text", UPSTREAM_INVALID, ids=repr)
def test_upstream_invalid_rows(text: str) -> None:
    """Everything upstream refuses is a QuantityError here."""
    assert isinstance(parse_quantity(text), QuantityError)


# Ours: where upstream's scanner reads text without digits as 0 (TestParseQuantityString
# has "." and "-."), and the bounds that keep parsing instant.
STRICTER = [
    (".", "the number has no digits"),
    ("-.", "the number has no digits"),
    ("-", "the number has no digits"),
    ("k", "the number has no digits"),
    ("Mi", "the number has no digits"),
    ("e3", "the number has no digits"),
    ("1ki", "unknown suffix 'ki'"),
    ("1e", "unknown suffix 'e'"),
    ("1E+", "unknown suffix 'E+'"),
    ("1Ee3", "unknown suffix 'Ee3'"),
    ("1e999999", "exponent 999999 is out of range"),
    ("1e-1001", "exponent -1001 is out of range"),
    ("1e4294967297", "exponent 4294967297 is out of range"),
    ("1e" + "9" * 120, "is out of range"),
    ("1" * (QUANTITY_MAX_LENGTH + 1), f"longer than {QUANTITY_MAX_LENGTH} characters"),
    ("1" * 10_000, f"longer than {QUANTITY_MAX_LENGTH} characters"),
    ("\uff11", "expected a number"),  # a full-width digit: Go reads bytes, not Unicode digits
    ("4\n", "expected a number"),
    ("4m\x00", "expected a number"),
]


@pytest.mark.parametrize(("text", "problem"), STRICTER, ids=[repr(t[:20]) for t, _ in STRICTER])
def test_stricter_than_upstream(text: str, problem: str) -> None:
    """Text without digits, unknown suffixes and out-of-bound sizes are typed errors."""
    result = parse_quantity(text)
    assert isinstance(result, QuantityError)
    assert problem in result.problem
    assert len(str(result)) < 200  # a 10,000-character value is shortened in the message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"1e{QUANTITY_MAX_EXPONENT}", Fraction(10) ** QUANTITY_MAX_EXPONENT),
        (f"1e-{QUANTITY_MAX_EXPONENT}", dec(1, -9)),
        ("1e0000000000000000000003", dec(1, 3)),
        ("3920m", Fraction(392, 100)),
        ("96", Fraction(96)),
        ("-0", Fraction(0)),
        ("1" * QUANTITY_MAX_LENGTH, Fraction(int("1" * QUANTITY_MAX_LENGTH))),
    ],
    ids=[
        "max-exponent",
        "min-exponent",
        "zero-padded-exponent",
        "cpu-milli",
        "cpu",
        "neg-zero",
        "max-length",
    ],
)
def test_bounds_are_inclusive(text: str, expected: Fraction) -> None:
    """The limits themselves parse; typical node CPU values are exact."""
    assert parse_quantity(text) == expected


def test_error_text_names_value_and_problem() -> None:
    """The message says which text and what is wrong with it."""
    assert str(parse_quantity("2 cores")) == (
        "'2 cores' is not a Kubernetes quantity: expected a number and an optional suffix, "
        "like 500m, 4, 1.5Gi or 2e3"
    )
