"""The user-facing contract: annotations on a workload's metadata, parsed and validated.

A workload opts in with `nodecount-scaler.io/enabled: "true"`. Every other key is
optional; a malformed value makes the whole target invalid (it is left untouched) rather
than falling back to a default the user did not ask for. Parsing is total: any string
gives a config or errors, in time linear in its length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from nodecount_scaler.limits import (
    ANNOTATION_VALUE_SHOWN,
    NODE_SELECTOR_MAX_LENGTH,
    NODE_SELECTOR_MAX_REQUIREMENTS,
)
from nodecount_scaler.model.display import shortened
from nodecount_scaler.model.numbers import (
    NumberError,
    parse_int,
    parse_positive_decimal,
)
from nodecount_scaler.model.selector import EVERYTHING, LabelSelector, SelectorError, parse_selector

PREFIX: Final = "nodecount-scaler.io/"
ENABLED: Final = PREFIX + "enabled"
NODE_SELECTOR: Final = PREFIX + "node-selector"
MIN_REPLICAS: Final = PREFIX + "min-replicas"
MAX_REPLICAS: Final = PREFIX + "max-replicas"
NODES_PER_REPLICA: Final = PREFIX + "nodes-per-replica"


@dataclass(frozen=True, slots=True)
class TargetConfig:
    node_selector: LabelSelector
    min_replicas: int
    max_replicas: int | None
    # Exact, so that 3 nodes at 0.1 nodes per replica is 30 replicas and not 31.
    nodes_per_replica: Fraction


DEFAULT_CONFIG: Final = TargetConfig(EVERYTHING, 0, None, Fraction(1))


def shown(value: str) -> str:
    """A value as quoted back to people: whole if short, else its start and its length."""
    return shortened(value, ANNOTATION_VALUE_SHOWN)


@dataclass(frozen=True, slots=True)
class AnnotationError:
    """A bad annotation value. `value` is cut to a few dozen characters, so a 200 KB value
    costs no more than a short one in logs, Events and /status; `digest` tells two long
    values apart where de-duplication needs it."""

    key: str
    value: str
    problem: str
    digest: str = field(default="", compare=False)

    @classmethod
    def of(cls, key: str, raw: str, problem: str) -> AnnotationError:
        digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return cls(key, shown(raw), problem, digest)

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}: {self.problem}"


def is_enabled(annotations: Mapping[str, str]) -> bool:
    return annotations.get(ENABLED) == "true"


def parse_config(
    annotations: Mapping[str, str],
) -> tuple[TargetConfig | None, tuple[AnnotationError, ...]]:
    """Return the target's config, or None and every problem found (all keys are checked)."""
    errors: list[AnnotationError] = []
    selector = _node_selector(annotations, errors)
    minimum = _integer(annotations, MIN_REPLICAS, errors)
    maximum = _integer(annotations, MAX_REPLICAS, errors)
    if minimum is not None and maximum is not None and minimum > maximum:
        errors.append(
            AnnotationError.of(
                MIN_REPLICAS,
                annotations[MIN_REPLICAS],
                f"min-replicas {minimum} is greater than max-replicas {maximum}",
            )
        )
    ratio = Fraction(1)
    if NODES_PER_REPLICA in annotations:
        raw = annotations[NODES_PER_REPLICA]
        parsed = parse_positive_decimal(raw)
        if isinstance(parsed, NumberError):
            errors.append(AnnotationError.of(NODES_PER_REPLICA, raw, parsed.problem))
        else:
            ratio = parsed
    if errors or selector is None:
        return None, tuple(errors)
    return TargetConfig(selector, minimum or 0, maximum, ratio), ()


def _node_selector(
    annotations: Mapping[str, str], errors: list[AnnotationError]
) -> LabelSelector | None:
    raw = annotations.get(NODE_SELECTOR)
    if raw is None:
        return EVERYTHING
    if len(raw) > NODE_SELECTOR_MAX_LENGTH:
        problem = f"longer than {NODE_SELECTOR_MAX_LENGTH} characters ({len(raw)})"
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, problem))
        return None
    try:
        selector = parse_selector(raw)
    except SelectorError as exc:
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, str(exc)))
        return None
    if len(selector.requirements) > NODE_SELECTOR_MAX_REQUIREMENTS:
        problem = (
            f"{len(selector.requirements)} requirements; at most "
            f"{NODE_SELECTOR_MAX_REQUIREMENTS} are allowed"
        )
        errors.append(AnnotationError.of(NODE_SELECTOR, raw, problem))
        return None
    return selector


def _integer(annotations: Mapping[str, str], key: str, errors: list[AnnotationError]) -> int | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    value = parse_int(raw)
    if isinstance(value, NumberError):
        errors.append(AnnotationError.of(key, raw, value.problem))
        return None
    return value
