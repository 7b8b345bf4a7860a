"""Kubernetes resource quantities ("3920m", "8", "1.5Gi", "2e3") as exact Fractions.

The value is the one Kubernetes itself holds after `resource.ParseQuantity`
(https://github.com/kubernetes/kubernetes/blob/v1.36.3/staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go
and suffix.go beside it):

    <quantity>        ::= <signedNumber><suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>   (whole exponent)

including upstream's two value rules: a non-zero value is rounded away from zero to a whole
number of nano units (0.1n is 1n), and a binary-suffixed magnitude is capped at 2^63-1.

Stricter than upstream in three ways, each so that a typo is an error and not a silent 0
or a hang: the number must hold a digit (upstream's scanner reads ".", "-", "k" and "Mi"
as 0, against its own grammar); the text is at most QUANTITY_MAX_LENGTH characters; and a
decimal exponent is at most QUANTITY_MAX_EXPONENT in magnitude (upstream allows up to 2^31-1, a
number no resource has and 10**that no one can compute).

Total: every `str` gives a Fraction or a QuantityError, never an exception.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from nodecount_scaler.limits import QUANTITY_MAX_EXPONENT, QUANTITY_MAX_LENGTH
from nodecount_scaler.model.display import shortened

__all__ = ["QuantityError", "parse_quantity"]

_EXPONENT_DIGITS: Final = len(str(QUANTITY_MAX_EXPONENT))
# How much of a bad value an error message quotes.
_SHOWN: Final = 32

_NANO: Final = 10**9
# upstream maxAllowed: the cap of a BinarySI value (quantity.go, ParseQuantity).
_BINARY_CAP: Final = 2**63 - 1

_DECIMAL_SI: Final[dict[str, int]] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SI: Final[dict[str, int]] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

# The shape upstream's parseQuantityString scans: sign, digits, optional fraction, then
# suffix letters, an optional sign and digits. ASCII classes only: \d would take other
# scripts' digits, which Go's byte scanner does not.
_SHAPE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_EXPONENT: Final = re.compile(r"[eE]([+-]?)([0-9]+)")


@dataclass(frozen=True, slots=True)
class QuantityError:
    """Why a string is not a quantity; `text` is shortened when long."""

    text: str
    problem: str

    def __str__(self) -> str:
        return f"{self.text!r} is not a Kubernetes quantity: {self.problem}"


def parse_quantity(text: str) -> Fraction | QuantityError:
    """The exact value of a quantity string, or why it is not one."""
    if not text:
        return QuantityError(text, "empty")
    if len(text) > QUANTITY_MAX_LENGTH:
        problem = f"longer than {QUANTITY_MAX_LENGTH} characters"
        return QuantityError(shortened(text, _SHOWN), problem)
    shape = _SHAPE.fullmatch(text)
    if shape is None:
        return QuantityError(
            shortened(text, _SHOWN),
            "expected a number and an optional suffix, like 500m, 4, 1.5Gi or 2e3",
        )
    sign, whole, fraction, suffix = shape.groups(default="")
    if not whole and not fraction:
        return QuantityError(shortened(text, _SHOWN), "the number has no digits")
    scale = _suffix_scale(suffix)
    if isinstance(scale, str):
        return QuantityError(shortened(text, _SHOWN), scale)
    base, exponent = scale
    magnitude = Fraction(int(whole + fraction or "0"), 10 ** len(fraction))
    magnitude *= Fraction(base) ** exponent
    if (magnitude * _NANO).denominator != 1:
        # Upstream rounds non-zero values up (away from zero) to the nano unit.
        magnitude = Fraction(math.ceil(magnitude * _NANO), _NANO)
    if base == 2 and magnitude > _BINARY_CAP:
        magnitude = Fraction(_BINARY_CAP)
    return -magnitude if sign == "-" else magnitude


def _suffix_scale(suffix: str) -> tuple[int, int] | str:
    """(base, exponent) of a suffix, or the problem with it."""
    if suffix in _DECIMAL_SI:
        return 10, _DECIMAL_SI[suffix]
    if suffix in _BINARY_SI:
        return 2, _BINARY_SI[suffix]
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is None:
        return (
            f"unknown suffix {shortened(suffix, _SHOWN)!r} "
            "(use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or e<exponent>)"
        )
    sign, digits = exponent.groups()
    digits = digits.lstrip("0") or "0"
    if len(digits) > _EXPONENT_DIGITS or int(digits) > QUANTITY_MAX_EXPONENT:
        shown = shortened(sign + digits, _SHOWN)
        return f"exponent {shown} is out of range (at most {QUANTITY_MAX_EXPONENT} either way)"
    return 10, -int(digits) if sign == "-" else int(digits)
