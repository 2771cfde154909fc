"""Authentication of refget and seqcol requests (common.auth port).

Reference sequences are public data (refget 2.0.0 "Security"), so by default
(``GENOMSEQ_GENOMICS_REFGET_PUBLIC=true``) a request without credentials is served; a request
that does present a bearer token must present a valid one. With the setting off every request
needs a token granting the ``refget:read`` scope.
"""

from __future__ import annotations

from flask import request

from config.context import app_context

READ_SCOPE = "refget:read"


def authorize(public: bool) -> None:
    """Authenticate the current request; raise Unauthenticated / PermissionDenied."""
    header = request.headers.get("Authorization")
    if public and not header:
        return
    principal = app_context().authenticator.authenticate(header)
    if not public:
        principal.require_scope(READ_SCOPE)
