"""Which bearer tokens the API server signed (http/tokens.py), checked against JWTs signed
here with a real RSA key (the cryptography library, in the tests only), and the review lanes
that check picks (http/auth.py): a flood of bogus tokens spends only its own lane."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nodecount_scaler import limits
from nodecount_scaler.http.app import Check, Probes
from nodecount_scaler.http.auth import DelegatedAuth, ReviewBudget, ReviewUnavailable, User
from nodecount_scaler.http.server import Endpoints
from nodecount_scaler.http.tokens import Issuer, JwksError, parse_issuer, signed_by
from nodecount_scaler.kube.client import KubeClient
from tests.scripted_api import serving

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_800_000_000.0
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(value: Mapping[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def jwk(key: rsa.RSAPrivateKey, kid: str = "k1", **extra: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    n, e = numbers.n, numbers.e
    return {
        "kty": "RSA",
        "kid": kid,
        "n": b64(n.to_bytes((n.bit_length() + 7) // 8, "big")),
        "e": b64(e.to_bytes(3, "big")),
        **extra,
    }


def token(
    key: rsa.RSAPrivateKey = KEY,
    header: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    head = part(header if header is not None else {"alg": "RS256", "kid": "k1"})
    body = part({"iss": ISSUER, "exp": NOW + 3600, "nbf": NOW - 10, "sub": "sa"} | claims)
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(signature)}"


PROBES = Probes(lambda: Check(True, {}), lambda: Check(True, {}), lambda: {"targets": []})
ISSUER_KEYS = parse_issuer({"issuer": ISSUER}, {"keys": [jwk(KEY)]})


def altered(text: str, index: int) -> str:
    head, body, signature = text.split(".")
    parts = [head, body, signature]
    chars = list(parts[index])
    chars[len(chars) // 2] = "A" if chars[len(chars) // 2] != "A" else "B"
    parts[index] = "".join(chars)
    return ".".join(parts)


@pytest.mark.parametrize(
    ("presented", "signed"),
    [
        (token(), True),
        (token(exp=NOW + limits.TOKEN_CLOCK_LEEWAY - 1), True),
        (token(exp=NOW - limits.TOKEN_CLOCK_LEEWAY - 1), False),
        (token(nbf=NOW + limits.TOKEN_CLOCK_LEEWAY + 1), False),
        (token(exp="tomorrow"), False),
        (token(exp=True), False),
        (token(iss="https://elsewhere.example"), False),
        (token(OTHER_KEY), False),
        (token(header={"alg": "RS256", "kid": "unknown"}), False),
        (token(header={"alg": "RS256"}), False),
        (token(header={"alg": "none", "kid": "k1"}), False),
        (token(header={"alg": "HS256", "kid": "k1"}), False),
        (altered(token(), 1), False),
        (altered(token(), 2), False),
        (token().rsplit(".", 1)[0] + ".", False),
        (token().rsplit(".", 1)[0] + ".%%%", False),
        (token().rsplit(".", 1)[0] + "." + "A" * 4000, False),
        (token(header={"alg": "RS256", "kid": "k1", "x": "y" * 2000}), False),
        (token(padding="z" * limits.TOKEN_CLAIMS_MAX_CHARS), False),
        ("part(one).two", False),
        ("a.b.c", False),
        ("random-bearer-token", False),
        ("", False),
    ],
    ids=[
        "signed",
        "expired-within-leeway",
        "expired",
        "not-yet-valid",
        "exp-not-a-number",
        "exp-a-boolean",
        "other-issuer",
        "other-key",
        "unknown-kid",
        "no-kid",
        "alg-none",
        "alg-hs256",
        "claims-altered",
        "signature-altered",
        "no-signature",
        "signature-not-base64",
        "signature-too-long",
        "header-too-long",
        "claims-too-long",
        "two-parts",
        "garbage-parts",
        "random",
        "empty",
    ],
)
def test_signed_by(presented: str, signed: bool) -> None:
    assert signed_by(presented, ISSUER_KEYS, NOW) is signed


def test_the_check_costs_tens_of_microseconds() -> None:
    """The lane is picked on the event loop, per unseen token: the worst case (a forged
    signature under a real kid, checked in full) is far from a millisecond."""
    forged = altered(token(), 2)
    started = time.perf_counter()
    for _ in range(200):
        assert not signed_by(forged, ISSUER_KEYS, NOW)
    assert (time.perf_counter() - started) / 200 < 1e-3


@pytest.mark.parametrize(
    ("discovery", "keys", "error"),
    [
        ({}, [jwk(KEY)], "names no issuer"),
        ({"issuer": ISSUER}, None, "has no keys"),
        ({"issuer": ISSUER}, [jwk(KEY) | {"n": "!!"}], "not base64url"),
        ({"issuer": ISSUER}, [jwk(KEY) | {"n": b64(b"\x01" * 64)}], "modulus of"),
        ({"issuer": ISSUER}, [jwk(KEY) | {"e": b64(b"\x01\x00\x00\x00\x01")}], "exponent of"),
        ({"issuer": ISSUER}, [jwk(KEY) | {"e": b64(b"\x02")}], "exponent of"),
    ],
    ids=["no-issuer", "no-keys", "bad-base64", "small-modulus", "huge-exponent", "even-exponent"],
)
def test_unusable_key_documents(
    discovery: dict[str, str], keys: list[dict[str, str]] | None, error: str
) -> None:
    with pytest.raises(JwksError, match=error):
        parse_issuer(discovery, {} if keys is None else {"keys": keys})


def test_keys_of_other_kinds_are_left_out() -> None:
    issuer = parse_issuer(
        {"issuer": ISSUER},
        {
            "keys": [
                jwk(KEY, "rsa"),
                jwk(OTHER_KEY, "enc", use="enc"),
                jwk(OTHER_KEY, "ps", alg="PS256"),
                {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
                "not a key",
                jwk(OTHER_KEY) | {"kid": 7},
            ]
        },
    )
    assert set(issuer.keys) == {"rsa"}
    many = [jwk(KEY, f"k{i}") for i in range(limits.JWKS_MAX_KEYS + 5)]
    assert len(parse_issuer({"issuer": ISSUER}, {"keys": many}).keys) == limits.JWKS_MAX_KEYS


@dataclass
class Reviews:
    """A scripted API server: TokenReviews authenticate the signed tokens only."""

    reviewed: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.reviewed += 1
        presented = (await request.json())["spec"]["token"]
        if signed_by(presented, ISSUER_KEYS, time.time()):
            user = {"username": "system:serviceaccount:ns:scraper", "uid": "u", "groups": []}
            return web.json_response({"status": {"authenticated": True, "user": user}})
        return web.json_response({"status": {"authenticated": False}})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client() -> AsyncIterator[tuple[Reviews, KubeClient]]:
    reviews = Reviews()
    async with serving(reviews.handle) as url, KubeClient.for_url(url) as kube:
        yield reviews, kube


def live_token() -> str:
    now = time.time()
    return token(exp=now + 3600, nbf=now - 10, jti=str(now))


async def test_a_flood_of_bogus_tokens_leaves_the_signed_lane_alone(
    client: tuple[Reviews, KubeClient],
) -> None:
    """The bogus tokens' lane is spent (429s); a fresh signed token each time is still
    reviewed and served, from the other lane."""
    reviews, kube = client
    clock = Clock()
    auth = DelegatedAuth(kube, ReviewBudget(clock=clock), clock=clock)
    auth.issuer = ISSUER_KEYS
    refused = 0
    served = 0
    statuses: set[int] = set()
    for i in range(600):
        clock.now = i * 0.01
        try:
            await auth.token_user(f"bogus-{i}")
        except ReviewUnavailable as exc:
            statuses.add(exc.status)
            refused += 1
        if i % 50 == 0:
            assert await auth.token_user(live_token()) == User(
                "system:serviceaccount:ns:scraper", "u", ()
            )
            served += 1
    assert statuses == {429}
    assert refused > 500
    assert served == 12
    assert reviews.reviewed == 600 - refused + served


async def test_without_the_issuer_every_token_shares_one_lane(
    client: tuple[Reviews, KubeClient],
) -> None:
    """No keys (not readable, or not yet read): the signed token waits behind the flood."""
    _, kube = client
    clock = Clock()
    auth = DelegatedAuth(kube, ReviewBudget(clock=clock), clock=clock)
    for i in range(limits.REVIEW_BURST + 5):
        try:
            await auth.token_user(f"bogus-{i}")
        except ReviewUnavailable:
            break
    with pytest.raises(ReviewUnavailable):
        await auth.token_user(live_token())
    auth.issuer = ISSUER_KEYS
    assert await auth.token_user(live_token()) is not None


def test_an_issuer_is_what_the_check_reads() -> None:
    issuer = Issuer(ISSUER, {})
    assert not signed_by(token(), issuer, NOW)


@dataclass
class Discovery:
    """A scripted API server serving the issuer's discovery and JWKS documents."""

    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        if self.status != 200:
            return web.json_response({"kind": "Status", "message": "no"}, status=self.status)
        if request.path == "/.well-known/openid-configuration":
            return web.json_response({"issuer": ISSUER, "jwks_uri": "/openid/v1/jwks"})
        assert request.path == "/openid/v1/jwks"
        return web.json_response({"keys": [jwk(KEY)]})


async def test_the_endpoints_read_the_issuer_and_keep_the_last_on_failure() -> None:
    discovery = Discovery(status=403)
    async with serving(discovery.handle) as url, KubeClient.for_url(url) as kube:
        endpoints = Endpoints(kube, PROBES, secure=True)
        assert endpoints.auth is not None
        await endpoints.refresh_issuer()
        assert endpoints.auth.issuer is None
        discovery.status = 200
        await endpoints.refresh_issuer()
        assert endpoints.auth.issuer == ISSUER_KEYS
        discovery.status = 500
        await endpoints.refresh_issuer()
        assert endpoints.auth.issuer == ISSUER_KEYS
