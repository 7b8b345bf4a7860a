"""The service reads the API server's release at start (/version) and refuses one older than
the oldest supported release with one log line and exit code 2, before it watches or writes
anything: a clear error rather than a half-working service (docs/kubernetes-versions.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devcluster import Cluster
from devcluster.scaler import ScalerFactory, ScalerProcess

TOO_OLD = {"major": "1", "minor": "33", "gitVersion": "v1.33.7", "platform": "linux/amd64"}


class StandIn(ThreadingHTTPServer):
    """Answers /version as an old release and records every request. No real API server
    older than v1.34 can be built here (the Go module proxy serves no k8s.io/kubernetes
    before v1.34.0), so this stand-in plays one; it answers nothing but /version."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        found = self.path == "/version"
        body = json.dumps(TOO_OLD if found else {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def old_server() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kubeconfig_for(url: str, path: Path) -> Path:
    cluster = {"server": url}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "old", "cluster": cluster}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "old", "context": {"cluster": "old", "user": "nobody"}}],
        "current-context": "old",
    }
    path.write_text(json.dumps(config))
    return path


def test_older_api_server_is_refused_with_one_line(old_server: StandIn, tmp_path: Path) -> None:
    """Exit code 2, exactly one error line naming the server's and the minimum release,
    and no request but /version: nothing listed, watched or written."""
    process = ScalerProcess(kubeconfig_for(old_server.url, tmp_path / "kubeconfig"),
                            tmp_path / "scaler.log", args=("--leader-elect",))  # fmt: skip
    process.start(wait_ready=False)
    assert process.proc is not None
    code = process.proc.wait(timeout=30)
    errors = [line for line in process.logs() if line.get("level") == "error"]
    assert code == 2, process.log_path.read_text()
    assert [e["event"] for e in errors] == ["Kubernetes API server too old; not starting"]
    assert (errors[0]["server_version"], errors[0]["minimum"]) == ("v1.33.7", "1.34")
    assert old_server.paths == ["/version"]


@pytest.mark.compat
def test_supported_api_server_is_named_at_start(cluster: Cluster, scalers: ScalerFactory) -> None:
    """On every supported release the service logs the release it found and serves."""
    process = scalers.start()
    [line] = process.wait_log("Kubernetes API server version", 1)
    assert line["server_version"] == cluster.versions.kubernetes
    assert process.log_events("Kubernetes API server too old; not starting") == []
