"""Tables for the pure decisions of leader election (no I/O, no event loop)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from nodecount_scaler.control.election import TermEnd, default_identity
from nodecount_scaler.model.lease import (
    JITTER_FACTOR,
    LeaderElectionConfig,
    LeaseRecord,
    Observation,
    Verdict,
    claim_spec,
    expiry_duration,
    format_micro_time,
    jittered,
    judge,
    lease_expired,
    lease_seconds,
    longest_honoured,
    new_lease,
    observe,
    overlong,
    release_spec,
    request_timeout,
    updated_lease,
)

ME = "me_abc123"
OTHER = "other_def456"
T0 = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)
T0_STAMP = "2026-11-28T17:00:00.000000Z"


def config(
    lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0
) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace="ns",
        name="nodecount-scaler",
        identity=ME,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
    )


def record(
    holder: str = OTHER,
    renew: str | None = "2026-11-28T16:59:58.000000Z",
    rv: str = "7",
    duration: int | None = 15,
    transitions: int = 3,
    acquired: str | None = "2026-11-28T16:00:00.000000Z",
) -> LeaseRecord:
    return LeaseRecord(
        holder_identity=holder,
        lease_duration_seconds=duration,
        acquire_time=acquired,
        renew_time=renew,
        lease_transitions=transitions,
        resource_version=rv,
    )


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("lease", "renew", "retry"),
    [
        (15.0, 10.0, 2.0),  # client-go / controller-runtime defaults
        (137.0, 107.0, 26.0),  # kube-controller-manager's "long" profile
        (1.5, 1.0, 0.2),
        (10.0, 2.41, 2.0),  # just above retry * JitterFactor
    ],
)
def test_validate_accepts(lease: float, renew: float, retry: float) -> None:
    config(lease, renew, retry).validate()


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "message"),
    [
        (10.0, 10.0, 2.0, "lease_duration"),  # equal: the follower could take it as we work
        (8.0, 10.0, 2.0, "lease_duration"),
        (15.0, 2.4, 2.0, "renew_deadline"),  # == retry * 1.2
        (15.0, 2.0, 2.0, "renew_deadline"),
        (15.0, 10.0, 0.0, "retry_period"),
        (15.0, 10.0, -1.0, "retry_period"),
        (15.0, 10.0, math.nan, "retry_period"),
        (math.nan, 10.0, 2.0, "lease_duration"),
        (math.inf, 10.0, 2.0, "finite"),
        (15.0, math.nan, 2.0, "renew_deadline"),
    ],
)
def test_validate_rejects(lease: float, renew: float, retry: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(lease, renew, retry).validate()


@pytest.mark.parametrize(
    ("namespace", "name", "identity", "message"),
    [("", "l", "i", "namespace"), ("n", "", "i", "lease name"), ("n", "l", "", "identity")],
)
def test_validate_rejects_empty_strings(
    namespace: str, name: str, identity: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElectionConfig(namespace=namespace, name=name, identity=identity).validate()


def test_default_identity_prefers_pod_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "scaler-7d9f-abcde")
    assert re.fullmatch(r"scaler-7d9f-abcde_[0-9a-f]{6}", default_identity())


@pytest.mark.parametrize("pod_name", [None, "", "  "])
def test_default_identity_falls_back_to_hostname(
    monkeypatch: pytest.MonkeyPatch, pod_name: str | None
) -> None:
    if pod_name is None:
        monkeypatch.delenv("POD_NAME", raising=False)
    else:
        monkeypatch.setenv("POD_NAME", pod_name)
    monkeypatch.setattr("socket.gethostname", lambda: "node-1")
    assert re.fullmatch(r"node-1_[0-9a-f]{6}", default_identity())


def test_default_identity_differs_between_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "p")
    assert len({default_identity() for _ in range(20)}) > 1


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "expected"),
    [(15.0, 10.0, 2.0, 4.0), (15.0, 5.0, 4.0, 2.5), (137.0, 107.0, 26.0, 52.0)],
)
def test_request_timeout_is_well_inside_the_renew_deadline(
    lease: float, renew: float, retry: float, expected: float
) -> None:
    timeout = request_timeout(config(lease, renew, retry))
    assert timeout == expected
    assert timeout < renew


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 2.0), (0.5, 3.2), (0.999999, 4.4)])
def test_jitter_stays_within_client_go_bounds(rand: float, expected: float) -> None:
    assert jittered(2.0, lambda: rand) == pytest.approx(expected, abs=1e-5)
    assert 2.0 <= jittered(2.0) < 2.0 * (1 + JITTER_FACTOR)


@pytest.mark.parametrize(
    ("duration", "seconds"), [(15.0, 15), (1.5, 2), (0.2, 1), (10.000001, 11), (1.0, 1)]
)
def test_lease_seconds_round_up(duration: float, seconds: int) -> None:
    assert lease_seconds(duration) == seconds


@pytest.mark.parametrize(
    ("moment", "stamp"),
    [
        (T0, T0_STAMP),
        (T0 + timedelta(microseconds=123456), "2026-11-28T17:00:00.123456Z"),
        (datetime(2026, 11, 28, 19, 0, tzinfo=timezone(timedelta(hours=2))), T0_STAMP),
    ],
)
def test_micro_time_format(moment: datetime, stamp: str) -> None:
    assert format_micro_time(moment) == stamp


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("lease", "expected"),
    [
        (
            {
                "metadata": {"resourceVersion": "42"},
                "spec": {
                    "holderIdentity": "a",
                    "leaseDurationSeconds": 15,
                    "acquireTime": "x",
                    "renewTime": "y",
                    "leaseTransitions": 2,
                },
            },
            LeaseRecord("a", 15, "x", "y", 2, "42"),
        ),
        ({}, LeaseRecord()),
        ({"metadata": None, "spec": None}, LeaseRecord()),
        ({"metadata": [], "spec": "garbage"}, LeaseRecord()),
        (
            {
                "spec": {
                    "holderIdentity": None,
                    "leaseDurationSeconds": "15",
                    "leaseTransitions": True,
                }
            },
            LeaseRecord(),
        ),
        ({"spec": {"holderIdentity": 7, "renewTime": 1.5}}, LeaseRecord()),
    ],
)
def test_record_parsing_is_lenient(lease: dict[str, Any], expected: LeaseRecord) -> None:
    assert LeaseRecord.from_lease(lease) == expected


# --------------------------------------------------------------------------- observation


@pytest.mark.parametrize(
    ("new", "observed_at"),
    [
        (record(), 100.0),  # unchanged: the countdown keeps running from the first sighting
        (record(transitions=9, duration=30), 100.0),  # fields outside the key do not reset it
        (record(renew="2026-11-28T17:00:00.000000Z"), 160.0),  # renewed
        (record(rv="8"), 160.0),  # rewritten (even with the same renewTime)
        (record(holder="third"), 160.0),  # new holder
        (record(holder=""), 160.0),  # released
    ],
)
def test_observe_restarts_countdown_only_on_change(new: LeaseRecord, observed_at: float) -> None:
    seen = observe(Observation(record(), 100.0), new, now=160.0)
    assert seen.observed_at == observed_at
    assert seen.record == new


def test_first_observation_starts_now() -> None:
    assert observe(None, record(), now=5.0) == Observation(record(), 5.0)


@pytest.mark.parametrize(
    ("duration", "expected"), [(15, 15.0), (1, 1.0), (None, 20.0), (0, 20.0), (-3, 20.0)]
)
def test_expiry_uses_the_holders_declared_duration(duration: int | None, expected: float) -> None:
    assert expiry_duration(record(duration=duration), default=20.0) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(15, 15.0), (60, 60.0), (61, 60.0), (2147483647, 60.0), (None, 20.0), (1, 1.0)],
)
def test_a_declared_duration_is_honoured_up_to_the_longest(
    duration: int | None, expected: float
) -> None:
    """A holder is taken at its word up to `longest` (4 times our lease duration)."""
    assert expiry_duration(record(duration=duration), default=20.0, longest=60.0) == expected
    assert overlong(record(duration=duration), 60.0) is (duration is not None and duration > 60)


def test_longest_honoured_is_four_lease_durations() -> None:
    assert longest_honoured(config(lease_duration=15.0)) == 60.0


def test_a_foreign_holder_of_an_absurd_duration_expires_after_the_longest() -> None:
    """leaseDurationSeconds 2147483647 (written with the service's own token): held for 60 s
    of our clock after it last changed, then expired (before: held for ever)."""
    seen = Observation(record(duration=2147483647), observed_at=100.0)
    assert judge(seen, ME, 159.9, 15.0, 60.0) is Verdict.HELD
    assert judge(seen, ME, 160.0, 15.0, 60.0) is Verdict.EXPIRED


@pytest.mark.parametrize(
    ("now", "duration", "expired"),
    [
        (100.0, 15, False),
        (114.999, 15, False),
        (115.0, 15, True),
        (500.0, 15, True),
        (100.5, 1, False),  # released by an old client: leaseDurationSeconds=1
        (101.0, 1, True),
        (119.0, None, False),  # no declared duration: our own (20 s here)
        (120.0, None, True),
    ],
)
def test_lease_expired_on_our_clock(now: float, duration: int | None, expired: bool) -> None:
    assert lease_expired(Observation(record(duration=duration), 100.0), now, 20.0) is expired


@pytest.mark.parametrize(
    "renew",
    [
        "2000-01-01T00:00:00.000000Z",  # ancient: a skewed or stopped remote clock
        "2999-01-01T00:00:00.000000Z",  # in the future
        None,
        "not a time",
    ],
)
def test_remote_timestamps_never_decide(renew: str | None) -> None:
    seen = Observation(record(renew=renew), observed_at=100.0)
    assert judge(seen, ME, 114.0, 15.0) is Verdict.HELD
    assert judge(seen, ME, 115.0, 15.0) is Verdict.EXPIRED


@pytest.mark.parametrize(
    ("holder", "now", "verdict"),
    [
        ("", 100.0, Verdict.FREE),  # released: take at once
        ("", 1000.0, Verdict.FREE),
        (ME, 100.0, Verdict.OURS),  # ours, even if we lost track: our write will be conditional
        (ME, 1000.0, Verdict.OURS),
        (OTHER, 100.0, Verdict.HELD),
        (OTHER, 114.9, Verdict.HELD),
        (OTHER, 115.0, Verdict.EXPIRED),
    ],
)
def test_judge(holder: str, now: float, verdict: Verdict) -> None:
    assert judge(Observation(record(holder=holder), 100.0), ME, now, 15.0) is verdict


# --------------------------------------------------------------------------- what we write


@pytest.mark.parametrize(
    ("current", "acquired", "transitions"),
    [
        (None, T0_STAMP, 0),  # create
        (record(holder=ME, transitions=3), "2026-11-28T16:00:00.000000Z", 3),  # renew
        (record(holder=ME, transitions=3, acquired=None), T0_STAMP, 3),
        (record(holder=OTHER, transitions=3), T0_STAMP, 4),  # take over
        (record(holder="", transitions=3), T0_STAMP, 4),  # take a released lease
    ],
)
def test_claim_spec(current: LeaseRecord | None, acquired: str, transitions: int) -> None:
    assert claim_spec(current, ME, 15, T0) == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 15,
        "acquireTime": acquired,
        "renewTime": T0_STAMP,
        "leaseTransitions": transitions,
    }


def test_release_spec_empties_holder_and_keeps_transitions() -> None:
    assert release_spec(record(holder=ME, transitions=5), T0) == {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": T0_STAMP,
        "renewTime": T0_STAMP,
        "leaseTransitions": 5,
    }


def test_updated_lease_keeps_metadata_and_other_spec_fields() -> None:
    lease: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "resourceVersion": "9", "labels": {"a": "b"}},
        "spec": {"holderIdentity": OTHER, "strategy": "OldestEmulationVersion"},
    }
    body = updated_lease(lease, {"holderIdentity": ME})
    assert body["metadata"] == lease["metadata"]
    assert body["spec"] == {"holderIdentity": ME, "strategy": "OldestEmulationVersion"}
    assert lease["spec"]["holderIdentity"] == OTHER  # input untouched


def test_updated_lease_without_spec() -> None:
    assert updated_lease({"metadata": {}, "spec": None}, {"a": 1})["spec"] == {"a": 1}


def test_new_lease() -> None:
    assert new_lease("ns", "l", {"holderIdentity": ME}) == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "namespace": "ns"},
        "spec": {"holderIdentity": ME},
    }


@pytest.mark.parametrize(
    ("end", "voluntary"),
    [
        (TermEnd.DEADLINE, False),
        (TermEnd.TAKEN, False),
        (TermEnd.SHUTDOWN, False),
        (TermEnd.WORK_RETURNED, True),
        (TermEnd.WORK_FAILED, True),
        (TermEnd.WORK_CANCELLED, True),
    ],
)
def test_only_the_works_own_end_is_a_voluntary_step_down(end: TermEnd, voluntary: bool) -> None:
    assert end.voluntary is voluntary
