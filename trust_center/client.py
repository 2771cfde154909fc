"""HTTP adapter of the PseudonymService and ConsentService ports (``trust_center.url`` set).

A node configured with a separate trust center deployment talks to its ``/trust-center`` REST
API and never opens the trust center's database or keys. Problem details the trust center
answers are raised again as the same core error types, so callers cannot tell the adapters
apart; an unreachable trust center raises TrustCenterUnavailable, and consent questions then
answer "no" (default deny).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import requests

from common.errors import GenomseqError, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from trust_center.core import errors as tc_errors
from trust_center.core.consent import ConsentDecision, Purpose
from trust_center.core.identifiers import DataKind
from trust_center.ports import (
    ConsentChanges,
    ConsentStatus,
    DatasetPseudonym,
    ParticipationDeclaration,
    PseudonymInfo,
)

# Problem "code" -> error type raised to the caller.
_ERRORS: dict[str, type[GenomseqError]] = {
    cls.code: cls
    for cls in (
        tc_errors.InvalidIdentifier, tc_errors.UnknownVorgangsnummer,
        tc_errors.VorgangsnummerUsed, tc_errors.VorgangsnummerExpired,
        tc_errors.DuplicateTransferNumber, tc_errors.UnknownPseudonym,
        tc_errors.InvalidConsent, tc_errors.ConsentMissing, tc_errors.DualControlViolation,
        tc_errors.ReidentificationNotApproved, tc_errors.UnknownRequest,
        tc_errors.WrongNodeKind,
    )
}
_BY_STATUS: dict[int, type[GenomseqError]] = {400: InvalidInput, 401: Unauthenticated,
                                              403: PermissionDenied, 404: NotFound}


class HttpTrustCenterClient:
    """PseudonymService and ConsentService over the trust center's REST API."""

    def __init__(
        self,
        base_url: str,
        *,
        shared_secret: bytes | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._headers = {"Accept": "application/json"}
        if shared_secret:
            self._headers["Authorization"] = "Bearer " + shared_secret.decode()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            resp = self.session.post(self.base_url + path, json=body, headers=self._headers,
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception text can hold the URL but never the body: safe to pass on.
            raise tc_errors.TrustCenterUnavailable(
                f"the trust center did not answer: {type(exc).__name__}") from None
        if resp.status_code == 204:
            return None
        try:
            data = resp.json()
        except ValueError:
            raise tc_errors.TrustCenterUnavailable(
                f"the trust center answered {resp.status_code} without JSON") from None
        if resp.status_code >= 400:
            code = data.get("code") if isinstance(data, dict) else None
            detail = data.get("detail", "") if isinstance(data, dict) else ""
            error = _ERRORS.get(str(code)) or _BY_STATUS.get(resp.status_code)
            if error is None:
                raise tc_errors.TrustCenterUnavailable(
                    f"the trust center answered {resp.status_code}: {detail}")
            raise error(str(detail))
        return data

    # --- PseudonymService -----------------------------------------------------------------

    def exchange(self, vorgangsnummer: str, domain: str) -> DatasetPseudonym:
        """See PseudonymService.exchange."""
        data = self._post("/pseudonyms/exchange",
                          {"vorgangsnummer": vorgangsnummer, "domain": domain})
        return DatasetPseudonym(data["pseudonym"], DataKind(data["kind"]), data["domain"],
                                data["keyId"])

    def derive(self, domain: str, namespace: str, values: Sequence[str]) -> list[str]:
        """See PseudonymService.derive (split into requests of at most 10,000 values)."""
        out: list[str] = []
        values = list(values)
        for start in range(0, len(values), 10_000):
            data = self._post("/pseudonyms/derive", {
                "domain": domain, "namespace": namespace,
                "values": values[start:start + 10_000]})
            out.extend(data["pseudonyms"])
        return out

    def pseudonymize_identifiers(
        self, domain: str, identifiers: Sequence[tuple[str, str]]
    ) -> list[str]:
        """See PseudonymService.pseudonymize_identifiers."""
        out: list[str] = []
        items = [{"system": s, "value": v} for s, v in identifiers]
        for start in range(0, len(items), 10_000):
            data = self._post("/pseudonyms/derive", {
                "domain": domain, "identifiers": items[start:start + 10_000]})
            out.extend(data["pseudonyms"])
        return out

    def lookup(self, domain: str, pseudonym: str) -> PseudonymInfo:
        """See PseudonymService.lookup."""
        data = self._post("/pseudonyms/lookup", {"domain": domain, "pseudonym": pseudonym})
        return PseudonymInfo(data["pseudonym"], data["domain"], data["keyId"], data["current"],
                             data["subjectType"])

    def translate(self, domain: str, pseudonyms: Sequence[str]) -> dict[str, str]:
        """See PseudonymService.translate."""
        out: dict[str, str] = {}
        values = list(pseudonyms)
        for start in range(0, len(values), 10_000):
            data = self._post("/pseudonyms/translate", {
                "domain": domain, "pseudonyms": values[start:start + 10_000]})
            out.update(data["pseudonyms"])
        return out

    def link(
        self, from_domain: str, to_domain: str, pseudonyms: Sequence[str]
    ) -> dict[str, list[str]]:
        """See PseudonymService.link."""
        out: dict[str, list[str]] = {}
        values = list(dict.fromkeys(pseudonyms))
        for start in range(0, len(values), 10_000):
            data = self._post("/pseudonyms/link", {
                "domain": from_domain, "toDomain": to_domain,
                "pseudonyms": values[start:start + 10_000]})
            out.update({k: list(v) for k, v in data["links"].items()})
        return out

    def translate_to_project(
        self, domain: str, project: str, pseudonyms: Sequence[str]
    ) -> dict[str, str]:
        """See PseudonymService.translate_to_project."""
        out: dict[str, str] = {}
        values = list(pseudonyms)
        for start in range(0, len(values), 10_000):
            data = self._post("/pseudonyms/project", {
                "domain": domain, "project": project,
                "pseudonyms": values[start:start + 10_000]})
            out.update(data["pseudonyms"])
        return out

    # --- ConsentService --------------------------------------------------------------------

    def may_use(
        self,
        domain: str,
        pseudonym: str,
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> ConsentDecision:
        """See ConsentService.may_use; an unreachable trust center means "no"."""
        body: dict[str, Any] = {"domain": domain, "pseudonym": pseudonym,
                                "purpose": Purpose(purpose).value}
        if on is not None:
            body["on"] = on.isoformat()
        try:
            data = self._post("/consent/decision", body)
        except tc_errors.TrustCenterUnavailable:
            return ConsentDecision(False, "the trust center could not be asked")
        return ConsentDecision(bool(data["allowed"]), str(data["reason"]))

    def permitted(
        self,
        domain: str,
        pseudonyms: Sequence[str],
        purpose: Purpose,
        on: date | datetime | None = None,
    ) -> frozenset[str]:
        """See ConsentService.permitted; an unreachable trust center permits nothing."""
        out: set[str] = set()
        values = list(pseudonyms)
        for start in range(0, len(values), 10_000):
            body: dict[str, Any] = {"domain": domain, "purpose": Purpose(purpose).value,
                                    "pseudonyms": values[start:start + 10_000]}
            if on is not None:
                body["on"] = on.isoformat()
            try:
                data = self._post("/consent/permitted", body)
            except tc_errors.TrustCenterUnavailable:
                return frozenset()
            out.update(data["permitted"])
        return frozenset(out)

    def consent_status(
        self, domain: str, pseudonyms: Sequence[str], purpose: Purpose
    ) -> dict[str, ConsentStatus]:
        """See ConsentService.consent_status. An unreachable trust center raises
        TrustCenterUnavailable: a caller keeping consent-derived state must not take it as
        a "no" that holds indefinitely."""
        out: dict[str, ConsentStatus] = {}
        values = list(dict.fromkeys(pseudonyms))
        for start in range(0, len(values), 10_000):
            data = self._post("/consent/status", {
                "domain": domain, "purpose": Purpose(purpose).value,
                "pseudonyms": values[start:start + 10_000]})
            for item in data["status"]:
                until = item.get("until")
                out[item["pseudonym"]] = ConsentStatus(
                    bool(item["allowed"]),
                    datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None)
        return out

    def consent_changes(self, domain: str, since: int, limit: int = 1000) -> ConsentChanges:
        """See ConsentService.consent_changes (raises TrustCenterUnavailable if unreachable)."""
        data = self._post("/consent/changes", {"domain": domain, "since": since,
                                               "limit": min(limit, 10_000)})
        return ConsentChanges(int(data["seq"]), frozenset(data["pseudonyms"]),
                              bool(data["more"]))

    def record_participation(
        self, domain: str, pseudonym: str, declarations: Sequence[ParticipationDeclaration]
    ) -> None:
        """See ConsentService.record_participation."""
        self._post("/consent/participation", {
            "domain": domain, "pseudonym": pseudonym,
            "declarations": [{"scope": d.scope.value, "status": d.status.value,
                              "date": d.date.isoformat()} for d in declarations]})

    def record_broad_consent(
        self, domain: str, pseudonym: str, consent: Mapping[str, Any]
    ) -> str:
        """See ConsentService.record_broad_consent."""
        data = self._post("/consent/broad-consent", {
            "domain": domain, "pseudonym": pseudonym, "consent": dict(consent)})
        return str(data["id"])
