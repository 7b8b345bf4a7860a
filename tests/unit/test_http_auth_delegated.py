"""The metrics listener's delegated authentication and authorization, over real TLS on
loopback, against a scripted API server that answers TokenReviews, SubjectAccessReviews and
the client-CA ConfigMap."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from devcluster.pki import Pki, client_cert, generate_pki
from nodecount_scaler import limits
from nodecount_scaler.http.app import Check, Probes
from nodecount_scaler.http.auth import DelegatedAuth, ReviewBudget, ReviewUnavailable, User
from nodecount_scaler.http.server import Endpoints
from nodecount_scaler.kube.client import KubeClient
from tests.scripted_api import serving

TOKENS = {"reader-token": "reader", "nobody-token": "nobody"}
# (user, path) pairs RBAC allows.
ALLOWED = {("reader", "/metrics"), ("reader", "/status"), ("cert-reader", "/status")}


@dataclass
class ReviewApi:
    client_ca: str
    calls: Counter[str] = field(default_factory=Counter)
    reviewed: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        kind = request.path.rsplit("/", 1)[-1]
        self.calls[kind] += 1
        if self.status != 200:
            return web.json_response({"kind": "Status", "message": "no"}, status=self.status)
        if kind == "extension-apiserver-authentication":
            return web.json_response({"data": {"client-ca-file": self.client_ca}})
        spec = (await request.json())["spec"]
        self.reviewed.append(spec)
        if kind == "tokenreviews":
            name = TOKENS.get(spec["token"])
            user = {"username": name, "uid": "u-1", "groups": ["g"]} if name else {}
            return web.json_response({"status": {"authenticated": bool(name), "user": user}})
        path = spec["nonResourceAttributes"]["path"]
        return web.json_response({"status": {"allowed": (spec["user"], path) in ALLOWED}})


@dataclass
class Secure:
    api: ReviewApi
    client: KubeClient
    endpoints: Endpoints
    pki: Pki
    tmp: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.endpoints.metrics.port}"

    async def get(
        self, path: str, token: str | None = None, cert: tuple[Path, Path] | None = None
    ) -> tuple[int, str]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if cert is not None:
            context.load_cert_chain(*cert)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base + path, headers=headers, ssl=context) as response,
        ):
            return response.status, await response.text()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def secure(pki: Pki, tmp_path: Path) -> AsyncIterator[Secure]:
    api = ReviewApi(pki.ca_cert.read_text())
    probes = Probes(lambda: Check(True, {}), lambda: Check(True, {}), lambda: {"targets": []})
    async with serving(api.handle) as url, KubeClient.for_url(url) as client:
        endpoints = Endpoints(client, probes, secure=True)
        await endpoints.start("127.0.0.1:0", "127.0.0.1:0")
        try:
            yield Secure(api, client, endpoints, pki, tmp_path)
        finally:
            await endpoints.stop()


@pytest.mark.parametrize(
    ("token", "path", "status"),
    [
        (None, "/metrics", 401),
        ("bogus", "/metrics", 401),
        ("nobody-token", "/metrics", 403),
        ("nobody-token", "/status", 403),
        ("reader-token", "/metrics", 200),
        ("reader-token", "/status", 200),
        ("reader-token", "/other", 404),
    ],
    ids=["no-token", "bad-token", "no-rbac-metrics", "no-rbac-status", "metrics", "status", "404"],
)
async def test_bearer_tokens(secure: Secure, token: str | None, path: str, status: int) -> None:
    """401 without a valid token, 403 without RBAC on the path, 200 with it."""
    got, body = await secure.get(path, token)
    assert got == status, body
    if status == 200 and path == "/metrics":
        assert "nodecount_scaler_http_connections" in body


async def test_review_results_are_cached(secure: Secure) -> None:
    """Repeated requests with one token cost one TokenReview and one review per path."""
    for _ in range(5):
        assert (await secure.get("/metrics", "reader-token"))[0] == 200
        assert (await secure.get("/status", "reader-token"))[0] == 200
    assert secure.api.calls["tokenreviews"] == 1
    assert secure.api.calls["subjectaccessreviews"] == 2


async def test_the_access_review_names_the_user_and_the_path(secure: Secure) -> None:
    """nonResourceAttributes {path, verb: get} for the TokenReview's user, uid and groups."""
    await secure.get("/status", "reader-token")
    review = secure.api.reviewed[-1]
    assert review["nonResourceAttributes"] == {"path": "/status", "verb": "get"}
    assert (review["user"], review["uid"], review["groups"]) == ("reader", "u-1", ["g"])


async def test_client_certificate_of_the_cluster_ca(secure: Secure) -> None:
    """CN is the user, O the groups; RBAC decides per path; no token is needed."""
    cert = client_cert(
        (secure.pki.ca_cert, secure.pki.ca_key), secure.tmp / "c", "cert-reader", ["team-a"]
    )
    assert (await secure.get("/status", cert=cert))[0] == 200
    assert (await secure.get("/metrics", cert=cert))[0] == 403
    review = secure.api.reviewed[-1]
    assert review["user"] == "cert-reader"
    assert review["groups"] == ["team-a", "system:authenticated"]
    assert secure.api.calls["tokenreviews"] == 0


async def test_client_certificate_of_another_ca_fails_the_handshake(
    secure: Secure, tmp_path: Path
) -> None:
    """A certificate the cluster's CA did not sign never reaches a handler."""
    other = generate_pki(tmp_path / "other")
    stranger = client_cert((other.ca_cert, other.ca_key), tmp_path / "o", "cert-reader")
    with pytest.raises(aiohttp.ClientError):
        await secure.get("/status", cert=stranger)


async def test_api_errors_answer_503_and_are_not_cached(secure: Secure) -> None:
    """A review that fails is retried by the next request, not remembered as a denial."""
    secure.api.status = 500
    assert (await secure.get("/status", "reader-token"))[0] == 503
    secure.api.status = 200
    assert (await secure.get("/status", "reader-token"))[0] == 200


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_of_bogus_tokens_is_bounded(secure: Secure) -> None:
    """3,000 distinct tokens: the cache stays at its size and reviews stay in the budget."""
    clock = Clock()
    auth = DelegatedAuth(secure.client, ReviewBudget(clock=clock), clock=clock)
    refusals: list[int] = []
    for i in range(3000):
        clock.now = i * 0.01  # 30 s of flood at 100 distinct tokens a second
        try:
            assert await auth.token_user(f"bogus-{i}") is None
        except ReviewUnavailable as exc:
            refusals.append(exc.status)
    assert set(refusals) == {429}
    refused = len(refusals)
    sent = secure.api.calls["tokenreviews"]
    assert sent <= limits.REVIEW_BURST + 30 * limits.REVIEWS_PER_SECOND + 1
    assert refused == 3000 - sent
    assert len(auth.tokens) <= limits.AUTH_CACHE_ENTRIES


async def test_only_a_digest_of_the_token_is_cached(secure: Secure) -> None:
    """The cache never holds a credential in clear: its keys are SHA-256 digests."""
    auth = DelegatedAuth(secure.client)
    assert await auth.token_user("reader-token") == User("reader", "u-1", ("g",))
    keys = list(auth.tokens._entries)
    assert len(keys) == 1
    assert len(keys[0]) == 32
    assert b"reader-token" not in keys[0]
