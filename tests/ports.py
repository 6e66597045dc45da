"""Loopback ports for servers that tests start in other processes (bin/demo, gunicorn), and for nothing."""

import random
import socket

_random = random.SystemRandom()  # apart from any seed a test sets


def free_port() -> int:
    """A loopback port nothing listens on now, taken from below the kernel's ephemeral range when there is
    room: the kernel never hands those out by itself (to a bind to port 0, or to an outgoing connection of a
    test running beside this one in another worker), so the port stays free until the process it is meant
    for binds it, seconds later."""
    low = _ephemeral_start()
    if low > 12_000:
        for _ in range(200):
            port = _random.randrange(10_000, low)
            if _bindable(port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
