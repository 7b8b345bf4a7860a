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

import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from nodecount_scaler import limits

log = structlog.get_logger(__name__)

# The child starts an interpreter and imports cryptography: about 0.25 s on 2 cores.
SELF_SIGNED_TIMEOUT: Final = 30.0
KEY_MARKER: Final = b"-----BEGIN PRIVATE KEY-----"


class TlsError(Exception):
    """A certificate, key or CA bundle that cannot be used (one line for the operator)."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def start_self_signed(names: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """Start generating a self-signed pair in a child process (http/selfsigned.py: the
    cryptography library stays out of this process)."""
    command = [sys.executable, "-m", "nodecount_scaler.http.selfsigned", *names]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_self_signed(child: subprocess.Popen[bytes]) -> KeyPair:
    """The pair the child wrote; TlsError if it failed or took too long."""
    try:
        out, err = child.communicate(timeout=SELF_SIGNED_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise TlsError(f"no self-signed certificate within {SELF_SIGNED_TIMEOUT:g} s") from None
    cert, marker, key = out.partition(KEY_MARKER)
    if child.returncode != 0 or not marker:
        problem = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise TlsError(f"generating the self-signed certificate failed: {problem[0]:.300}")
    return KeyPair(cert, marker + key)


def self_signed(names: tuple[str, ...] = ()) -> KeyPair:
    """A self-signed pair for localhost, the loopback addresses, the host name and `names`."""
    return finish_self_signed(start_self_signed(names))


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
        # Generated meanwhile by a child process; settled on first use or by ready().
        self._child = None if self._files else start_self_signed()
        self._pair = self._read_files() if self._files else KeyPair(b"", b"")
        self._context: ssl.SSLContext | None = (
            None if self._child else server_context(self._pair, None)
        )

    async def ready(self) -> None:
        """Wait, off the event loop, for the self-signed pair (if one is being made)."""
        if self._child is not None:
            await asyncio.to_thread(self._settle)

    def _settle(self) -> ssl.SSLContext:
        if self._child is not None:
            child, self._child = self._child, None
            self._pair = finish_self_signed(child)
            self._context = server_context(self._pair, self._client_ca)
        assert self._context is not None
        return self._context

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
        self._settle()
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
        return self._settle()

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
