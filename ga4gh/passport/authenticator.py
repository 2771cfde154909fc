"""The clearinghouse as the app's Authenticator (common.auth port) for every resource server."""

from __future__ import annotations

from common.auth import Principal, bearer_token
from common.errors import Unauthenticated
from ga4gh.passport.core.clearinghouse import Clearinghouse
from ga4gh.passport.core.jose import InvalidToken


class ClearinghouseAuthenticator:
    """Accepts this broker's RFC 9068 access tokens (SMART scopes); nothing else.

    Passports and visas are not access tokens (their ``typ`` differs) and are refused here;
    endpoints that take a passport in their body verify it with
    :meth:`Clearinghouse.verify_passport`.
    """

    def __init__(self, clearinghouse: Clearinghouse) -> None:
        self.clearinghouse = clearinghouse

    def authenticate(self, authorization: str | None) -> Principal:
        """The token's principal (a TokenPrincipal) or Unauthenticated."""
        token = bearer_token(authorization)
        try:
            return self.clearinghouse.verify_access_token(token)
        except InvalidToken as exc:
            raise Unauthenticated(exc.message) from exc
