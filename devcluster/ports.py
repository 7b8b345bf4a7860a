"""Free TCP ports on 127.0.0.1 (the one helper for the control plane, the service and tests)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, fields


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago. They are released before
    returning, so another process can take one in between: callers that bind later must
    retry on "address already in use" (ControlPlane.start does)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)  # before bind, so that a failing bind still closes it
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    (port,) = free_ports(1)
    return port


@dataclass(frozen=True)
class Ports:
    """The ports one control plane listens on, all on 127.0.0.1."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_client}"

    @classmethod
    def pick(cls) -> Ports:
        return cls(*free_ports(len(fields(cls))))
