"""API discovery for the custom workloads named by `--workload`: their Kind, and whether they
have the /scale subresource this service writes through. Asked once at start-up."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.kinds import CustomWorkload, WorkloadKind, parse_workload

log = structlog.get_logger(__name__)


async def resolve(client: KubeClient, named: Iterable[str]) -> list[WorkloadKind]:
    """The watchable custom workloads. One that the API server does not serve is logged
    and left out; one without /scale is kept with a problem, so its targets are reported."""
    found: list[WorkloadKind] = []
    for text in named:
        custom = parse_workload(text)
        if isinstance(custom, str):  # checked by the command line already
            log.error("invalid --workload", value=text, problem=custom)
            continue
        kind = await _describe(client, custom)
        if kind is not None:
            found.append(kind)
    return found


async def _describe(client: KubeClient, custom: CustomWorkload) -> WorkloadKind | None:
    path = f"/apis/{custom.group}/{custom.version}"
    try:
        listing = await client.request("GET", path)
    except ApiError as exc:
        log.error(
            "custom workload not served; not watched",
            workload=str(custom),
            error=str(exc),
            hint="is its CustomResourceDefinition installed, with this group and version?",
        )
        return None
    resources = listing.get("resources")
    entries = [r for r in resources if isinstance(r, dict)] if isinstance(resources, list) else []
    names = {str(r.get("name")) for r in entries}
    kind = next((r.get("kind") for r in entries if r.get("name") == custom.resource), None)
    if not isinstance(kind, str) or not kind:
        log.error("custom workload not served; not watched", workload=str(custom), path=path)
        return None
    problem = None
    if f"{custom.resource}/scale" not in names:
        problem = (
            f"{custom.resource}.{custom.group} has no scale subresource: nodecount-scaler "
            "writes replicas only through /scale (add `subresources: scale` to its "
            "CustomResourceDefinition)"
        )
        log.error("custom workload has no /scale; its targets are left alone", workload=str(custom))
    return custom.with_kind(kind, problem)
