"""`kubectl nodecount status`: the running leader's /status, read with the caller's own
credentials.

Not through the API server's service proxy: the API server drops the caller's
Authorization header once it has authenticated it (k8s.io/apiserver WithAuthentication,
https://github.com/kubernetes/kubernetes/blob/v1.36.3/staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go#L89)
and its proxy transport presents no client certificate (CreateProxyTransport,
https://github.com/kubernetes/kubernetes/blob/v1.36.3/pkg/controlplane/apiserver/config.go#L420),
so the metrics listener would see an anonymous caller and answer 401. Instead:

1. the Lease `<namespace>/nodecount-scaler` names the leader (holderIdentity: its pod name
   and a random suffix); that pod must exist;
2. `kubectl port-forward pod/<leader> :8443` (with the same --kubeconfig and --context)
   tunnels a loopback port, chosen by kubectl and read from its "Forwarding from" line,
   through the API server to the pod;
3. GET https://127.0.0.1:<port>/status with the kubeconfig's own credentials, loaded by
   kube/config.py (a client certificate, a token, an exec plugin's token).

What is verified: the API server's certificate, by the kubeconfig's CA, for the Lease and
pod reads and for the tunnel itself. The scaler's serving certificate is not: it is
self-signed unless one is mounted, so there is no CA to check it against, and what it would
prove, that the far end is the pod, the tunnel already does (the API server connects it to
that pod; the local end is a loopback port that the kubectl started here bound and
announced). A client certificate, where the kubeconfig has one, is used alone: it proves
the caller without a reusable secret reaching the pod. A bearer token does reach it (the
scaler must pass it to a TokenReview), as with any endpoint that delegates authentication.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TextIO

import orjson

from nodecount_scaler.kube.client import ApiError, ConfigError, KubeClient
from nodecount_scaler.kube.config import Configuration, load_configuration
from nodecount_scaler.model.lease import LeaseRecord, holder_pod
from nodecount_scaler.report import StatusShapeError, render_status

METRICS_PORT: Final = 8443
LEASE: Final = "nodecount-scaler"
DEFAULT_NAMESPACE: Final = "nodecount-scaler"
DEFAULT_TIMEOUT: Final = 30.0
READER_ROLE: Final = "nodecount-scaler-metrics-reader"
# "Forwarding from 127.0.0.1:40123 -> 8443", kubectl's first line once the port is bound.
_FORWARDING: Final = re.compile(r"^Forwarding from 127\.0\.0\.1:(\d{1,5}) -> \d+\s*$")
_STDERR_TAIL: Final = 4096

# Opens a way to the pod's metrics port; yields HOST:PORT on this machine.
Forward = Callable[[str], AbstractAsyncContextManager[str]]


class StatusError(Exception):
    """Why /status could not be read, in one line for the operator."""


@dataclass(frozen=True, slots=True)
class StatusOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    timeout: float = DEFAULT_TIMEOUT
    output: str = "table"


def forwarded_port(line: str) -> int | None:
    """The local port of kubectl port-forward's "Forwarding from 127.0.0.1:N -> M" line."""
    match = _FORWARDING.match(line)
    port = int(match.group(1)) if match else 0
    return port if 0 < port < 65536 else None


def port_forward_problem(stderr: str, namespace: str, pod: str) -> str:
    """What a failed `kubectl port-forward` means, from its standard error."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    said = lines[-1][:300] if lines else "no output"
    if "forbidden" in stderr.lower():
        return (
            f"kubectl port-forward to {namespace}/{pod} was refused: you need create on "
            f"pods/portforward (and get on pods) in {namespace} ({said})"
        )
    if "not running" in stderr:
        return f"the leader's pod {namespace}/{pod} is not running ({said})"
    return f"kubectl port-forward to {namespace}/{pod} failed ({said})"


def answer_problem(exc: ApiError) -> str:
    """What the metrics listener's refusal means, and what to do about it."""
    said = exc.message.strip()[:200]
    if exc.status == 401:
        return (
            "nodecount-scaler did not accept your credentials (401): a token must pass a "
            "TokenReview, a client certificate the cluster's client CA"
        )
    if exc.status == 403:
        return (
            f"forbidden (403: {said}): bind the ClusterRole {READER_ROLE} to you, e.g. "
            f"kubectl create clusterrolebinding <name> --clusterrole={READER_ROLE} --user=<you>"
        )
    if exc.status in (429, 503):
        return f"nodecount-scaler cannot check you right now ({exc.status}: {said}); retry"
    return f"reading /status failed: {exc}"


