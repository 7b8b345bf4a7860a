"""Throwaway namespaces with unique names."""

from __future__ import annotations

import re
import secrets

from devcluster.api import ApiClient
from devcluster.polling import wait_until


def dns_label(text: str, max_len: int) -> str:
    """``text`` lower-cased, with runs of other characters as ``-``, at most ``max_len``."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return label or "x"


def create_namespace(api: ApiClient, prefix: str = "test", *, timeout: float = 30.0) -> str:
    """Create ``<prefix>-<random>`` and wait for its ``default`` ServiceAccount."""
    name = f"{dns_label(prefix, 50)}-{secrets.token_hex(3)}"
    api.post(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    wait_until(
        lambda: api.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        timeout,
        interval=0.2,
        describe=f"ServiceAccount {name}/default",
        retry_on=(Exception,),
    )
    return name


def delete_namespace(
    api: ApiClient, name: str, *, wait: bool = False, timeout: float = 60.0
) -> None:
    api.delete(f"/api/v1/namespaces/{name}")
    if wait:
        wait_until(
            lambda: api.get_or_none(f"/api/v1/namespaces/{name}") is None,
            timeout,
            interval=0.2,
            describe=f"namespace {name} to be deleted",
            retry_on=(Exception,),
        )
