"""Bearer-token authentication for the API: which token, whether it may be used from this address, and
whether its role allows the operation. No session and no cookie take part, so there is no CSRF to check."""

import logging

from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer

from heartbeats.domain.audit import client_ip
from heartbeats.models.tokens import ApiToken, TokenRole

log = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cg_…`, for operations open to tokens of `role` (an operator token may also
    read). request.auth is the ApiToken."""

    def __init__(self, role: str = TokenRole.VIEWER):
        super().__init__()
        self.role = role

    def __call__(self, request: HttpRequest) -> ApiToken:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationError(message="Send an API token: `Authorization: Bearer cg_…`.")
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = ApiToken.find(token)
        if found is None:
            raise AuthenticationError(message="Unknown API token.")
        address = client_ip(request)
        # Checked before whether it was revoked and its role, so a request from elsewhere learns nothing
        # about the token.
        if not found.allows(address):
            log.warning("API token %s refused from %s: address not allowed", found.name, address or "-")
            raise AuthorizationError(
                message=f"Requests from {address or 'an unknown address'} are not allowed for this token."
            )
        if found.revoked:
            raise AuthenticationError(message="This API token has been revoked.")
        if self.role == TokenRole.OPERATOR and found.role != TokenRole.OPERATOR:
            raise AuthorizationError(
                message="This token has the viewer role: it reads status and results but cannot arm or "
                "disarm. Nothing was changed."
            )
        found.touch(address)
        return found


read = TokenAuth(TokenRole.VIEWER)
operate = TokenAuth(TokenRole.OPERATOR)
