"""The annotations of the user-facing contract: one record per annotation (Annotation) with
its key, how a value is parsed, the longest value read at all, and the two lines the docs'
table shows (what a value may be, what absence means); REGISTRY holds them in that table's
order.

Every consumer reads the records: parsing (annotations.py), `plan --help`, the docs'
annotation table test (tests/unit/test_docs_contract.py) and migrate-cpa
(cpa_migration.py). A new annotation is one record here, what it means in annotations.py,
and its tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final, Generic, NamedTuple, TypeVar

from nodecount_scaler.limits import (
    ANNOTATION_VALUE_SHOWN,
    LADDER_MAX_LENGTH,
    NODE_SELECTOR_MAX_LENGTH,
    NODE_SELECTOR_MAX_REQUIREMENTS,
)
from nodecount_scaler.model.display import shortened
from nodecount_scaler.model.numbers import (
    INT32_MAX,
    NumberError,
    parse_int,
    parse_positive_decimal,
)
from nodecount_scaler.model.scaling import Step, parse_steps
from nodecount_scaler.model.selector import (
    LabelSelector,
    SelectorError,
    label_key_problem,
    parse_selector,
)
from nodecount_scaler.settings import DEFAULTS

PREFIX: Final = "nodecount-scaler.io/"
T = TypeVar("T")


class Invalid(NamedTuple):
    """Why a value is not one of its annotation's."""

    problem: str


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


@dataclass(frozen=True, slots=True)
class Annotation(Generic[T]):
    name: str
    # The value of a text, or why it is not one; total, in time linear in the text.
    parse: Callable[[str], T | Invalid]
    # The docs' table: what a value may be, and what absence means.
    value: str
    default: str
    # A longer value is refused before it is parsed at all (limits.py).
    max_length: int | None = None

    @property
    def key(self) -> str:
        return PREFIX + self.name

    def read(self, annotations: Mapping[str, str], errors: list[AnnotationError]) -> T | None:
        """The value the workload gives, or None: absent, or invalid (then in `errors`)."""
        raw = annotations.get(self.key)
        if raw is None:
            return None
        parsed: T | Invalid
        if self.max_length is not None and len(raw) > self.max_length:
            parsed = Invalid(f"longer than {self.max_length} characters ({len(raw)})")
        else:
            parsed = self.parse(raw)
        if isinstance(parsed, Invalid):
            errors.append(AnnotationError.of(self.key, raw, parsed.problem))
            return None
        return parsed


def _enabled(raw: str) -> bool | Invalid:
    # Anything but "true" is a workload that has not opted in, not an error.
    return raw == "true"


def _selector(raw: str) -> LabelSelector | Invalid:
    try:
        selector = parse_selector(raw)
    except SelectorError as exc:
        return Invalid(str(exc))
    count = len(selector.requirements)
    if count > NODE_SELECTOR_MAX_REQUIREMENTS:
        return Invalid(
            f"{count} requirements; at most {NODE_SELECTOR_MAX_REQUIREMENTS} are allowed"
        )
    return selector


def _count(raw: str) -> int | Invalid:
    value = parse_int(raw)
    return Invalid(value.problem) if isinstance(value, NumberError) else value


def _ratio(raw: str) -> Fraction | Invalid:
    value = parse_positive_decimal(raw)
    return Invalid(value.problem) if isinstance(value, NumberError) else value


def _steps(raw: str) -> tuple[Step, ...] | Invalid:
    value = parse_steps(raw)
    return Invalid(value) if isinstance(value, str) else value


def _switch(raw: str) -> bool | Invalid:
    if raw in ("true", "false"):
        return raw == "true"
    return Invalid('must be "true" or "false"')


def _label_key(raw: str) -> str | Invalid:
    problem = label_key_problem(raw.strip())
    return raw.strip() if problem is None else Invalid(f"not a label key: {problem}")


ENABLED: Final = Annotation(
    "enabled",
    _enabled,
    '`"true"` opts the workload in; anything else or absent: not managed',
    "absent",
)
NODE_SELECTOR: Final = Annotation(
    "node-selector",
    _selector,
    "a label selector in full kubectl syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, "
    "`a notin (x)`, `a`, `!a`, comma = AND; at most "
    f"{NODE_SELECTOR_MAX_LENGTH} characters and {NODE_SELECTOR_MAX_REQUIREMENTS} requirements",
    "none (all nodes)",
    NODE_SELECTOR_MAX_LENGTH,
)
MIN_REPLICAS: Final = Annotation("min-replicas", _count, f"integer from 0 to {INT32_MAX}", "0")
MAX_REPLICAS: Final = Annotation(
    "max-replicas",
    _count,
    f"integer from 0 to {INT32_MAX}, >= min",
    f"no bound (the global `--replica-cap`, {DEFAULTS.replica_cap}, still applies)",
)
NODES_PER_REPLICA: Final = Annotation(
    "nodes-per-replica", _ratio, "decimal number > 0, e.g. `3` or `0.5`", "1"
)
CORES_PER_REPLICA: Final = Annotation(
    "cores-per-replica",
    _ratio,
    "decimal number > 0: one replica per this many cores of allocatable CPU on the eligible nodes",
    "none",
)
NODES_TO_REPLICAS: Final = Annotation(
    "nodes-to-replicas",
    _steps,
    "ladder: a JSON step table `[[0,1],[4,2],[64,4]]` (threshold, replicas)",
    "none",
    LADDER_MAX_LENGTH,
)
CORES_TO_REPLICAS: Final = Annotation(
    "cores-to-replicas", _steps, "ladder on cores, same form", "none", LADDER_MAX_LENGTH
)
PREVENT_SINGLE_POINT_FAILURE: Final = Annotation(
    "prevent-single-point-failure",
    _switch,
    '`"true"`: at least 2 replicas whenever more than one node (domain) counts',
    '`"false"`',
)
# The topology domain (a node label key) counted instead of nodes.
TOPOLOGY_KEY: Final = Annotation(
    "topology-key",
    _label_key,
    "a node label key, e.g. `topology.kubernetes.io/zone`: count distinct values of it among "
    "the eligible nodes (one pod per zone) instead of nodes",
    "the key of the template's required anti-affinity on its own pods; else nodes",
)
# Cordoned and NotReady nodes count too (CPA's includeUnschedulableNodes); targets.py refuses
# it on a template that keeps one pod per node or domain.
INCLUDE_UNSCHEDULABLE_NODES: Final = Annotation(
    "include-unschedulable-nodes",
    _switch,
    '`"true"`: cordoned and NotReady nodes count too (CPA\'s `includeUnschedulableNodes`); '
    "refused on a template that keeps one pod per node",
    '`"false"`',
)
REGISTRY: Final[tuple[Annotation[Any], ...]] = (
    ENABLED,
    NODE_SELECTOR,
    MIN_REPLICAS,
    MAX_REPLICAS,
    NODES_PER_REPLICA,
    CORES_PER_REPLICA,
    NODES_TO_REPLICAS,
    CORES_TO_REPLICAS,
    PREVENT_SINGLE_POINT_FAILURE,
    INCLUDE_UNSCHEDULABLE_NODES,
    TOPOLOGY_KEY,
)
