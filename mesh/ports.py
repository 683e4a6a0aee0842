"""Choosing ports for listeners that start later (tests and `shopmesh up --free-ports`).

A port found by binding to port 0 comes from the kernel's ephemeral range, the same range every
outgoing connection draws its local port from. Between choosing such a port and the listener
binding it, any connection on the machine (an app dialling Redis, a client dialling a sidecar)
may take it, and Envoy then fails with "Address already in use". Ports chosen here lie below
the ephemeral range, so only another listener can take them, and a process never hands out the
same port twice.
"""

from __future__ import annotations

import pathlib
import random
import socket

_LOWEST = 20_000
_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default 32768-60999)."""
    try:
        low, high = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range, not handed out before here."""
    low, high = ephemeral_range()
    span = (_LOWEST, low - 1) if low - _LOWEST > 2_000 else (high + 1, 65_535)
    for _ in range(1_000):
        port = random.randint(*span)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port found in {span[0]}-{span[1]}")
