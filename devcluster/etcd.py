"""etcd's v3 JSON gateway: the current revision, and compaction (to provoke 410 Gone)."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Mapping
from typing import Any


class Etcd:
    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def revision(self) -> int:
        key = base64.b64encode(b"/registry/").decode()
        resp = self._post("/v3/kv/range", {"key": key, "limit": 1, "count_only": True})
        return int(resp["header"]["revision"])

    def compact(self) -> int:
        """Compact the history up to the current revision (physically); return it. With
        the apiserver's watch cache off, any watch or exact list from an older
        resourceVersion now answers 410 Gone."""
        rev = self.revision()
        self._post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev
