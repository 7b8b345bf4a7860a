"""Leader election on a coordination.k8s.io/v1 Lease: the decisions, without I/O.

After client-go's leaderelection package, split as client-go splits `leaderelection.go`
from `resourcelock/leaselock.go`: here, whether a lease has expired, whether we may take
it and what we write; `control/election.py` is the asyncio shell that reads and writes.

Safety rests on two clocks that never meet. The leader measures its renew deadline on its
own monotonic clock from the *start* of its last successful renewal; a follower measures
expiry on *its* monotonic clock from the moment it *observed* the record change (client-go
observedTime). Remote timestamps are written for humans and other clients, never compared
with local time. Because lease_duration > renew_deadline, and every follower observes a
renewal after its request started, the leader's work is stopped before any follower may
take the lease, whatever the skew between the machines' wall clocks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from nodecount_scaler import limits
from nodecount_scaler.settings import DEFAULTS

JsonObject = dict[str, Any]
# client-go leaderelection.JitterFactor: acquire retries wait retry_period * [1, 1 + 1.2).
JITTER_FACTOR: Final = 1.2
# How the timing rules name the three durations: in a config, and on the command line.
CONFIG_NAMES: Final = ("lease_duration", "renew_deadline", "retry_period")
FLAG_NAMES: Final = tuple(
    f"--leader-election-{n}" for n in ("lease-duration", "renew-deadline", "retry-period")
)

# --------------------------------------------------------------------------- configuration


def timing_problems(
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    names: tuple[str, ...] = CONFIG_NAMES,
) -> list[str]:
    """What is wrong with a leader election's timing: client-go NewLeaderElector's rules. A
    follower may take the lease once lease_duration has passed without a renewal, so the
    leader must have given up (renew_deadline) before that, and must have had room for
    retries before giving up. Written as `not (a > b)` so NaN fails too. `names` are the
    three durations' names as the reader knows them (CONFIG_NAMES, FLAG_NAMES)."""
    lease, renew, retry = lease_duration, renew_deadline, retry_period
    lease_name, renew_name, retry_name = names
    found = []
    if not retry > 0:
        found.append(f"{retry_name} ({retry:g}) must be greater than 0")
    if not renew > retry * JITTER_FACTOR:
        found.append(
            f"{renew_name} ({renew:g}) must be greater than {retry_name} x {JITTER_FACTOR} "
            f"({retry * JITTER_FACTOR:g})"
        )
    if not lease > renew:
        found.append(
            f"{lease_name} ({lease:g}) must be greater than {renew_name} ({renew:g}), or a "
            "follower could take the lease while the leader still writes"
        )
    if not math.isfinite(lease):
        found.append(f"{lease_name} ({lease:g}) must be finite")
    return found


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    namespace: str
    name: str  # the Lease's name (--leader-election-id)
    identity: str
    lease_duration: float = DEFAULTS.leader_election_lease_duration
    renew_deadline: float = DEFAULTS.leader_election_renew_deadline
    retry_period: float = DEFAULTS.leader_election_retry_period

    def validate(self) -> None:
        """Raise ValueError for an empty name or a timing that breaks `timing_problems`."""
        if not self.namespace:
            raise ValueError("leader election: namespace must not be empty")
        if not self.name:
            raise ValueError("leader election: lease name must not be empty")
        if not self.identity:
            raise ValueError("leader election: identity must not be empty")
        problems = timing_problems(self.lease_duration, self.renew_deadline, self.retry_period)
        if problems:
            raise ValueError(f"leader election: {problems[0]}")


def request_timeout(config: LeaderElectionConfig) -> float:
    """Per-call timeout: several attempts fit into one renew deadline."""
    return min(config.retry_period * 2, config.renew_deadline / 2)


def jittered(period: float, rand: Callable[[], float] = random.random) -> float:
    """client-go wait.Jitter(period, JitterFactor): candidates spread out instead of stampeding."""
    return period + rand() * JITTER_FACTOR * period


def lease_seconds(duration: float) -> int:
    """spec.leaseDurationSeconds is an int32; round up so others never wait less than we do."""
    return max(1, math.ceil(duration))