async def leader_pod(api: KubeClient, namespace: str) -> str:
    """The pod of the Lease's holder; StatusError when there is none or it is gone."""
    where = f"{namespace}/{LEASE}"
    try:
        lease = await api.request(
            "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
        )
    except ApiError as exc:
        if exc.status == 404:
            raise StatusError(
                f"no Lease {where}: nodecount-scaler does not run with --leader-elect in "
                f"{namespace} (-n names its namespace)"
            ) from None
        if exc.forbidden:
            raise StatusError(f"cannot read the Lease {where}: you need get on leases") from None
        raise StatusError(f"reading the Lease {where}: {exc}") from None
    holder = LeaseRecord.from_lease(lease).holder_identity
    if not holder:
        raise StatusError(f"no leader: the Lease {where} has no holder (released or new)")
    pod = holder_pod(holder)
    try:
        await api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    except ApiError as exc:
        if exc.status == 404:
            raise StatusError(
                f"the leader's pod {namespace}/{pod} is gone (the Lease still names {holder}; "
                "another instance takes over once it expires)"
            ) from None
        if exc.forbidden:
            raise StatusError(
                f"cannot read the pod {namespace}/{pod}: you need get on pods"
            ) from None
        raise StatusError(f"reading the pod {namespace}/{pod}: {exc}") from None
    return pod


def kubectl_port_forward(options: StatusOptions) -> Forward:
    """`kubectl port-forward` of the pod's metrics port to a loopback port kubectl picks."""

    @asynccontextmanager
    async def forward(pod: str) -> AsyncIterator[str]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise StatusError("kubectl is not on PATH (it opens the port-forward)")
        command = [kubectl, "port-forward", "--namespace", options.namespace]
        command += [f"pod/{pod}", f":{METRICS_PORT}", "--address", "127.0.0.1"]
        for flag, value in (("--kubeconfig", options.kubeconfig), ("--context", options.context)):
            if value is not None:
                command += [flag, value]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            port = await _announced_port(process)
            if port is None:
                await process.wait()
                assert process.stderr is not None
                stderr = (await process.stderr.read(_STDERR_TAIL)).decode("utf-8", "replace")
                raise StatusError(port_forward_problem(stderr, options.namespace, pod))
            yield f"127.0.0.1:{port}"
        finally:
            await _stop(process)

    return forward


async def _announced_port(process: asyncio.subprocess.Process) -> int | None:
    """The port of the first "Forwarding from 127.0.0.1:N" line; None once kubectl exits."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        port = forwarded_port(line.decode("utf-8", "replace"))
        if port is not None:
            return port
    return None


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await process.wait()


def metrics_client(user: Configuration, address: str) -> KubeClient:
    """A client of the metrics listener at HOST:PORT with the kubeconfig's credentials (see
    the module's docstring for what is and is not verified)."""
    config = copy.copy(user)
    config.host = f"https://{address}"
    config.verify_ssl = False
    config.tls_server_name = None
    if config.cert_file:
        # Fresh objects: the copy shares them with the caller's configuration.
        config.api_key = {}
        config.api_key_prefix = {}
        config.refresh_api_key_hook = None
    client = KubeClient(config)
    # A loopback port-forward is never sent to a proxy, whatever HTTPS_PROXY says.
    client.endpoint = dataclasses.replace(client.endpoint, proxy=None, server_hostname=None)
    return client


async def read_status(user: Configuration, address: str, timeout: float) -> Any:
    async with metrics_client(user, address) as client:
        try:
            raw = await client.get_bytes("/status", timeout=timeout)
        except ApiError as exc:
            raise StatusError(answer_problem(exc)) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StatusError(f"{address} answered something that is not JSON") from None


async def fetch_status(options: StatusOptions, forward: Forward | None = None) -> Any:
    """The leader's /status answer, decoded; StatusError for every way it can fail. All of
    it within options.timeout."""
    try:
        async with asyncio.timeout(options.timeout):
            user = await load_configuration(options.kubeconfig, options.context)
            async with KubeClient(user) as api:
                pod = await leader_pod(api, options.namespace)
            async with (forward or kubectl_port_forward(options))(pod) as address:
                return await read_status(user, address, options.timeout)
    except ConfigError as exc:
        raise StatusError(str(exc)) from None
    except TimeoutError:
        raise StatusError(f"no answer within {options.timeout:g} s (--timeout)") from None


def run_status(
    options: StatusOptions,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    forward: Forward | None = None,
) -> int:
    """Print the status (table or JSON); 0, or 1 with one line on `err`."""
    try:
        body = asyncio.run(fetch_status(options, forward))
        if options.output == "json":
            out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            render_status(body, out)
    except StatusError as exc:
        err.write(f"kubectl nodecount status: {exc}\n")
        return 1
    except StatusShapeError as exc:
        err.write(f"kubectl nodecount status: not a nodecount-scaler /status answer: {exc}\n")
        return 1
    return 0
