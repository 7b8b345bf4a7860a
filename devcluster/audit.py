"""The apiserver's audit policies and the reading of its JSON log.

``AUDIT_POLICY`` (the tests' default) records Deployment writes only; ``requests_policy``
(the scale benchmark's) records every request of the named users and every Node write, so
that requests per change and node-change-to-write latency come from the server's own
timestamps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["patch", "update"]
  resources:
  - group: "apps"
    resources: ["deployments", "deployments/scale"]
- level: None
"""


def requests_policy(users: list[str]) -> str:
    """Every request of ``users`` at Metadata level (verb, resource, timestamps, no bodies),
    every write of a Node by anyone (the changes a scaler reacts to), nothing else. One
    entry per request: at ResponseComplete (watches: when they end)."""
    quoted = ", ".join(f'"{u}"' for u in users)
    return f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  users: [{quoted}]
- level: Metadata
  verbs: ["create", "update", "patch", "delete"]
  resources:
  - group: ""
    resources: ["nodes", "nodes/status"]
- level: None
"""


def audit_events(
    log: Path, *, namespace: str | None = None, name: str | None = None
) -> list[dict[str, Any]]:
    """Completed requests in the audit log: patch/update of deployments and
    deployments/scale (the policy records nothing else), optionally filtered."""
    try:
        text = log.read_text()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if ev.get("stage") != "ResponseComplete":
            continue
        ref = ev.get("objectRef") or {}
        if namespace is not None and ref.get("namespace") != namespace:
            continue
        if name is not None and ref.get("name") != name:
            continue
        events.append(ev)
    return events
