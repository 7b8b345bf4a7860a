"""API discovery for the custom workloads named by `--workload`: their Kind, whether they
have the /scale subresource this service writes through, and where that subresource keeps
the replicas. Asked once at start-up.

The replicas' place is in the CustomResourceDefinition alone (its scale subresource's
specReplicasPath: `.spec.replicas` or, say, `.spec.size`); neither discovery nor a Scale
object tells it, and reading spec.replicas where the resource keeps them elsewhere reads a
count that is not there (a hand edit of the real field would never be set back). So the
definition is read once, with `get` on that one CustomResourceDefinition (RBAC
resourceNames): the narrowest grant that tells the path, and one request per kind, where
reading each target's /scale instead would take `get` on every object's scale
subresource and a request per reconcile. A definition that cannot be read refuses the
kind: its targets are reported invalid with the reason, the rest go on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import structlog

from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.kinds import (
    CustomWorkload,
    WorkloadKind,
    parse_workload,
    scale_replicas_path,
)

DEFINITIONS: Final = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

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
    if f"{custom.resource}/scale" not in names:
        problem = (
            f"{custom.definition} has no scale subresource: nodecount-scaler "
            "writes replicas only through /scale (add `subresources: scale` to its "
            "CustomResourceDefinition)"
        )
        log.error("custom workload has no /scale; its targets are left alone", workload=str(custom))
        return custom.with_kind(kind, problem)
    replicas = await _replicas_path(client, custom)
    if isinstance(replicas, str):
        log.error("custom workload refused; its targets are left alone", problem=replicas)
        return custom.with_kind(kind, replicas)
    return custom.with_kind(kind, replicas_path=replicas)


async def _replicas_path(client: KubeClient, custom: CustomWorkload) -> tuple[str, ...] | str:
    """Where its scale subresource keeps the replicas, or why that cannot be known."""
    name = custom.definition
    try:
        definition = await client.request("GET", f"{DEFINITIONS}/{name}")
    except ApiError as exc:
        if exc.forbidden:
            return (
                f"cannot read the CustomResourceDefinition {name} to learn where its scale "
                "subresource keeps the replicas: the service account needs get on "
                f"customresourcedefinitions (apiextensions.k8s.io) named {name}"
            )
        if exc.status == 404:
            return (
                f"{name} is served without a CustomResourceDefinition (an aggregated API): "
                "nodecount-scaler cannot learn where its scale subresource keeps the replicas"
            )
        return f"cannot read the CustomResourceDefinition {name}: {exc}"
    found = scale_replicas_path(definition, custom.version)
    return found if isinstance(found, tuple) else f"{name}: {found}"
