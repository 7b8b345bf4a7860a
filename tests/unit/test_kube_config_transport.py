"""kube/config.py: kubernetes-asyncio's loaders without its generated client, and the
session built from a Configuration (TLS with a CA and client certificate, tls-server-name,
proxies resolved once, exec credentials refreshed when they expire)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from devcluster.pki import Pki, generate_pki
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.kube.config import ConfigError, Configuration, endpoint

ROOT = Path(__file__).resolve().parents[2]


def fresh_python(code: str) -> str:
    """Run code in a new interpreter (this one has the full package loaded); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_service_import_leaves_the_generated_client_out() -> None:
    """Importing the service loads kubernetes-asyncio's configuration and loaders, not the
    ~700 generated API and model modules."""
    loaded = fresh_python(
        """
        import sys
        import nodecount_scaler.service
        import kubernetes_asyncio.config
        print(sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio.client.")))
        """
    )
    assert loaded == str(
        ["kubernetes_asyncio.client.configuration", "kubernetes_asyncio.client.exceptions"]
    )


def test_serving_tls_leaves_cryptography_out_of_the_process() -> None:
    """The self-signed certificate is made by a child process: the service, its kubeconfig
    loaders and a ready metrics TLS context load no cryptography module (about 9 MiB)."""
    loaded = fresh_python(
        """
        import sys
        import nodecount_scaler.service
        import kubernetes_asyncio.config
        from nodecount_scaler.http.tls import ServingTls
        context = ServingTls(None, None).context()
        print(context.verify_mode.name, [m for m in sys.modules if m.startswith("cryptography")])
        """
    )
    assert loaded == "CERT_NONE []"


