"""The apiserver's audit policy (Deployment writes only) and the reading of its JSON log."""

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
