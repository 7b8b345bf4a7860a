"""Delegated authentication and authorization for /metrics and /status.

As k8s.io/apiserver's delegating authenticator and authorizer (used by controller-runtime's
pkg/metrics/filters and kube-rbac-proxy): the caller is identified by a client certificate
signed by the cluster's client CA (verified during the TLS handshake, see tls.py; the user
is the subject's CN, the groups its O values) or else by a bearer token that a TokenReview
accepts; then a SubjectAccessReview asks whether that user may `get` the path
(nonResourceAttributes). No credential: 401; not allowed: 403.

Both review kinds are cached (bounded, least recently used out first) and sent within a
token bucket, so a flood of distinct bogus tokens costs a fixed amount of memory and at
most REVIEWS_PER_SECOND requests to the API server; past the bucket the answer is 429.

Two buckets, so that such a flood cannot starve a real scraper: tokens the API server
signed (checked locally against its published keys, http/tokens.py) are reviewed from one,
and so are the SubjectAccessReviews of authenticated users; every other token from the
other. A flood of random or forged tokens spends only the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

import structlog

from nodecount_scaler import limits, metrics
from nodecount_scaler.http.cache import TokenBucket, TtlLru
from nodecount_scaler.http.tokens import Issuer, signed_by
from nodecount_scaler.kube.client import ApiError, KubeClient

log = structlog.get_logger(__name__)

TOKEN_REVIEWS: Final = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS: Final = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
AUTHENTICATED: Final = "system:authenticated"
ERROR_LOG_INTERVAL: Final = 60.0
FORBIDDEN_HINT: Final = (
    "the service account needs create on tokenreviews and subjectaccessreviews "
    "(ClusterRole system:auth-delegator)"
)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


class ReviewUnavailable(Exception):
    """No answer could be had: `status` is 429 (review budget spent) or 503 (API error)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def certificate_user(peer: Mapping[str, Any]) -> User | None:
    """The user of a verified client certificate, as the API server's x509 authenticator
    names it: CN is the user, each O a group. None without a CN. `peer` is the decoded form
    of ssl's getpeercert(): the subject as relative distinguished names of (attribute, value)
    pairs."""
    names: list[str] = []
    groups: list[str] = []
    subject = peer.get("subject", ())
    for rdn in subject if isinstance(subject, tuple) else ():
        for pair in rdn if isinstance(rdn, tuple) else ():
            if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str):
                if pair[0] == "commonName":
                    names.append(pair[1])
                elif pair[0] == "organizationName":
                    groups.append(pair[1])
    if not names or not names[0]:
        return None
    return User(names[0], groups=(*groups, AUTHENTICATED))


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def user_from_review(status: Mapping[str, Any]) -> User | None:
    """The user of an authenticated TokenReview status; None when it is not (or malformed)."""
    user = status.get("user")
    if status.get("authenticated") is not True or not isinstance(user, Mapping):
        return None
    name = user.get("username")
    if not isinstance(name, str) or not name:
        return None
    uid = user.get("uid")
    raw_extra = user.get("extra")
    extra = raw_extra if isinstance(raw_extra, Mapping) else {}
    return User(
        name,
        uid if isinstance(uid, str) else "",
        _strings(user.get("groups")),
        tuple(sorted((str(k), _strings(v)) for k, v in extra.items())),
    )


@dataclass(slots=True)
class ReviewBudget:
    """A token bucket (rate, burst) plus a cap on reviews in flight (past either, 429)."""

    rate: float = limits.REVIEWS_PER_SECOND
    burst: int = limits.REVIEW_BURST
    in_flight: int = limits.REVIEWS_IN_FLIGHT
    clock: Callable[[], float] = time.monotonic
    _bucket: TokenBucket = field(init=False)
    _slots: asyncio.Semaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.rate, self.burst, self.clock)

    @contextlib.asynccontextmanager
    async def spend(self) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.in_flight)
        # Refused rather than queued: a request waiting for a review holds one of the
        # listener's requests in flight, and a burst of bad tokens would hold them all.
        if self._slots.locked():
            raise ReviewUnavailable(429, "too many authentication reviews at once; retry")
        if not self._bucket.take():
            raise ReviewUnavailable(429, "too many authentication reviews; retry shortly")
        async with self._slots:
            yield


