"""The public application register of the platform provider (§ 64e Abs. 9 SGB V).

The law asks for "ein öffentliches Antragsregister mit Informationen zu den Antragstellern,
den Nutzungsberechtigten, den Vorhaben, für die Daten beantragt wurden, und deren Ergebnissen".

Our reading, applied here (data minimisation, Art. 5(1)(c) GDPR):
- Applicants (Antragsteller) are shown as the applying institution; the name of the person
  who filed the application is not shown.
- Authorized users (Nutzungsberechtigte) are shown by their institutions and their number.
  Their names are shown only if the operator enables ``register_show_user_names`` because its
  legal assessment says the register must name them; account ids (``sub``), e-mail addresses,
  reviewers and committee opinions are never shown.
- Projects: title, summary, DUO purpose, requested datasets and data categories, aggregated or
  individual-level access, the decision with its reasons, the dates and the reported results.
- Drafts are not public; every application from its submission on is listed, including
  withdrawn and rejected ones.

Each entry is signed by the platform provider as an RFC 7515 JWS (compact serialisation,
ES256 per RFC 7518 section 3.4) over the canonical JSON of the entry (RFC 8785-style: sorted
keys, no insignificant whitespace, UTF-8), ``typ`` ``application/register-entry+json``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from platform_provider.core.applications import Application, State
from platform_provider.core.duo import TERMS

ENTRY_TYP = "application/register-entry+json"
PUBLIC_STATES = frozenset(State) - {State.DRAFT}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def decision_of(app: Application) -> str:
    """The decision as the register states it."""
    if app.state in (State.APPROVED, State.ACTIVE, State.EXPIRED):
        return "approved"
    if app.state is State.REVOKED:
        return "approved, later revoked"
    if app.state is State.REJECTED:
        return "rejected"
    if app.state is State.WITHDRAWN:
        return "withdrawn"
    return "pending"


def entry(app: Application, *, show_user_names: bool = False) -> dict[str, Any]:
    """The public register entry of an application (nothing personal beyond the law's list)."""
    institutions = sorted({u.institution for u in app.authorized_users})
    users: dict[str, Any] = {"count": len(app.authorized_users), "institutions": institutions}
    if show_user_names:
        users["names"] = sorted(u.name for u in app.authorized_users)
    purpose = app.purpose
    return {
        "application_id": app.application_id,
        "status": app.state.value,
        "decision": decision_of(app),
        "applicant_institution": app.institution,
        "project": {"title": app.project_title, "summary": app.project_summary},
        "purpose": {
            "code": purpose.category,
            "label": TERMS[purpose.category].label,
            "shorthand": TERMS[purpose.category].shorthand,
            "diseases": list(purpose.diseases),
            "commercial": purpose.commercial,
        },
        "datasets": [
            {
                "dataset_id": ds,
                **_dataset_decision(app, ds),
            }
            for ds in app.datasets
        ],
        "data_categories": list(app.data_categories),
        "access_level": app.access_level.value,
        "authorized_users": users,
        "requested_period": {
            "from": _iso(app.requested_from),
            "until": _iso(app.requested_until),
        },
        "approved_period": {"from": _iso(app.valid_from), "until": _iso(app.valid_until)},
        "decision_reasons": app.decision_reasons or None,
        "dates": {
            "submitted": _iso(app.submitted_at),
            "decided": _iso(app.decided_at),
            "activated": _iso(app.activated_at),
            "ended": _iso(app.ended_at),
        },
        "end_reason": app.end_reason or None,
        "extensions": [
            {
                "previous_until": _iso(e.previous_until),
                "new_until": _iso(e.new_until),
                "granted": _iso(e.at),
            }
            for e in app.extensions
        ],
        "results": [
            {
                "title": p.title,
                "reference": p.reference,
                "year": p.year,
                "reported": _iso(p.reported_at),
            }
            for p in app.publications
        ],
        "last_updated": _iso(app.updated_at),
    }


def _dataset_decision(app: Application, dataset_id: str) -> dict[str, Any]:
    for d in app.dataset_decisions:
        if d.dataset_id == dataset_id:
            return {
                "duo_outcome": d.outcome.value,
                "granted": d.granted,
                "obligations": list(d.obligations),
            }
    return {"duo_outcome": None, "granted": False, "obligations": []}


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_entry(value: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """Compact JWS (ES256) of a register entry."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("register entries are signed with a P-256 key (ES256)")
    header = {"alg": "ES256", "kid": kid, "typ": ENTRY_TYP}
    signing_input = f"{_b64u(canonical_json(header))}.{_b64u(canonical_json(value))}"
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
