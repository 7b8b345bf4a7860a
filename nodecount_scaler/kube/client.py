"""The one module that sends HTTP requests to the Kubernetes API.

kubernetes-asyncio supplies configuration (kubeconfig, in-cluster token rotation, exec
plugins, TLS); its generated models are bypassed: every request asks for the raw
`aiohttp.ClientResponse` (`_preload_content=False`) and bodies are decoded with orjson,
because model deserialization costs about 40x more and blocks the event loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
import orjson
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from nodecount_scaler import __version__, metrics

JsonObject = dict[str, Any]
Query = Sequence[tuple[str, str]]

USER_AGENT: Final = f"nodecount-scaler/{__version__}"
MERGE_PATCH: Final = "application/merge-patch+json"
SERVICE_ACCOUNT_TOKEN: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class ApiError(Exception):
    """A request that did not succeed; status 0 means no HTTP answer (connection, timeout).

    A plain Exception subclass, not a frozen dataclass: raising through a context manager
    assigns __traceback__, which a frozen dataclass refuses."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str = "") -> None:
        super().__init__(method, path, status, reason, message)
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.method} {self.path} -> {self.status} {self.reason}{detail}"

    @property
    def retryable(self) -> bool:
        # 409 Conflict (optimistic concurrency), 429 (priority and fairness) and 5xx are
        # transient by the API conventions; 0 is a network failure.
        return self.status in (0, 409, 429) or self.status >= 500

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_ACCOUNT_TOKEN)


class ConfigError(Exception):
    """No usable Kubernetes configuration (said in one line for the operator)."""


def kubeconfig_files(kubeconfig: str | None) -> list[str]:
    """The kubeconfig files kubectl would read: the flag, else KUBECONFIG's list, else
    ~/.kube/config."""
    if kubeconfig is not None:
        return [kubeconfig]
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [os.path.expanduser("~/.kube/config")]


def existing_kubeconfig(kubeconfig: str | None) -> list[str]:
    """The kubeconfig files to read; ConfigError when none of them exists, so that the
    operator reads "file not found" rather than a parse error about current-context."""
    files = kubeconfig_files(kubeconfig)
    if not any(os.path.isfile(f) for f in files):
        where = "" if in_cluster() or kubeconfig else "not running in a cluster, and "
        raise ConfigError(f"{where}file not found: {', '.join(files)}")
    return files


async def load_configuration(
    kubeconfig: str | None = None, context: str | None = None
) -> k8s_client.Configuration:
    """In-cluster config inside a pod unless a kubeconfig is named; else KUBECONFIG or ~/.kube."""
    configuration = k8s_client.Configuration()
    if kubeconfig is None and context is None and in_cluster():
        try:
            # Synchronous, and re-reads the projected token file when it rotates.
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException as exc:
            raise ConfigError(f"in-cluster configuration: {exc}") from exc
        return configuration
    files = existing_kubeconfig(kubeconfig)
    try:
        await k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except Exception as exc:  # the library raises many kinds; all mean "a bad file"
        raise ConfigError(f"cannot use kubeconfig {', '.join(files)}: {exc}") from exc
    return configuration


class KubeClient:
    """Raw-JSON requests against the API server, with a timeout on every call."""

    def __init__(
        self,
        configuration: k8s_client.Configuration,
        *,
        request_timeout: float = 10.0,
    ) -> None:
        self._api = k8s_client.ApiClient(configuration)
        self._api.user_agent = USER_AGENT
        self.request_timeout = request_timeout

    @classmethod
    async def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, **kwargs: Any
    ) -> KubeClient:
        return cls(await load_configuration(kubeconfig, context), **kwargs)

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # aiohttp's timeout starts with the HTTP exchange; this one also bounds the token or
        # exec-plugin refresh that call_api runs first. For a stream it covers the headers.
        budget = timeout.total if timeout.total is not None else (timeout.connect or 10.0) * 2
        try:
            async with asyncio.timeout(budget):
                response: aiohttp.ClientResponse = await self._api.call_api(
                    path,
                    method,
                    query_params=list(query),
                    header_params=headers,
                    body=body,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _request_timeout=timeout,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            metrics.API_REQUESTS.labels(method, "error").inc()
            raise ApiError(method, path, 0, type(exc).__name__, str(exc)) from exc
        metrics.API_REQUESTS.labels(method, str(response.status)).inc()
        return response

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> bytes:
        """Send one request and return the raw body; raise ApiError unless 2xx."""
        seconds = self.request_timeout if timeout is None else timeout
        started = time.perf_counter()
        response = await self._send(
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
            timeout=aiohttp.ClientTimeout(total=seconds),
        )
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(method, path, 0, type(exc).__name__, str(exc)) from exc
        finally:
            response.release()
            metrics.API_LATENCY.labels(method).observe(time.perf_counter() - started)
        if not 200 <= response.status < 300:
            raise _error_from(method, path, response.status, response.reason or "", raw)
        return raw

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> JsonObject:
        """Send one request and return the decoded JSON body; raise ApiError unless 2xx."""
        raw = await self._exchange(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )
        if not raw:
            return {}
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # A proxy's HTML page with a 2xx status, say: an API failure, not a crash.
            raise ApiError(method, path, 0, "InvalidResponse", str(exc)) from exc
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    async def get_bytes(self, path: str, *, query: Query = (), timeout: float) -> bytes:
        """GET returning the undecoded body, so a list page is parsed exactly once."""
        return await self._exchange("GET", path, query=query, timeout=timeout)

    @asynccontextmanager
    async def stream(
        self, path: str, *, query: Query, connect_timeout: float, read_timeout: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a watch stream. `read_timeout` bounds the silence between two reads; a stalled
        connection would otherwise hang for ever (tomplus/kubernetes_asyncio#360)."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        response = await self._send("GET", path, query=query, timeout=timeout)
        try:
            if response.status != 200:
                try:
                    raw = await response.read()
                except (aiohttp.ClientError, TimeoutError, OSError):
                    raw = b""
                raise _error_from("GET", path, response.status, response.reason or "", raw)
            yield response
        finally:
            response.release()

    async def merge_patch(
        self,
        path: str,
        patch: Mapping[str, Any],
        *,
        field_manager: str,
        timeout: float | None = None,
    ) -> JsonObject:
        return await self.request(
            "PATCH",
            path,
            query=[("fieldManager", field_manager)],
            body=dict(patch),
            content_type=MERGE_PATCH,
            timeout=timeout,
        )


def _error_from(method: str, path: str, status: int, reason: str, raw: bytes) -> ApiError:
    message = ""
    try:
        status_object = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        status_object = None
    if isinstance(status_object, dict):
        message = str(status_object.get("message", ""))
        reason = str(status_object.get("reason", reason)) or reason
    elif raw:
        message = raw[:200].decode("utf-8", "replace")
    return ApiError(method, path, status, reason, message)
