"""Both listeners of the process, started and stopped together, and the loop that keeps the
metrics listener's client CA current."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Final

import structlog
from aiohttp import web

from nodecount_scaler import limits
from nodecount_scaler.http.app import Probes, metrics_app, probe_app
from nodecount_scaler.http.auth import DelegatedAuth
from nodecount_scaler.http.listener import METRICS_LIMITS, PROBE_LIMITS, BoundedListener
from nodecount_scaler.http.tls import ServingTls, TlsError
from nodecount_scaler.http.tokens import JwksError, parse_issuer
from nodecount_scaler.kube.client import ApiError, KubeClient

log = structlog.get_logger(__name__)

AUTHENTICATION_CONFIGMAP: Final = (
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
)
CLIENT_CA_KEY: Final = "client-ca-file"
DISCOVERY: Final = "/.well-known/openid-configuration"
JWKS: Final = "/openid/v1/jwks"
# The only representation the API server serves it in (406 for application/json).
JWKS_MEDIA_TYPE: Final = "application/jwk-set+json"
ISSUER_HINT: Final = (
    "the service account needs get on the non-resource URLs /.well-known/openid-configuration "
    "and /openid/v1/jwks (ClusterRole system:service-account-issuer-discovery, bound to "
    "every service account by default); until then a flood of bad tokens can delay a "
    "scraper's first scrape"
)
CLIENT_CA_HINT: Final = (
    "bind the Role kube-system/extension-apiserver-authentication-reader to the service "
    "account; until then only bearer tokens are accepted"
)


class Endpoints:
    """The probes listener (plain) and the metrics listener (HTTPS + auth when secure)."""

    def __init__(
        self,
        client: KubeClient,
        probes: Probes,
        *,
        secure: bool,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        self._client = client
        self._probes = probes
        self.tls = ServingTls(cert_file, key_file) if secure else None
        self.auth = DelegatedAuth(client) if secure else None
        self.probes = BoundedListener("probes", PROBE_LIMITS)
        self.metrics = BoundedListener(
            "metrics", METRICS_LIMITS, self.tls.context if self.tls else None
        )
        self._probe_thread = ProbeThread(self.probes)
        self._refresh: asyncio.Task[None] | None = None
        self._ca_problem: str | None = None
        self._issuer_problem: str | None = None

    async def start(self, health_addr: str, metrics_addr: str) -> None:
        await self._probe_thread.start(probe_app(self.probes, self._probes), health_addr)
        if self.tls is not None:
            await self.tls.ready()
            # Read before serving, so the first scrape with a client certificate works.
            await self.refresh_client_ca()
            await self.refresh_issuer()
            self._refresh = asyncio.create_task(self._refresh_loop(), name="client-ca")
        await self.metrics.start(metrics_app(self.metrics, self._probes, self.auth), metrics_addr)

    async def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
        await self.metrics.stop()
        await self._probe_thread.stop()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(limits.CLIENT_CA_REFRESH)
            await self.refresh_client_ca()
            await self.refresh_issuer()

    async def refresh_issuer(self) -> None:
        """Take the API server's service-account issuer and keys, which sort bearer tokens
        into the review lanes (http/auth.py); a failure keeps the last ones (or none) and is
        logged once until it changes."""
        assert self.auth is not None
        try:
            discovery = await self._client.request("GET", DISCOVERY)
            jwks = await self._client.request("GET", JWKS, accept=JWKS_MEDIA_TYPE)
            issuer = parse_issuer(discovery, jwks)
        except (ApiError, JwksError) as exc:
            if str(exc) != self._issuer_problem:
                forbidden = isinstance(exc, ApiError) and exc.forbidden
                log.error(
                    "cannot read the API server's service-account keys",
                    error=str(exc),
                    hint=ISSUER_HINT if forbidden else None,
                )
            self._issuer_problem = str(exc)
            return
        if self.auth.issuer is None or self._issuer_problem is not None:
            log.info("service-account keys loaded", issuer=issuer.name, keys=len(issuer.keys))
        self._issuer_problem = None
        self.auth.issuer = issuer

    async def refresh_client_ca(self) -> None:
        """Take the cluster's client CA; a failure keeps the CA in force (or none) and is
        logged once until it changes."""
        assert self.tls is not None
        try:
            configmap = await self._client.request("GET", AUTHENTICATION_CONFIGMAP)
            data = configmap.get("data")
            bundle = data.get(CLIENT_CA_KEY) if isinstance(data, dict) else None
            if not isinstance(bundle, str) or not bundle.strip():
                raise TlsError(f"the ConfigMap has no {CLIENT_CA_KEY}")
            self.tls.set_client_ca(bundle.encode())
        except (ApiError, TlsError) as exc:
            forbidden = isinstance(exc, ApiError) and exc.forbidden
            self._report(str(exc), CLIENT_CA_HINT if forbidden else None)
            return
        if self._ca_problem is not None or self._refresh is None:
            log.info("client CA loaded; client certificates are accepted")
        self._ca_problem = None

    def _report(self, problem: str, hint: str | None) -> None:
        if problem != self._ca_problem:
            log.error("cannot read the cluster's client CA", error=problem, hint=hint)
        self._ca_problem = problem


class ProbeThread:
    """The probes listener on a thread and event loop of its own: however busy the main
    loop is (a thousand requests a second of /metrics readers, each a TLS record, a parse
    and an answer), /healthz and /readyz are answered at once, and say how late the main
    loop's heartbeat is (Service.health reads it, and the reflectors' progress: plain
    attributes, read across threads). At 2,000 targets 150 readers on the main loop kept
    a probe waiting 0.2 s at the median and 2 s at worst."""

    def __init__(self, listener: BoundedListener) -> None:
        self.listener = listener
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def start(self, app: web.Application, address: str) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="probes", daemon=True)
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self.listener.start(app, address), loop)
        try:
            await asyncio.wrap_future(started)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stopped = asyncio.run_coroutine_threadsafe(self.listener.stop(), loop)
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(stopped)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()
        self._loop = self._thread = None