def format_micro_time(moment: datetime) -> str:
    """metav1.MicroTime as the API server writes it: RFC 3339, microseconds, UTC, 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- pure decisions


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The parts of a Lease that election reads, parsed leniently (any field may be absent)."""

    holder_identity: str = ""
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0
    resource_version: str = ""

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        metadata = lease.get("metadata")
        spec = lease.get("spec")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        spec = spec if isinstance(spec, Mapping) else {}
        return cls(
            holder_identity=_str_or_none(spec.get("holderIdentity")) or "",
            lease_duration_seconds=_int_or_none(spec.get("leaseDurationSeconds")),
            acquire_time=_str_or_none(spec.get("acquireTime")),
            renew_time=_str_or_none(spec.get("renewTime")),
            lease_transitions=_int_or_none(spec.get("leaseTransitions")) or 0,
            resource_version=_str_or_none(metadata.get("resourceVersion")) or "",
        )

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What must change for a follower to count the holder as alive."""
        return (self.holder_identity, self.renew_time, self.resource_version)


def holder_pod(identity: str) -> str:
    """The pod name in a holder identity: control/election.py's default_identity() writes
    POD_NAME + "_" + random hex, and a pod name (a DNS subdomain) has no "_"."""
    pod, sep, _ = identity.rpartition("_")
    return pod if sep else identity


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Observation:
    """A record and the time on OUR monotonic clock when it was first seen (client-go
    observedTime)."""

    record: LeaseRecord
    observed_at: float


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Restart the expiry countdown only when the record changed: an unchanged record means
    the holder has not renewed since we last looked."""
    if previous is not None and previous.record.key == record.key:
        return Observation(record, previous.observed_at)
    return Observation(record, now)


def longest_honoured(config: LeaderElectionConfig) -> float:
    """The longest leaseDurationSeconds a holder is taken at its word for: a few times our
    own lease duration. Every instance of this service declares its own --leader-election-
    lease-duration, the same in one install; a holder that declares far more (2147483647
    was written with the service's own token) did not come from it, and would otherwise
    keep the cluster without a leader for ever once it stops renewing."""
    return config.lease_duration * limits.LEASE_HOLDER_DURATION_FACTOR


def expiry_duration(record: LeaseRecord, default: float, longest: float = math.inf) -> float:
    """client-go isLeaseValid uses the holder's declared leaseDurationSeconds (the promise the
    holder made); ours only when the record carries none; at most `longest`."""
    declared = record.lease_duration_seconds
    return min(float(declared), longest) if declared is not None and declared > 0 else default


def overlong(record: LeaseRecord, longest: float) -> bool:
    """The holder declares more than is honoured (see longest_honoured)."""
    declared = record.lease_duration_seconds
    return declared is not None and declared > longest


def lease_expired(
    observation: Observation, now: float, default_duration: float, longest: float = math.inf
) -> bool:
    duration = expiry_duration(observation.record, default_duration, longest)
    return now >= observation.observed_at + duration


class Verdict(Enum):
    FREE = "free"  # no holder (released): take at once
    OURS = "ours"  # we hold it: renew
    EXPIRED = "expired"  # unchanged for a whole lease duration of our clock: take over
    HELD = "held"  # another live holder: wait


def judge(
    observation: Observation,
    identity: str,
    now: float,
    default_duration: float,
    longest: float = math.inf,
) -> Verdict:
    """client-go tryAcquireOrRenew: 'if holder set and lease valid and holder is not me: fail'
    (valid for at most `longest` seconds of our clock after a change, whatever the holder
    declares)."""
    holder = observation.record.holder_identity
    if not holder:
        return Verdict.FREE
    if holder == identity:
        return Verdict.OURS
    if lease_expired(observation, now, default_duration, longest):
        return Verdict.EXPIRED
    return Verdict.HELD


def claim_spec(
    current: LeaseRecord | None, identity: str, duration_seconds: int, now: datetime
) -> dict[str, Any]:
    """The spec we write to create, take over or renew. Like client-go: keep acquireTime and
    leaseTransitions on renewal, count a transition when the holder changes, start at 0 on
    create."""
    stamp = format_micro_time(now)
    if current is None:
        acquired, transitions = stamp, 0
    elif current.holder_identity == identity:
        acquired, transitions = current.acquire_time or stamp, current.lease_transitions
    else:
        acquired, transitions = stamp, current.lease_transitions + 1
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_seconds,
        "acquireTime": acquired,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


def release_spec(current: LeaseRecord, now: datetime) -> dict[str, Any]:
    """client-go release() (ReleaseOnCancel): empty holder so any candidate takes it at once,
    and leaseDurationSeconds=1 for clients that only look at expiry."""
    stamp = format_micro_time(now)
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": current.lease_transitions,
    }


def new_lease(namespace: str, name: str, spec: Mapping[str, Any]) -> JsonObject:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def updated_lease(lease: Mapping[str, Any], spec: Mapping[str, Any]) -> JsonObject:
    """The object to PUT: as read (metadata.resourceVersion makes the write conditional, so a
    concurrent writer gets 409), with our fields over any other spec fields (e.g. strategy)."""
    old_spec = lease.get("spec")
    merged = {**(old_spec if isinstance(old_spec, Mapping) else {}), **spec}
    return {**lease, "spec": merged}
