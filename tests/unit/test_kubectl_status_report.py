"""`kubectl nodecount status`'s pure parts: the table of a /status answer, the Lease holder's
pod, kubectl port-forward's announced port, and what each failure tells the operator."""

from __future__ import annotations

import io
from typing import Any

import pytest

from nodecount_scaler.kube.client import ApiError
from nodecount_scaler.kubectl_status import answer_problem, forwarded_port, port_forward_problem
from nodecount_scaler.model.lease import holder_pod
from nodecount_scaler.report import StatusShapeError, render_status


def target(**fields: Any) -> dict[str, Any]:
    """One target of /status as the service writes it (report.status_json)."""
    return {
        "namespace": "web",
        "kind": "Deployment",
        "name": "proxy",
        "valid": True,
        "eligible": 5,
        "current": 5,
        "desired": 5,
        "findings": [],
        "errors": [],
        "autoscalers": [],
        "last_change": None,
        "last_error": None,
        "mode": "linear nodes",
        "topology": [],
        **fields,
    }


def status(*targets: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "version": "0.1.0",
        "identity": "ncs-7d4b9-x2x5q_a1b2c3",
        "leader_election": True,
        "leading": True,
        "leader": "ncs-7d4b9-x2x5q_a1b2c3",
        "dry_run": False,
        "synced": True,
        "nodes": 12,
        "targets": list(targets),
        **fields,
    }


def rendered(body: object) -> list[str]:
    out = io.StringIO()
    render_status(body, out)
    return out.getvalue().splitlines()


def test_summary_then_one_aligned_row_per_target() -> None:
    """Leader, version, nodes and sync first; then the table with the columns aligned."""
    lines = rendered(status(target(), target(kind="StatefulSet", name="db", current=3)))
    assert lines[0] == "leader ncs-7d4b9-x2x5q_a1b2c3, version 0.1.0, 12 nodes, caches synced"
    assert lines[1] == ""
    header, first, second = lines[2:]
    assert header.split() == [
        "NAMESPACE", "NAME", "ELIGIBLE", "CURRENT", "DESIRED", "MODE", "LAST", "CHANGE", "PROBLEMS"
    ]  # fmt: skip
    assert first.split() == ["web", "proxy", "5", "5", "5", "linear(nodes)", "-", "-"]
    assert second.split()[:4] == ["web", "statefulset/db", "5", "3"]
    assert header.index("MODE") == first.index("linear") == second.index("linear")


ROWS = [
    ("invalid: no counts", target(valid=False, eligible=None, desired=None, errors=["bad min"]),
     ["web", "proxy", "-", "5", "-", "linear(nodes)", "-", "bad", "min"]),
    ("last change and an HPA", target(last_change={"from": 3, "to": 5, "at": "T1"},
                                      autoscalers=["hpa/proxy"]),
     ["web", "proxy", "5", "5", "5", "linear(nodes)", "3->5", "at", "T1", "autoscaler:",
      "hpa/proxy"]),
    ("zones and a last error", target(mode="linear nodes", topology=["topology.kubernetes.io/zone"],
                                      last_error="forbidden"),
     ["web", "proxy", "5", "5", "5", "linear(topology.kubernetes.io/zone)", "-", "last", "error:",
      "forbidden"]),
    ("fields of the wrong type", target(eligible={"x": 1}, errors="not a list", mode=7),
     ["web", "proxy", "?", "5", "5", "-", "-", "-"]),
]  # fmt: skip


@pytest.mark.parametrize(("row", "cells"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_row_cells(row: dict[str, Any], cells: list[str]) -> None:
    """Each target's row, whatever its fields hold."""
    assert rendered(status(row))[3].split() == cells


def test_dry_run_not_synced_and_not_leading_are_said() -> None:
    """A dry-run instance, unsynced caches, and an instance that lost the lead are named."""
    lines = rendered(status(target(), dry_run=True, synced=False, leading=False, leader="other_1"))
    assert lines[0] == (
        "leader other_1, version 0.1.0, 12 nodes, caches NOT synced, dry run (writes nothing)"
    )
    assert lines[1] == "note: the instance that answered (ncs-7d4b9-x2x5q_a1b2c3) does not lead"


def test_no_targets() -> None:
    assert rendered(status())[-1].startswith("no targets")


@pytest.mark.parametrize(
    "body",
    [[], "text", {"targets": "x"}, {"identity": "a"}, status(targets=["not an object"])],
    ids=["list", "string", "targets not a list", "no targets", "a target not an object"],
)
def test_not_a_status_answer(body: object) -> None:
    """Anything else is a typed error, never a crash."""
    with pytest.raises(StatusShapeError):
        rendered(body)


@pytest.mark.parametrize(
    ("identity", "pod"),
    [
        ("nodecount-scaler-7d4b9-x2x5q_a1b2c3", "nodecount-scaler-7d4b9-x2x5q"),
        ("host.example.com_0f0f0f", "host.example.com"),
        ("no-suffix", "no-suffix"),
        ("a_b_c", "a_b"),
    ],
)
def test_holder_pod(identity: str, pod: str) -> None:
    """The holder identity is POD_NAME + "_" + hex; the pod is what comes before the last _."""
    assert holder_pod(identity) == pod


@pytest.mark.parametrize(
    ("line", "port"),
    [
        ("Forwarding from 127.0.0.1:40123 -> 8443\n", 40123),
        ("Forwarding from 127.0.0.1:1 -> 8443", 1),
        ("Forwarding from [::1]:40123 -> 8443", None),
        ("Forwarding from 127.0.0.1:0 -> 8443", None),
        ("Forwarding from 127.0.0.1:99999 -> 8443", None),
        ("Handling connection for 40123", None),
        ("", None),
    ],
)
def test_forwarded_port(line: str, port: int | None) -> None:
    """Only kubectl's IPv4 loopback line with a real port counts."""
    assert forwarded_port(line) == port


PORT_FORWARD = [
    ("rbac", 'Error from server (Forbidden): pods "p" is forbidden: User "u" cannot create '
     'resource "pods/portforward"', "you need create on pods/portforward"),
    ("pending", "error: unable to forward port because pod is not running. Current status=Pending",
     "the leader's pod ops/p is not running"),
    ("other", "error: dial tcp: connection refused\n", "kubectl port-forward to ops/p failed"),
    ("silent", "", "(no output)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stderr", "said"), [c[1:] for c in PORT_FORWARD], ids=[c[0] for c in PORT_FORWARD]
)
def test_port_forward_problem(stderr: str, said: str) -> None:
    """The operator learns which permission is missing, or what kubectl said."""
    assert said in port_forward_problem(stderr, "ops", "p")


ANSWERS = [
    (401, "Unauthorized", "did not accept your credentials"),
    (
        403,
        "Forbidden: alice may not get it",
        "bind the ClusterRole nodecount-scaler-metrics-reader",
    ),
    (429, "too many authentication reviews", "retry"),
    (503, "authentication is unavailable", "retry"),
    (0, "connection reset", "reading /status failed"),
]


@pytest.mark.parametrize(
    ("status_code", "message", "said"), ANSWERS, ids=[str(a[0]) for a in ANSWERS]
)
def test_answer_problem(status_code: int, message: str, said: str) -> None:
    """401, 403 (with the scaler's own words and the role to bind), busy, broken."""
    text = answer_problem(ApiError("GET", "/status", status_code, "x", message))
    assert said in text
    if status_code == 403:
        assert "alice may not get it" in text
