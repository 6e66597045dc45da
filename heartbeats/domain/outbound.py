"""Where the server may send alerts and healthcheck pings: public addresses only.

An alert channel's URL (and CG_HEALTHCHECK_URL) is typed by a person; left unchecked it would let them make
the server call its own loopback services, the private network or a cloud metadata service (169.254.169.254)
and read the answer back in a delivery error. So, unless settings.ALLOW_PRIVATE_ALERT_HOSTS
(CG_ALLOW_PRIVATE_ALERT_HOSTS; on in the embedded setup) says otherwise:

- when a URL is saved, a host that is a loopback, link-local, private or otherwise non-public address, or a
  local name (localhost, *.local, *.internal…), is refused with a message (`url_refusal`);
- when anything is sent, inside `public_only()`, every address a host name resolves to is checked at the
  moment of connecting (DNS may have changed since the URL was saved, or answer differently each time): the
  connection is refused before it is made. The check sits in `socket.getaddrinfo`, which every client
  library here connects through (requests/urllib3, smtplib), and is active only within `public_only()`,
  in whatever thread the sending library uses (a context variable, which apprise carries to its threads).
"""

import ipaddress
import socket
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from django.conf import settings

LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan", ".intranet")
LOCAL_NAMES = {"localhost", "metadata", "instance-data"}

# Set within public_only(): the list its refusals are written to.
_refusals: ContextVar[list | None] = ContextVar("countdown_guard_public_only", default=None)
_install_lock = threading.Lock()
_resolve = socket.getaddrinfo  # the resolver the guard asks (the original getaddrinfo)


class PrivateAddressRefused(socket.gaierror):
    pass


def address_refusal(address: str) -> str:
    """Why the server may not connect to `address` ("" when it may: a public address)."""
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return ""
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if ip.is_loopback:
        return "a loopback address (this server itself)"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_multicast:
        return "not a public address"
    return ""


def url_refusal(url: str) -> str:
    """Why a URL to be saved names a host the server may not send to ("" when it may, or cannot tell before
    sending: a host name is checked when it is resolved, at each send)."""
    if allowed_anywhere():
        return ""
    try:
        host = (urlsplit(str(url)).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    why = address_refusal(host)
    if not why and (host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES)):
        why = "a local name"
    if why:
        return (
            f"{host} is {why}: alerts may go to public addresses only, unless whoever runs this server sets "
            "CG_ALLOW_PRIVATE_ALERT_HOSTS."
        )
    return ""


def allowed_anywhere() -> bool:
    return bool(getattr(settings, "ALLOW_PRIVATE_ALERT_HOSTS", False))


@contextmanager
def public_only():
    """Within this block, connections (in this context and threads started with it) go to public addresses
    only; yields the list of refusals made ("host → address: why")."""
    refused: list[str] = []
    if allowed_anywhere():
        yield refused
        return
    _install()
    token = _refusals.set(refused)
    try:
        yield refused
    finally:
        _refusals.reset(token)


def _guarded_getaddrinfo(host, port, *args, **kwargs):
    results = _resolve(host, port, *args, **kwargs)
    refused = _refusals.get()
    if refused is None:
        return results
    for *_rest, sockaddr in results:
        why = address_refusal(sockaddr[0])
        if why:
            refused.append(f"{host} → {sockaddr[0]}: {why}")
            raise PrivateAddressRefused(socket.EAI_FAIL, f"{host} resolves to {sockaddr[0]}, {why}: refused")
    return results


def _install() -> None:
    with _install_lock:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo
