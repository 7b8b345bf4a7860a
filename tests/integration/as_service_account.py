"""Requests as the shipped service account: a TokenRequest token, raw HTTP, the answer's
status and body (what an attacker holding the token could send, byte for byte)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster import Cluster

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def request_token(cluster: Cluster, account: str, namespace: str) -> str:
    """`kubectl create token`: a TokenRequest token, as the pod would mount."""
    return cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()


def ca_file(cluster: Cluster) -> Path:
    admin = json.loads(cluster.kubeconfig.read_text())
    return Path(admin["clusters"][0]["cluster"]["certificate-authority"])


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else str(self.body)


class TokenApi:
    """The API server as the token's holder sees it."""

    def __init__(self, cluster: Cluster, token: str) -> None:
        self.server = cluster.server.rstrip("/")
        self._token = token
        self._ctx = ssl.create_default_context(cafile=str(ca_file(cluster)))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=30) as resp:
                return Answer(resp.status, json.loads(resp.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return Answer(exc.code, json.loads(raw))
            except ValueError:
                return Answer(exc.code, raw.decode(errors="replace"))

    def patch(self, path: str, body: Any, content_type: str = MERGE) -> Answer:
        return self.call("PATCH", path, body, content_type)

    def post(self, path: str, body: Any) -> Answer:
        return self.call("POST", path, body)

    def get(self, path: str) -> Answer:
        return self.call("GET", path)
