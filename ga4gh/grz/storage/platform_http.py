"""HTTP adapter of the PruefberichtReceiver port: a GRZ deployed apart from the platform
provider delivers its Prüfberichte to ``POST {platform}/platform/pruefberichte`` with a bearer
token of its approved participant client (scope ``platform/pruefbericht``).

The platform's RFC 9457 answers are turned back into the same error types the in-process
adapter raises, so the intake behaves alike: a 4xx is a refusal the operator must resolve (the
submission waits in ``reporting``), a 5xx or a network failure is retried on the next run.
"""

from __future__ import annotations

import json

import requests

from common.errors import (
    Conflict,
    GenomseqError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
)


class PlatformUnavailable(GenomseqError):
    """The platform provider could not be reached or failed."""

    status = 503
    code = "platform-unavailable"


_BY_STATUS: dict[int, type[GenomseqError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    409: Conflict,
    422: InvalidInput,
}


class HttpPruefberichtReceiver:
    """PruefberichtReceiver over HTTP."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/platform/pruefberichte"
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    def submit(self, report: dict[str, object], *, participant: str) -> None:
        """POST the report; the participant is the one the token belongs to."""
        try:
            resp = self.session.post(
                self.url,
                data=json.dumps(report),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise PlatformUnavailable(
                f"platform provider unreachable: {type(exc).__name__}"
            ) from None
        if resp.status_code in (200, 201):
            return
        try:
            detail = str(resp.json().get("detail") or resp.reason)
        except ValueError:
            detail = resp.reason or "error"
        raise _BY_STATUS.get(resp.status_code, PlatformUnavailable)(
            f"platform provider answered {resp.status_code}: {detail}"
        )
