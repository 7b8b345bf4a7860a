"""`nodecount-scaler plan`: one list of everything, the decision for every target, no writes.

Read-only by construction: it takes the read side of the assembly (assembly.observe: the
kinds of --kind and --workload, the state and the reflectors that fill it) and no reconciler
or event recorder at all, so nothing here holds a way to write.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

import orjson
import structlog

from nodecount_scaler.assembly import observe
from nodecount_scaler.kube.client import ApiError, ConfigError, KubeClient
from nodecount_scaler.model.status import target_status
from nodecount_scaler.report import render_table, status_json
from nodecount_scaler.settings import Settings

log = structlog.get_logger(__name__)


async def run_plan(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Exit code 0, or 1 when any target is invalid, or 2 when the cluster cannot be read."""
    try:
        client = await KubeClient.connect(settings.kubeconfig, settings.context)
    except ConfigError as exc:
        log.error("cannot load Kubernetes configuration", error=str(exc))
        return 2
    async with client:
        try:
            observed = await observe(client, settings)
            await asyncio.gather(*(r.list_once() for r in observed.watches.every))
        except ApiError as exc:
            log.error("cannot list", error=str(exc))
            return 2
    now = time.monotonic()
    state = observed.state
    statuses = [
        target_status(state, key, settings.replica_cap, explain_at=now)
        for key in sorted(state.targets)
    ]
    if settings.output == "json":
        body = [status_json(s) for s in statuses]
        out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_table(statuses, out)
    return 1 if any(not s.valid for s in statuses) else 0
