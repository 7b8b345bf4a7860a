"""TLS for the metrics listener: the serving certificate and the client CA.

The serving certificate is a mounted one (`--tls-cert-file`, `--tls-key-file`, re-read when
the files change, as cert-manager rotates them) or one generated at start and signed by
itself, as controller-runtime's secure metrics server does. The client CA is the cluster's
own (`client-ca-file` of the ConfigMap kube-system/extension-apiserver-authentication, the
API server's `--client-ca-file`): a client certificate that the API server would accept is
accepted here (delegated authentication, as in k8s.io/apiserver). Connections take the
context current at their accept, so a change applies to new connections only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodecount_scaler import limits

log = structlog.get_logger(__name__)

SELF_SIGNED_VALIDITY: Final = datetime.timedelta(days=365)


class TlsError(Exception):
    """A certificate, key or CA bundle that cannot be used (one line for the operator)."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def self_signed(names: tuple[str, ...] = ()) -> KeyPair:
    """A P-256 certificate signed by its own key, for localhost, the loopback addresses,
    the host name and `names` (a port-forward reaches it as localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    dns = list(dict.fromkeys(("localhost", host, *names)))
    ips = [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1")]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"nodecount-scaler@{host}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SELF_SIGNED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip) for ip in ips]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def server_context(pair: KeyPair, client_ca: bytes | None) -> ssl.SSLContext:
    """TLS 1.2 or newer; a client certificate is asked for (not required) when a CA is
    known, and then verified against it (OpenSSL checks the clientAuth purpose)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl can read a key pair only from files: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="nodecount-tls-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_path.write_bytes(pair.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(pair.key_pem)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise TlsError(f"serving certificate or key unusable: {exc}") from None
    if client_ca:
        try:
            context.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsError(f"client CA bundle unusable: {exc}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _stamp(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size, info.st_ino


class ServingTls:
    """The current SSLContext of the metrics listener (see the module)."""

    def __init__(
        self,
        cert_file: str | None,
        key_file: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = (cert_file, key_file) if cert_file and key_file else None
        self._clock = clock
        self._client_ca: bytes | None = None
        self._stamps: tuple[tuple[int, int, int], ...] = ()
        self._checked = clock()
        self._pair = self._read_files() if self._files else self_signed()
        self._context = server_context(self._pair, None)

    @property
    def client_ca(self) -> bytes | None:
        return self._client_ca

    def _read_files(self) -> KeyPair:
        assert self._files is not None
        try:
            stamps = tuple(_stamp(p) for p in self._files)
            pair = KeyPair(*(Path(p).read_bytes() for p in self._files))
        except OSError as exc:
            raise TlsError(f"cannot read the serving certificate: {exc}") from None
        self._stamps = stamps
        return pair

    def set_client_ca(self, bundle: bytes | None) -> None:
        """Use `bundle` (PEM) for client certificates from the next connection on; a bad
        bundle raises TlsError and leaves the current one in force."""
        if bundle == self._client_ca:
            return
        self._context = server_context(self._pair, bundle)
        self._client_ca = bundle

    def context(self) -> ssl.SSLContext:
        """The context for a connection accepted now; mounted files are re-checked at most
        every SERVING_CERT_RECHECK seconds, and a broken new pair keeps the old one."""
        now = self._clock()
        if self._files is not None and now - self._checked >= limits.SERVING_CERT_RECHECK:
            self._checked = now
            self._reload()
        return self._context

    def _reload(self) -> None:
        assert self._files is not None
        try:
            if tuple(_stamp(p) for p in self._files) == self._stamps:
                return
            pair = self._read_files()
            self._context = server_context(pair, self._client_ca)
        except (OSError, TlsError) as exc:
            log.error("serving certificate not reloaded; keeping the previous one", error=str(exc))
            return
        self._pair = pair
        log.info("serving certificate reloaded", cert_file=self._files[0])
