"""Ports for the servers tests start.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same
range outgoing connections take their local ports from: between picking it and the
server binding it, a client socket of a concurrent test can take it ("address already
in use"). Ports below that range are only taken by servers that bind them explicitly.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOW = 10_000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range where possible."""
    high = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(_LOW, high) if high > _LOW + 1000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port found below the ephemeral range")
