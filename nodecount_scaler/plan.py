"""`nodecount-scaler plan`: one list of everything, the decision for every target, no writes."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

import orjson
import structlog

from nodecount_scaler.cli import Settings
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.service import build_controller, build_reflectors

log = structlog.get_logger(__name__)


def render_table(targets: list[dict[str, Any]], out: TextIO) -> None:
    header = (
        "NAMESPACE",
        "NAME",
        "ELIGIBLE",
        "CURRENT",
        "DESIRED",
        "NOT COUNTED",
        "FINDINGS",
        "ERRORS",
    )
    rows = [header]
    for t in targets:
        rows.append(
            (
                t["namespace"],
                t["name"],
                "-" if t["eligible"] is None else str(t["eligible"]),
                str(t["current"]),
                "-" if t["desired"] is None else str(t["desired"]),
                ",".join(f"{rule}={n}" for rule, n in t.get("excluded", {}).items()) or "-",
                ",".join(f["kind"] for f in t["findings"]) or "-",
                "; ".join(
                    t["errors"]
                    + ([f"autoscaler: {', '.join(t['autoscalers'])}"] if t["autoscalers"] else [])
                )
                or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


async def run_plan(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Exit code 0, or 1 when any target is invalid, or 2 when the cluster cannot be read."""
    try:
        client = await KubeClient.connect(settings.kubeconfig, settings.context)
    except Exception as exc:  # noqa: BLE001 - any config problem ends the command with a clear line
        log.error("cannot load Kubernetes configuration", error=str(exc))
        return 2
    async with client:
        controller = build_controller(client, settings, identity="plan")
        try:
            await asyncio.gather(
                *(r.list_once() for r in build_reflectors(client, controller, settings))
            )
        except ApiError as exc:
            log.error("cannot list", error=str(exc))
            return 2
        targets = controller.status(explain=True)
    if settings.output == "json":
        out.write(orjson.dumps(targets, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_table(targets, out)
    return 1 if any(not t["valid"] for t in targets) else 0
