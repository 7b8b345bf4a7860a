"""JSON text from users (annotations, CPA parameters) decoded strictly and in bounded time.

Stricter than `json.loads` where it is lax: NaN and Infinity are refused (they are not JSON,
and Go's encoding/json refuses them too), a key given twice in one object is refused
instead of silently keeping the last, and numbers with a fraction or exponent come back as
exact `Decimal`s, not floats, so 0.1 stays 0.1. Input longer than the caller's limit is
refused before decoding, and nesting too deep for the decoder is an error, not a crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class JsonProblem:
    problem: str

    def __str__(self) -> str:
        return self.problem


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} is given twice")
        result[key] = value
    return result


def load_json(text: str, *, max_length: int) -> object:
    """The decoded value, or a JsonProblem saying why the text is not acceptable JSON."""
    if len(text) > max_length:
        return JsonProblem(f"longer than {max_length} characters")
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        return JsonProblem("not valid JSON: nested too deeply")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, as are the hooks' errors
        return JsonProblem(f"not valid JSON: {exc}")
