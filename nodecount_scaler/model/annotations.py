"""The user-facing contract: annotations on a Deployment's metadata, parsed and validated.

A Deployment opts in with `nodecount-scaler.io/enabled: "true"`. Every other key is
optional; a malformed value makes the whole target invalid (it is left untouched) rather
than falling back to a default the user did not ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

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


@dataclass(frozen=True, slots=True)
class AnnotationError:
    key: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}: {self.problem}"


def is_enabled(annotations: Mapping[str, str]) -> bool:
    return annotations.get(ENABLED) == "true"


def parse_config(
    annotations: Mapping[str, str],
) -> tuple[TargetConfig | None, tuple[AnnotationError, ...]]:
    """Return the target's config, or None and every problem found (all keys are checked)."""
    errors: list[AnnotationError] = []

    selector = EVERYTHING
    if NODE_SELECTOR in annotations:
        raw = annotations[NODE_SELECTOR]
        try:
            selector = parse_selector(raw)
        except SelectorError as exc:
            errors.append(AnnotationError(NODE_SELECTOR, raw, str(exc)))

    minimum = _integer(annotations, MIN_REPLICAS, errors)
    maximum = _integer(annotations, MAX_REPLICAS, errors)
    if minimum is not None and maximum is not None and minimum > maximum:
        errors.append(
            AnnotationError(
                MIN_REPLICAS,
                annotations[MIN_REPLICAS],
                f"min-replicas {minimum} is greater than max-replicas {maximum}",
            )
        )

    ratio = Fraction(1)
    if NODES_PER_REPLICA in annotations:
        raw = annotations[NODES_PER_REPLICA]
        parsed = _fraction(raw)
        if parsed is None:
            errors.append(AnnotationError(NODES_PER_REPLICA, raw, "not a decimal number"))
        elif parsed <= 0:
            errors.append(AnnotationError(NODES_PER_REPLICA, raw, "must be greater than 0"))
        else:
            ratio = parsed

    if errors:
        return None, tuple(errors)
    return TargetConfig(selector, minimum or 0, maximum, ratio), ()


def _integer(annotations: Mapping[str, str], key: str, errors: list[AnnotationError]) -> int | None:
    if key not in annotations:
        return None
    raw = annotations[key]
    text = raw.strip()
    # Plain base-10 digits only: int() would also take "+3", "1_000" and other spellings a
    # reader of the manifest would not expect to be numbers.
    if not text.isascii() or not text.lstrip("-").isdigit():
        errors.append(AnnotationError(key, raw, "not an integer"))
        return None
    value = int(text)
    if value < 0:
        errors.append(AnnotationError(key, raw, "must be 0 or more"))
        return None
    return value


def _fraction(raw: str) -> Fraction | None:
    text = raw.strip()
    allowed = set("0123456789.")
    if not text or not set(text) <= allowed or text.count(".") > 1 or text == ".":
        return None
    return Fraction(text)