class DelegatedAuth:
    """Authenticate a request's credentials and authorize its path with the API server."""

    def __init__(
        self,
        client: KubeClient,
        budget: ReviewBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        signed_budget: ReviewBudget | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        # Reviews of tokens the local check cannot vouch for...
        self._budget = budget or ReviewBudget(clock=clock)
        # ...and of tokens the API server signed, and every SubjectAccessReview.
        self._signed = signed_budget or ReviewBudget(clock=clock)
        self._wall = wall
        # The API server's issuer and keys (Endpoints keeps them current); None: unknown,
        # every token is reviewed from the first budget.
        self.issuer: Issuer | None = None
        self.tokens: TtlLru[bytes, User | None] = TtlLru(limits.AUTH_CACHE_ENTRIES, clock)
        self.decisions: TtlLru[tuple[User, str], bool] = TtlLru(limits.AUTH_CACHE_ENTRIES, clock)
        self._pending: dict[object, asyncio.Future[Any]] = {}
        self._last_error = -float("inf")
        self._clock = clock

    async def token_user(self, token: str) -> User | None:
        # Only a digest is kept: the cache must not become a store of live credentials.
        key = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        hit, user = self.tokens.get(key)
        if hit:
            return user
        issuer = self.issuer
        signed = issuer is not None and signed_by(token, issuer, self._wall())
        budget = self._signed if signed else self._budget
        user = cast(User | None, await self._once(key, lambda: self._review_token(token, budget)))
        ttl = limits.TOKEN_CACHE_TTL if user else limits.TOKEN_FAILURE_CACHE_TTL
        self.tokens.put(key, user, ttl)
        return user

    async def allowed(self, user: User, path: str) -> bool:
        key = (user, path)
        hit, decision = self.decisions.get(key)
        if hit:
            return bool(decision)
        decision = await self._once(key, lambda: self._review_access(user, path))
        ttl = limits.AUTHZ_ALLOW_CACHE_TTL if decision else limits.AUTHZ_DENY_CACHE_TTL
        self.decisions.put(key, bool(decision), ttl)
        return bool(decision)

    async def _once(self, key: object, review: Callable[[], Any]) -> Any:
        """One review per key at a time: concurrent requests with the same credentials wait
        for the first one's answer."""
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await review()
        except BaseException as exc:
            future.set_exception(exc)
            # Retrieved here so that a future nobody else awaited is not reported.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._pending[key]

    async def _review_token(self, token: str, budget: ReviewBudget) -> User | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status = await self._post("tokenreview", TOKEN_REVIEWS, body, budget)
        user = user_from_review(status)
        metrics.AUTH_REVIEWS.labels("tokenreview", "allowed" if user else "denied").inc()
        return user

    async def _review_access(self, user: User, path: str) -> bool:
        spec: dict[str, Any] = {
            "user": user.name,
            "groups": list(user.groups),
            "nonResourceAttributes": {"path": path, "verb": "get"},
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        status = await self._post("subjectaccessreview", ACCESS_REVIEWS, body, self._signed)
        allowed = status.get("allowed") is True
        metrics.AUTH_REVIEWS.labels("subjectaccessreview", "allowed" if allowed else "denied").inc()
        return allowed

    async def _post(
        self, kind: str, path: str, body: Mapping[str, Any], budget: ReviewBudget
    ) -> Mapping[str, Any]:
        try:
            async with budget.spend():
                answer = await self._client.request(
                    "POST", path, body=dict(body), timeout=limits.REVIEW_TIMEOUT
                )
        except ReviewUnavailable:
            metrics.AUTH_REVIEWS.labels(kind, "rate_limited").inc()
            raise
        except ApiError as exc:
            metrics.AUTH_REVIEWS.labels(kind, "error").inc()
            self._log_error(kind, exc)
            raise ReviewUnavailable(503, "authentication is unavailable; retry later") from exc
        status = answer.get("status")
        return status if isinstance(status, Mapping) else {}

    def _log_error(self, kind: str, exc: ApiError) -> None:
        now = self._clock()
        if now - self._last_error < ERROR_LOG_INTERVAL:
            return
        self._last_error = now
        hint = FORBIDDEN_HINT if exc.forbidden else None
        log.error("authentication review failed", kind=kind, error=str(exc), hint=hint)
