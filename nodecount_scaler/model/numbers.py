"""Strict number grammars for text written by people (annotations, flags, variables).

Python's `int()` and `Fraction()` accept far more than a reader of a manifest would call a
number ("1_000", " ²", Arabic-Indic digits, "1e999999"), and raise `ValueError` past 4,300
digits. Each grammar here is a regular expression over ASCII only, with a bound on the
number of digits checked *before* any conversion, so every input costs O(len) and the
answer is a value or a `NumberError` — never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

# Surrounding spaces are forgiven (YAML makes them easy to add by accident); nothing else.
_SPACE: Final = " \t\r\n"
# One optional minus sign, then ASCII digits. No plus sign, no underscores, no exponent.
_INTEGER_RE: Final = re.compile(r"-?[0-9]+")
# Digits with at most one decimal point and at least one digit: "3", "0.5", ".5", "2.".
_DECIMAL_RE: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

# spec.replicas is an int32: no count of anything this service compares with it is larger.
INT32_MAX: Final = 2**31 - 1
# Enough for any sensible ratio ("0.000001", "1000000.5"); keeps Fraction arithmetic cheap.
DECIMAL_MAX_DIGITS: Final = 18


@dataclass(frozen=True, slots=True)
class NumberError:
    """Why a text is not a number of the expected kind, in words for a log line or Event."""

    problem: str


def parse_int(text: str, *, minimum: int = 0, maximum: int = INT32_MAX) -> int | NumberError:
    """A base-10 integer in [minimum, maximum]: `-?[0-9]+`, spaces around forgiven."""
    stripped = text.strip(_SPACE)
    if _INTEGER_RE.fullmatch(stripped) is None:
        return NumberError("not an integer (ASCII digits, optionally one leading '-')")
    negative = stripped.startswith("-")
    digits = stripped.lstrip("-").lstrip("0") or "0"
    # Bounded before int(): a 5,000-digit value would raise past Python's conversion limit.
    if len(digits) > len(str(max(abs(minimum), abs(maximum)))):
        return NumberError(
            f"must be {minimum} or more" if negative else f"must be at most {maximum}"
        )
    value = -int(digits) if negative else int(digits)
    if value < minimum:
        return NumberError(f"must be {minimum} or more")
    if value > maximum:
        return NumberError(f"must be at most {maximum}")
    return value


def parse_decimal(text: str) -> Fraction | NumberError:
    """A non-negative decimal number without exponent, exact: `3`, `0.5`, `.5`, `2.`."""
    stripped = text.strip(_SPACE)
    if _DECIMAL_RE.fullmatch(stripped) is None:
        return NumberError("not a decimal number (ASCII digits and at most one '.')")
    significant = stripped.replace(".", "").lstrip("0")
    if len(stripped) > 2 * DECIMAL_MAX_DIGITS or len(significant) > DECIMAL_MAX_DIGITS:
        return NumberError(f"too many digits (at most {DECIMAL_MAX_DIGITS} significant digits)")
    return Fraction(stripped)


def parse_positive_decimal(text: str) -> Fraction | NumberError:
    """A decimal number greater than 0."""
    value = parse_decimal(text)
    if isinstance(value, Fraction) and value <= 0:
        return NumberError("must be greater than 0")
    return value
