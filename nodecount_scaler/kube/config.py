"""Where the API server is and how to reach it: kubernetes-asyncio's kubeconfig and
in-cluster loaders, without its generated client.

kubernetes-asyncio is kept for what it does well: kubeconfig files (contexts, embedded or
file certificates, proxy-url, tls-server-name), exec plugins and OIDC, and the in-cluster
service-account token, re-read as it rotates. Its generated client is not used (requests
are raw JSON, kube/client.py). But `import kubernetes_asyncio.config` first runs
`kubernetes_asyncio/__init__.py` and `client/__init__.py`, which import about 700
generated API and model modules: 63 MiB of RSS for nothing. So, unless the full package
is already loaded, both are registered as bare package modules (their real directories as
`__path__`, with only what the loaders name), and the loaders are imported under them.
Anything else asked of those packages loads their real `__init__` then, once.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import ssl
import sys
import types
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

SERVICE_ACCOUNT_TOKEN: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"
PROXY_SCHEMES: Final = ("http", "https")


def _bare_package(name: str) -> types.ModuleType:
    """The package module without running its __init__; its first unknown attribute runs it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed")
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)
    loading = False

    def __getattr__(attribute: str) -> object:
        nonlocal loading
        if loading or attribute.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        # `from package import submodule` asks for the attribute first: a submodule is
        # imported alone.
        if importlib.util.find_spec(f"{name}.{attribute}") is not None:
            return importlib.import_module(f"{name}.{attribute}")
        # Some other code wants the generated client after all: give it the real package.
        loading = True
        loader.exec_module(module)
        try:
            return module.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    return module


class _ApiClientOnDemand:
    """Stands for `kubernetes_asyncio.client.ApiClient` in the bare package: the loaders
    name it (in a signature) but only build one in helpers this service never calls."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from kubernetes_asyncio.client.api_client import ApiClient

        return ApiClient(*args, **kwargs)


def _register_bare_packages() -> None:
    if "kubernetes_asyncio" in sys.modules:
        return  # already imported in full (a test, a REPL): nothing to save
    top = _bare_package("kubernetes_asyncio")
    client = _bare_package("kubernetes_asyncio.client")
    top.client = client  # type: ignore[attr-defined]
    configuration = importlib.import_module("kubernetes_asyncio.client.configuration")
    client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
    client.ApiClient = _ApiClientOnDemand  # type: ignore[attr-defined]


_register_bare_packages()

from kubernetes_asyncio import config as k8s_config  # noqa: E402
from kubernetes_asyncio.client.configuration import Configuration  # noqa: E402

__all__ = [
    "ConfigError",
    "Configuration",
    "Endpoint",
    "endpoint",
    "existing_kubeconfig",
    "in_cluster",
    "kubeconfig_files",
    "load_configuration",
]


class ConfigError(Exception):
    """No usable Kubernetes configuration (said in one line for the operator)."""


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_ACCOUNT_TOKEN)


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
) -> Configuration:
    """In-cluster config inside a pod unless a kubeconfig is named; else KUBECONFIG or ~/.kube."""
    configuration = Configuration()
    if kubeconfig is None and context is None and in_cluster():
        try:
            # Installs a hook that re-reads the projected token file as it rotates.
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException as exc:
            raise ConfigError(f"in-cluster configuration: {exc}") from exc
        return configuration
    files = existing_kubeconfig(kubeconfig)
    try:
        loader = await k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except Exception as exc:  # the library raises many kinds; all mean "a bad file"
        raise ConfigError(f"cannot use kubeconfig {', '.join(files)}: {exc}") from exc
    if configuration.refresh_api_key_hook is None:
        configuration.refresh_api_key_hook = _exec_credential_refresh(loader)
    return configuration


def _exec_credential_refresh(loader: Any) -> Callable[[Any], Awaitable[None]]:
    """A hook that runs the kubeconfig's exec plugin again when the token it gave expires
    (its expirationTimestamp, less the loader's 5-minute margin). The loader installs none
    itself, so an expiring token (EKS, GKE, OIDC helpers) would otherwise end in 401s."""
    lock = asyncio.Lock()

    async def refresh(configuration: Any) -> None:
        if not hasattr(loader, "exec_plugin_expiry"):
            return  # no exec plugin, or a credential without an expiry
        async with lock:
            # Returns at once while the credential it holds is still valid.
            await loader.load_from_exec_plugin()
        configuration.api_key["BearerToken"] = loader.token

    return refresh


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What an HTTP session needs, read once from a Configuration."""

    base_url: str
    ssl: ssl.SSLContext | None  # None for plain HTTP
    server_hostname: str | None
    proxy: str | None


def endpoint(configuration: Configuration) -> Endpoint:
    """The API server's URL, TLS settings and proxy; ConfigError for what cannot work."""
    base_url = str(configuration.host or "").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the API server address {base_url[:200]!r} is not an http(s) URL")
    context = _ssl_context(configuration) if parts.scheme == "https" else None
    proxy = configuration.proxy or _environment_proxy(parts.scheme, parts.hostname)
    if proxy is not None and urlsplit(proxy).scheme not in PROXY_SCHEMES:
        raise ConfigError(f"proxy {proxy[:200]!r}: only http and https proxies are supported")
    return Endpoint(base_url, context, configuration.tls_server_name or None, proxy or None)


def _ssl_context(configuration: Configuration) -> ssl.SSLContext:
    """As kubernetes-asyncio's rest client builds it: the cluster CA (else the system's),
    the client certificate, and verification unless insecure-skip-tls-verify."""
    try:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files of the configuration: {exc}") from exc
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _environment_proxy(scheme: str, host: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY for the API host unless NO_PROXY excludes it, resolved once:
    aiohttp's trust_env would look them up (and read ~/.netrc in a thread) per request."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if proxy is None or urllib.request.proxy_bypass(host):
        return None
    return proxy
