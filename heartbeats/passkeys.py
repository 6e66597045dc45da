"""Passkeys and security keys (WebAuthn, through django-otp-webauthn) as a second factor.

A credential is bound to the host name the dashboard is opened at (the relying party id) and each ceremony is
checked against the page's own origin -- its host already vetted by ALLOWED_HOSTS, its scheme by the proxy
settings. Browsers offer WebAuthn on https, and on http only at localhost: not at a bare IP address.
"""

import ipaddress

from django.http.request import split_domain_port
from django_otp_webauthn.helpers import WebAuthnHelper


def relying_party_id(request) -> str:
    domain, _port = split_domain_port(request.get_host())
    return domain


def available(request) -> bool:
    """Can a browser run a WebAuthn ceremony for this page's address?"""
    domain = relying_party_id(request)
    if not domain:
        return False
    try:
        ipaddress.ip_address(domain.strip("[]"))
    except ValueError:
        return request.is_secure() or domain == "localhost" or domain.endswith(".localhost")
    return False


class PasskeyHelper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        return [f"{self.request.scheme}://{self.request.get_host()}"]
