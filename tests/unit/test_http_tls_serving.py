"""The metrics listener's TLS material: the self-signed certificate, mounted files re-read
when they change, a broken replacement ignored; and the cut of long strings in /status."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from devcluster.pki import serving_cert
from nodecount_scaler import limits
from nodecount_scaler.http.app import bounded_strings
from nodecount_scaler.http.tls import ServingTls, TlsError, self_signed


def test_self_signed_certificate_names_localhost_and_serves() -> None:
    """localhost and the loopback addresses, for a port-forward; usable by ssl at once."""
    pair = self_signed()
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    assert ServingTls(None, None).context().verify_mode == ssl.CERT_NONE


def test_client_ca_asks_for_a_certificate_and_a_bad_one_keeps_the_old(tmp_path: Path) -> None:
    """With a CA a client certificate is optional and verified; garbage changes nothing."""
    tls = ServingTls(None, None)
    ca = serving_cert(tmp_path, "ca-holder").ca_bundle
    tls.set_client_ca(ca)
    assert tls.context().verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(TlsError):
        tls.set_client_ca(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    assert tls.client_ca == ca


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_mounted_files_are_reloaded_when_they_change(tmp_path: Path) -> None:
    """Re-checked every SERVING_CERT_RECHECK seconds; a new pair gives a new context, a
    broken one keeps the previous."""
    first = serving_cert(tmp_path / "a", "server")
    clock = Clock()
    tls = ServingTls(str(first.cert), str(first.key), clock)
    original = tls.context()
    second = serving_cert(tmp_path / "b", "server")
    first.cert.write_bytes(second.cert.read_bytes())
    first.key.write_bytes(second.key.read_bytes())
    os.utime(first.cert, ns=(1, 1))
    clock.now = limits.SERVING_CERT_RECHECK - 0.1
    assert tls.context() is original
    clock.now = limits.SERVING_CERT_RECHECK
    renewed = tls.context()
    assert renewed is not original
    first.key.write_bytes(b"not a key")
    clock.now = 3 * limits.SERVING_CERT_RECHECK
    assert tls.context() is renewed


def test_unreadable_mounted_files_are_a_clear_error(tmp_path: Path) -> None:
    """A missing file stops the start with a TlsError naming it."""
    with pytest.raises(TlsError, match=r"missing\.crt"):
        ServingTls(str(tmp_path / "missing.crt"), str(tmp_path / "missing.key"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "short"),
        ("x" * 1100, "x" * 1024 + "...(76 more)"),
        (
            {"k" * 1100: ["y" * 1025, 3, None]},
            {"k" * 1024 + "...(76 more)": ["y" * 1024 + "...(1 more)", 3, None]},
        ),
        ((1, "z"), [1, "z"]),
    ],
    ids=["short", "long", "nested-keys-and-lists", "tuple"],
)
def test_status_strings_are_cut(value: object, expected: object) -> None:
    """Every string in /status, keys included, is at most STATUS_STRING_MAX characters."""
    assert bounded_strings(value) == expected
