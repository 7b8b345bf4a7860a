"""The start-up check of the API server's release (/version): below the supported range the
service refuses to start with one log line; see model/server_version.py for why."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.kube.watch import Backoff
from nodecount_scaler.model.server_version import (
    MINIMUM,
    NEWEST_TESTED,
    ServerVersion,
    Verdict,
    parse_server_version,
    release_name,
)

log = structlog.get_logger(__name__)

SUPPORT_DOC = "docs/kubernetes-versions.md in the nodecount-scaler repository"


async def read_server_version(client: KubeClient, stop: asyncio.Event) -> ServerVersion | None:
    """GET /version, retried with backoff while the failure is transient (the API server
    not reachable yet); None when ``stop`` was set first. Any other failure (401, 403, 404:
    /version hidden by a proxy) gives an UNKNOWN version: the check is then skipped with a
    warning, since the requests that follow report such a failure on their own."""
    backoff = Backoff(initial=0.5, cap=10.0)
    while not stop.is_set():
        try:
            return parse_server_version(await client.request("GET", "/version"))
        except ApiError as exc:
            if not exc.retryable:
                log.warning("cannot read the API server version; not checked", error=str(exc))
                return ServerVersion(None, "(unreadable)")
            log.warning("cannot read the API server version yet; retrying", error=str(exc))
        delay = backoff.next_delay()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return None


def admit(version: ServerVersion) -> bool:
    """Log what the version means for this service; False when it must not start."""
    verdict = version.verdict
    supported = f"{release_name(MINIMUM)} to {release_name(NEWEST_TESTED)}"
    if verdict is Verdict.TOO_OLD:
        log.error(
            "Kubernetes API server too old; not starting",
            server_version=version.shown,
            minimum=release_name(MINIMUM),
            supported=supported,
            help=SUPPORT_DOC,
        )
        return False
    if verdict is Verdict.UNTESTED_NEWER:
        log.warning(
            "Kubernetes API server newer than any release tested",
            server_version=version.shown,
            supported=supported,
        )
    elif verdict is Verdict.UNKNOWN:
        log.warning(
            "Kubernetes API server version not recognised; not checked",
            server_version=version.shown,
            supported=supported,
        )
    else:
        log.info("Kubernetes API server version", server_version=version.shown)
    return True
