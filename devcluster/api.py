"""A tiny synchronous Kubernetes REST client (stdlib only) used by the tooling itself.

Tests should use kubectl (``Cluster.kubectl``) or a real client against
``Cluster.kubeconfig``; this exists so that polling loops do not fork kubectl every 200 ms.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:2000]}")


class ApiClient:
    def __init__(self, server: str, ca_cert: Path, client_cert: Path, client_key: Path) -> None:
        self.server = server.rstrip("/")
        ctx = ssl.create_default_context(cafile=str(ca_cert))
        ctx.load_cert_chain(str(client_cert), str(client_key))
        self._ctx = ctx

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send a request; return the decoded JSON answer (or text when not JSON).
        Raises ApiError on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as resp:
                raw = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise ApiError(method, path, e.code, e.read().decode(errors="replace")) from None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def stream(self, path: str, *, timeout: float = 30.0) -> Iterator[dict[str, Any]]:
        """The JSON lines of a watch (`path` with watch=1), as they come, until the server
        ends it. `timeout` bounds each read."""
        req = urllib.request.Request(self.server + path)
        req.add_header("Accept", "application/json")
        with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as resp:
            for line in resp:
                if line.strip():
                    yield json.loads(line)

    def get(self, path: str, *, timeout: float = 30.0) -> Any:
        return self.request("GET", path, timeout=timeout)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, *, missing_ok: bool = True) -> Any:
        try:
            return self.request("DELETE", path)
        except ApiError as e:
            if missing_ok and e.status == 404:
                return None
            raise