def test_run_help_imports_no_http_or_kubernetes_code() -> None:
    """`nodecount-scaler run --help` parses flags without importing aiohttp, kubernetes-asyncio
    or the service."""
    loaded = fresh_python(
        """
        import contextlib, io, sys
        from nodecount_scaler.cli import main
        with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
            main(["run", "--help"])
        heavy = ("aiohttp", "kubernetes_asyncio", "nodecount_scaler.service", "structlog")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    assert loaded == "[]"


def test_the_rest_of_the_package_still_loads_on_demand() -> None:
    """Code that asks the bare packages for anything else gets the real generated client."""
    loaded = fresh_python(
        """
        import nodecount_scaler.kube.config
        from kubernetes_asyncio.client import CoreV1Api, V1Node
        from kubernetes_asyncio import watch
        print(CoreV1Api.__name__, V1Node.__name__, watch.__name__)
        """
    )
    assert loaded == "CoreV1Api V1Node kubernetes_asyncio.watch"


def configuration(host: str, **fields: object) -> Configuration:
    made = Configuration()
    made.host = host
    for name, value in fields.items():
        setattr(made, name, value)
    return made


@pytest.mark.parametrize(
    ("host", "fields", "environment", "proxy"),
    [
        pytest.param("http://10.1.2.3:8080", {}, {}, None, id="plain"),
        pytest.param("https://a.example:6443", {"proxy": "http://p:3128"}, {}, "http://p:3128",
                     id="kubeconfig-proxy-url"),
        pytest.param("https://a.example:6443", {}, {"HTTPS_PROXY": "http://e:1"}, "http://e:1",
                     id="environment"),
        pytest.param("https://a.example:6443", {},
                     {"HTTPS_PROXY": "http://e:1", "NO_PROXY": ".example"}, None,
                     id="no-proxy"),
        pytest.param("http://a.example", {}, {"HTTPS_PROXY": "http://e:1"}, None,
                     id="https-proxy-not-for-http"),
    ],
)  # fmt: skip
def test_proxy_is_resolved_once(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    fields: dict[str, object],
    environment: dict[str, str],
    proxy: str | None,
) -> None:
    """The kubeconfig's proxy-url, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY names the host."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert endpoint(configuration(host, **fields)).proxy == proxy


@pytest.mark.parametrize(
    ("host", "fields", "problem"),
    [
        pytest.param("", {}, "is not an http", id="no-host"),
        pytest.param("ftp://a", {}, "is not an http", id="scheme"),
        pytest.param("https://a", {"proxy": "socks5://p:1080"}, "only http and https proxies",
                     id="socks-proxy"),
        pytest.param("https://a", {"ssl_ca_cert": "/nonexistent/ca.crt"}, "TLS files",
                     id="missing-ca"),
    ],
)  # fmt: skip
def test_unusable_configuration_is_a_config_error(
    host: str, fields: dict[str, object], problem: str
) -> None:
    """What cannot work is said at start-up, in one line."""
    with pytest.raises(ConfigError, match=problem):
        endpoint(configuration(host, **fields))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_server(pki: Pki) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An HTTPS server that requires a client certificate from the CA; it records headers."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"kind": "Status", "ok": True})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.apiserver_cert), str(pki.apiserver_key))
    context.verify_mode = ssl.CERT_REQUIRED
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.mark.parametrize(
    ("fields", "works"),
    [
        pytest.param({"cert_file": "admin_cert", "key_file": "admin_key"}, True, id="client-cert"),
        pytest.param({"cert_file": "admin_cert", "key_file": "admin_key",
                      "tls_server_name": "kubernetes.default"}, True, id="tls-server-name"),
        pytest.param({"cert_file": "admin_cert", "key_file": "admin_key",
                      "tls_server_name": "elsewhere.example"}, False, id="wrong-server-name"),
        pytest.param({}, False, id="no-client-cert"),
    ],
)  # fmt: skip
async def test_tls_with_cluster_ca_and_client_certificate(
    pki: Pki, tls_server: tuple[str, list[dict[str, str]]], fields: dict[str, str], works: bool
) -> None:
    """The cluster CA verifies the server (under tls-server-name when set); the client
    certificate authenticates this process."""
    url, seen = tls_server
    files = {
        name: str(getattr(pki, value))
        for name, value in fields.items()
        if name != "tls_server_name"
    }
    extra = {k: v for k, v in fields.items() if k == "tls_server_name"}
    made = configuration(url, ssl_ca_cert=str(pki.ca_cert), **files, **extra)
    async with KubeClient(made) as client:
        if works:
            assert await client.request("GET", "/version") == {"kind": "Status", "ok": True}
            assert seen[0]["User-Agent"].startswith("nodecount-scaler/")
        else:
            with pytest.raises(ApiError) as raised:
                await client.request("GET", "/version")
            assert raised.value.status == 0


PLUGIN = """
import json, pathlib, sys
runs = pathlib.Path(sys.argv[1])
count = len(runs.read_text()) if runs.exists() else 0
runs.write_text("x" * (count + 1))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": f"token-{count}", "expirationTimestamp": sys.argv[2]}}))
"""


@pytest.mark.parametrize(
    ("lifetime", "tokens"),
    [
        pytest.param(dt.timedelta(hours=1), ["token-0", "token-0", "token-0"], id="valid"),
        # Within the loader's 5-minute margin: every request asks the plugin again.
        pytest.param(dt.timedelta(minutes=1), ["token-1", "token-2", "token-3"], id="expiring"),
    ],
)
async def test_exec_credential_is_refreshed_when_it_expires(
    tmp_path: Path,
    pki: Pki,
    tls_server: tuple[str, list[dict[str, str]]],
    lifetime: dt.timedelta,
    tokens: list[str],
) -> None:
    """A kubeconfig exec plugin runs again once its token's expirationTimestamp is near."""
    url, seen = tls_server
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    expiry = (dt.datetime.now(dt.UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = {
        "client-certificate": str(pki.admin_cert),
        "client-key": str(pki.admin_key),
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin), str(tmp_path / "runs"), expiry],
            "interactiveMode": "Never",
        },
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url,
                                                       "certificate-authority": str(pki.ca_cert)}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )  # fmt: skip
    async with await KubeClient.connect(str(kubeconfig)) as client:
        for _ in range(3):
            await client.request("GET", "/version")
    assert [h["Authorization"] for h in seen] == [f"Bearer {t}" for t in tokens]
