"""Which bearer tokens the API server signed: a local check that sorts tokens into lanes
before any TokenReview is spent on them.

A service-account token is a JWT the API server signs with its service-account key; the
keys are published at /openid/v1/jwks and the issuer at /.well-known/openid-configuration
(readable by every service account: the default ClusterRoleBinding
system:service-account-issuer-discovery). A token whose RS256 signature checks out against
those keys, from that issuer and within its validity, came from the API server; a random
string, or a JWT with a forged or altered signature, did not. The check is a base64 and
JSON decode and one modular exponentiation with a small public exponent (stdlib only; the
main process does not load the cryptography library): tens of microseconds, bounded by the
sizes below whatever a client sends.

The check only picks the lane: the TokenReview still decides (a signed token may have been
revoked, or its pod deleted). Tokens the check cannot vouch for (not a JWT, another
algorithm, an OIDC token of another issuer) are still reviewed, from a budget of their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from nodecount_scaler import limits

# RS256 is what the API server signs with an RSA service-account key (the usual one:
# kubeadm, kind and the managed clouds make RSA keys). Other algorithms are not checked.
ALGORITHM: Final = "RS256"
# PKCS #1 v1.5: the DER DigestInfo prefix of a SHA-256 digest (RFC 8017, section 9.2).
SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")
# The size of a key: the API server publishes its current key and the ones still accepted
# (--service-account-key-file may name several; limits.JWKS_MAX_KEYS of them are taken).
MIN_MODULUS_BITS: Final = 2048
MAX_MODULUS_BITS: Final = 8192
# A public exponent this large or larger is refused, so one check costs at most a few
# dozen multiplications (the usual one is 65537).
MAX_EXPONENT: Final = 2**32


@dataclass(frozen=True, slots=True)
class RsaKey:
    n: int
    e: int

    @property
    def size(self) -> int:
        """The modulus in bytes: the length of every signature made with the key."""
        return (self.n.bit_length() + 7) // 8


@dataclass(frozen=True, slots=True)
class Issuer:
    """The API server's service-account issuer and its signing keys, by key id."""

    name: str
    keys: Mapping[str, RsaKey]


class JwksError(ValueError):
    """A discovery or JWKS document that cannot be used."""


def _b64(text: str) -> bytes:
    """base64url without padding, as JWS writes it; binascii.Error when it is not."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _uint(text: object) -> int:
    if not isinstance(text, str) or not text:
        raise JwksError("a key parameter is not a base64url string")
    try:
        return int.from_bytes(_b64(text), "big")
    except binascii.Error as exc:
        raise JwksError("a key parameter is not base64url") from exc


def rsa_key(jwk: Mapping[str, Any]) -> RsaKey | None:
    """The RS256 signing key of a JWK, or None for a key of another kind or use."""
    if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    key = RsaKey(_uint(jwk.get("n")), _uint(jwk.get("e")))
    if not MIN_MODULUS_BITS <= key.n.bit_length() <= MAX_MODULUS_BITS:
        raise JwksError(f"an RSA modulus of {key.n.bit_length()} bits")
    if not 3 <= key.e < MAX_EXPONENT or key.e % 2 == 0:
        raise JwksError(f"an RSA public exponent of {key.e}")
    return key


def parse_issuer(discovery: Mapping[str, Any], jwks: Mapping[str, Any]) -> Issuer:
    """The issuer from /.well-known/openid-configuration and its RS256 keys from
    /openid/v1/jwks; raises JwksError."""
    name = discovery.get("issuer")
    if not isinstance(name, str) or not name:
        raise JwksError("the discovery document names no issuer")
    found = jwks.get("keys")
    if not isinstance(found, list):
        raise JwksError("the JWKS document has no keys")
    keys: dict[str, RsaKey] = {}
    for jwk in found[: limits.JWKS_MAX_KEYS]:
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        if isinstance(kid, str) and (key := rsa_key(jwk)) is not None:
            keys[kid] = key
    return Issuer(name, keys)


def _verified(key: RsaKey, signed: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, 8.2.2): the signature raised to the
    public exponent is the padded digest of the signed bytes."""
    if len(signature) != key.size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    encoded = pow(s, key.e, key.n).to_bytes(key.size, "big")
    digest = SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    padding = b"\x00\x01" + b"\xff" * (key.size - len(digest) - 3) + b"\x00"
    return hmac.compare_digest(encoded, padding + digest)


def _json(part: str, limit: int) -> Mapping[str, Any] | None:
    if len(part) > limit:
        return None
    try:
        value = json.loads(_b64(part))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, Mapping) else None


def signed_by(token: str, issuer: Issuer, now: float) -> bool:
    """Whether `token` is a JWT the issuer signed (RS256, one of its keys by kid), that it
    issued, and that is valid `now` (seconds since the epoch)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    header = _json(parts[0], limits.TOKEN_HEADER_MAX_CHARS)
    if header is None or header.get("alg") != ALGORITHM:
        return False
    kid = header.get("kid")
    key = issuer.keys.get(kid) if isinstance(kid, str) else None
    if key is None or len(parts[2]) > 2 * key.size:
        return False
    try:
        signature = _b64(parts[2])
    except binascii.Error:
        return False
    if not _verified(key, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), signature):
        return False
    claims = _json(parts[1], limits.TOKEN_CLAIMS_MAX_CHARS)
    return claims is not None and claims.get("iss") == issuer.name and _current(claims, now)


def _current(claims: Mapping[str, Any], now: float) -> bool:
    expires, begins = _number(claims.get("exp")), _number(claims.get("nbf", 0))
    if expires is None or begins is None:
        return False
    return begins - limits.TOKEN_CLOCK_LEEWAY <= now < expires + limits.TOKEN_CLOCK_LEEWAY


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
