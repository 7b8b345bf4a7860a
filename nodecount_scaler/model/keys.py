"""The annotation keys of the user-facing contract, and the error a bad value gets.

Apart from the parsers so that every parser (annotations, scaling) can import these without
importing each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from nodecount_scaler.limits import ANNOTATION_VALUE_SHOWN
from nodecount_scaler.model.display import shortened

PREFIX: Final = "nodecount-scaler.io/"
ENABLED: Final = PREFIX + "enabled"
NODE_SELECTOR: Final = PREFIX + "node-selector"
MIN_REPLICAS: Final = PREFIX + "min-replicas"
MAX_REPLICAS: Final = PREFIX + "max-replicas"
NODES_PER_REPLICA: Final = PREFIX + "nodes-per-replica"
# The topology domain (a node label key) counted instead of nodes.
TOPOLOGY_KEY: Final = PREFIX + "topology-key"
# "true": cordoned and NotReady nodes count too (CPA's includeUnschedulableNodes).
INCLUDE_UNSCHEDULABLE_NODES: Final = PREFIX + "include-unschedulable-nodes"


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
