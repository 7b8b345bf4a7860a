"""Generates the metrics listener's self-signed certificate, in a child process.

`python -m nodecount_scaler.http.selfsigned [NAME...]` writes a certificate and its key
(PEM, certificate first) to standard output. The service runs it as a short-lived child
(http/tls.py) so that the cryptography library, about 9 MiB once loaded, is never mapped
into the long-running process: the standard ssl module serves and verifies TLS, but cannot
make a certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


def generate(names: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """(certificate, key) in PEM: a P-256 certificate signed by its own key, for localhost,
    the loopback addresses, the host name and `names` (a port-forward reaches it as
    localhost)."""
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
        .not_valid_after(now + VALIDITY)
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
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def main() -> None:
    cert, key = generate(tuple(sys.argv[1:]))
    sys.stdout.buffer.write(cert + key)


if __name__ == "__main__":
    main()
