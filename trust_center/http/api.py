"""REST API of the trust center under ``/trust-center`` (JSON; errors as RFC 9457 problem details).

Every request is authenticated: the deployment's authenticator (static tokens until OAuth), or
the configured shared secret as a Bearer token for machine clients. Pseudonyms, Vorgangsnummern
and KVNRs only ever travel in request bodies (POST), never in URLs, so access logs carry none.

Scopes: ``trust-center:register`` (hospitals: register cases, fetch corrections and answers),
``trust-center:pseudonyms`` (nodes: exchange, derive, look up, translate into a research
project's domain, request corrections),
``trust-center:consent`` (record and ask consent), ``trust-center:reidentify`` (open a
re-identification request), ``trust-center:approve`` (approve or reject one; each approver
needs an own identity, so the shared secret never has it) and ``trust-center:admin`` (key
rotation), ``trust-center:projects`` (the platform provider: pseudonyms for an approved research
project's extract). The shared secret grants register, pseudonyms and consent.
"""

from __future__ import annotations

import hmac
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from common.auth import Principal, bearer_token
from common.errors import GenomseqError, InvalidInput, PermissionDenied, Unauthenticated
from common.http import register_error_renderer
from config.context import app_context
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.ports import ParticipationDeclaration
from trust_center.service import TrustCenterService

PREFIX = "/trust-center"
PROBLEM_TYPE_BASE = "urn:genomseq:trust-center:problem:"
SCOPE_REGISTER = "trust-center:register"
SCOPE_PSEUDONYMS = "trust-center:pseudonyms"
SCOPE_CONSENT = "trust-center:consent"
SCOPE_REIDENTIFY = "trust-center:reidentify"
SCOPE_APPROVE = "trust-center:approve"
SCOPE_ADMIN = "trust-center:admin"
SCOPE_PROJECTS = "trust-center:projects"
SHARED_SECRET_SCOPES = frozenset({SCOPE_REGISTER, SCOPE_PSEUDONYMS, SCOPE_CONSENT})
MAX_DERIVE = 10_000

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           500: "Internal Server Error"}


def problem(status: int, code: str, detail: str) -> Response:
    """An RFC 9457 problem details response (``application/problem+json``)."""
    body = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace(" ", "-"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code.lower().replace(" ", "-"),
    }
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="trust-center"'
    return resp


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise _BadRequest("send a JSON object with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise _BadRequest("the request body must be a JSON object")
    return data


class _BadRequest(InvalidInput):
    code = "invalid-request"


def _str(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _BadRequest(f"'{key}' must be a string")
    return value


def _date(value: Any, key: str) -> date:
    if not isinstance(value, str):
        raise _BadRequest(f"'{key}' must be a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _BadRequest(f"'{key}' must be a date (YYYY-MM-DD)") from None


def _moment(value: Any) -> date | datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRequest("'on' must be a date or a dateTime with time zone")
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError
            return moment
        return date.fromisoformat(value)
    except ValueError:
        raise _BadRequest("'on' must be a date or a dateTime with time zone") from None


def _enum(enum: type, value: Any, key: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)  # type: ignore[attr-defined]
        raise _BadRequest(f"'{key}' must be one of {allowed}") from None


def _json(data: Any, status: int = 200) -> Response:
    resp = jsonify(data)
    resp.status_code = status
    # Answers carry Vorgangsnummern, pseudonyms or Arbeitsnummern: never cache them.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _principal() -> Principal:
    return g.trust_center_principal  # type: ignore[no-any-return]


def _require(*scopes: str) -> Principal:
    principal = _principal()
    principal.require_scope(*scopes)
    return principal


def _own_ik(principal: Principal, ik: str) -> str:
    """A hospital acts only for its own IK once its token says which one (claim ``ik``)."""
    claimed = principal.claims.get("ik") if principal.claims else None
    if claimed is not None and claimed != ik:
        raise PermissionDenied("this token acts for another Institutionskennzeichen")
    return ik


def _pseudonym_list(body: dict[str, Any]) -> list[str]:
    """The request's ``pseudonyms``: a list of strings, at most MAX_DERIVE of them."""
    items = body.get("pseudonyms")
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise _BadRequest("'pseudonyms' must be a list of strings")
    if len(items) > MAX_DERIVE:
        raise _BadRequest(f"at most {MAX_DERIVE} pseudonyms per request")
    return items


def _domain(body: dict[str, Any]) -> str:
    """The pseudonym domain a node acts in; a token with a ``domain`` claim (string or list)
    acts only in its own domain(s), so one node cannot compute another node's pseudonyms."""
    domain = _str(body, "domain")
    claims = _principal().claims or {}
    claimed = claims.get("domain")
    if claimed is not None:
        allowed = ({claimed} if isinstance(claimed, str)
                   else {str(c) for c in claimed} if isinstance(claimed, list | tuple) else set())
        if domain not in allowed:
            raise PermissionDenied("this token acts for another pseudonym domain")
    return domain


def trust_center_blueprint(service: TrustCenterService, shared_secret: bytes | None) -> Blueprint:
    """The /trust-center blueprint over one TrustCenterService."""
    bp = Blueprint("trust_center", __name__, url_prefix=PREFIX)

    @bp.before_request
    def authenticate() -> None:
        header = request.headers.get("Authorization")
        if shared_secret and header:
            try:
                token = bearer_token(header).encode()
            except Unauthenticated:
                token = b""
            if token and hmac.compare_digest(token, shared_secret):
                g.trust_center_principal = Principal(
                    subject="shared-secret", scopes=SHARED_SECRET_SCOPES)
                return
        g.trust_center_principal = app_context().authenticator.authenticate(header)

    @bp.errorhandler(GenomseqError)
    def domain_error(exc: GenomseqError) -> Response:
        return problem(exc.status, exc.code, exc.message)

    # --- hospitals ------------------------------------------------------------------------

    @bp.post("/cases")
    def register_case() -> Response:
        """Register a case; answers the two Vorgangsnummern (or accepts tanG/tanC)."""
        who = _require(SCOPE_REGISTER)
        body = _body()
        reg = service.register_case(
            ik=_own_ik(who, _str(body, "ik")), arbeitsnummer=_str(body, "arbeitsnummer"),
            kvnr=_str(body, "kvnr"), actor=who.subject,
            tan_g=_str(body, "tanG", required=False) or None,
            tan_c=_str(body, "tanC", required=False) or None,
        )
        return _json({
            "vorgangsnummerGenomic": reg.vorgangsnummer_genomic,
            "vorgangsnummerClinical": reg.vorgangsnummer_clinical,
            "expires": reg.expires.isoformat().replace("+00:00", "Z"),
            "mode": reg.mode,
            "newCase": reg.new_case,
        }, 201 if reg.new_case else 200)

    @bp.post("/corrections/fetch")
    def fetch_corrections() -> Response:
        """A hospital collects its pending correction requests (by Arbeitsnummer)."""
        who = _require(SCOPE_REGISTER)
        items = service.fetch_corrections(_own_ik(who, _str(_body(), "ik")), who.subject)
        return _json({"corrections": [{
            "id": c.id, "arbeitsnummer": c.arbeitsnummer, "kind": c.kind, "reason": c.reason,
            "requested": c.requested.isoformat().replace("+00:00", "Z"),
        } for c in items]})

    # --- nodes ----------------------------------------------------------------------------

    @bp.post("/pseudonyms/exchange")
    def exchange() -> Response:
        """Trade a Vorgangsnummer for the dataset pseudonym (single use)."""
        who = _require(SCOPE_PSEUDONYMS)
        body = _body()
        result = service.exchange(_str(body, "vorgangsnummer"), _domain(body),
                                  actor=who.subject)
        return _json({"pseudonym": result.pseudonym, "kind": result.kind.value,
                      "domain": result.domain, "keyId": result.key_id})

    @bp.post("/pseudonyms/derive")
    def derive() -> Response:
        """Pseudonyms of local identifiers in the caller's domain: {namespace, values} or
        {identifiers: [{system, value}]}."""
        who = _require(SCOPE_PSEUDONYMS)
        body = _body()
        if "identifiers" in body:
            items = body["identifiers"]
            if not isinstance(items, list) or not all(
                    isinstance(i, dict) and isinstance(i.get("system"), str)
                    and isinstance(i.get("value"), str) for i in items):
                raise _BadRequest("'identifiers' must be a list of {system, value} strings")
            pairs = [(i["system"], i["value"]) for i in items]
        else:
            values = body.get("values")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _BadRequest("'values' must be a list of strings")
            namespace = _str(body, "namespace")
            pairs = [(namespace, v) for v in values]
        if len(pairs) > MAX_DERIVE:
            raise _BadRequest(f"at most {MAX_DERIVE} values per request")
        out = service.pseudonymize_identifiers(_domain(body), pairs, actor=who.subject)
        return _json({"pseudonyms": out})

    @bp.post("/pseudonyms/lookup")
    def lookup() -> Response:
        """Key id and current-key equivalent of a pseudonym."""
        _require(SCOPE_PSEUDONYMS)
        body = _body()
        info = service.lookup(_domain(body), _str(body, "pseudonym"))
        return _json({"pseudonym": info.pseudonym, "domain": info.domain, "keyId": info.key_id,
                      "current": info.current, "subjectType": info.subject_type})

    @bp.post("/pseudonyms/translate")
    def translate() -> Response:
        """Pseudonyms under the domain's current key (re-keying after a rotation)."""
        _require(SCOPE_PSEUDONYMS)
        body = _body()
        items = _pseudonym_list(body)
        return _json({"pseudonyms": service.translate(_domain(body), items)})

    @bp.post("/pseudonyms/link")
    def link() -> Response:
        """Pseudonyms issued in another domain for the same subjects; the caller must act
        in both domains."""
        who = _require(SCOPE_PSEUDONYMS)
        body = _body()
        items = _pseudonym_list(body)
        source = _domain(body)
        target = _domain({"domain": body.get("toDomain")})
        return _json({"links": service.link(source, target, items, actor=who.subject)})

    @bp.post("/pseudonyms/project")
    def translate_to_project() -> Response:
        """Pseudonyms of the same subjects in a research project's domain (what the node shows
        that project's researchers); unknown pseudonyms are left out."""
        who = _require(SCOPE_PSEUDONYMS)
        body = _body()
        items = _pseudonym_list(body)
        mapping = service.translate_to_project(_domain(body), _str(body, "project"), items,
                                               actor=who.subject)
        return _json({"pseudonyms": mapping})

    @bp.post("/corrections")
    def request_correction() -> Response:
        """A node asks the hospital behind a dataset pseudonym for a correction."""
        who = _require(SCOPE_PSEUDONYMS)
        body = _body()
        cid = service.request_correction(_domain(body), _str(body, "pseudonym"),
                                         _str(body, "reason"), actor=who.subject)
        return _json({"id": cid}, 201)

    # --- consent ----------------------------------------------------------------------------

    @bp.post("/consent/decision")
    def consent_decision() -> Response:
        """May this pseudonym's data be used for a purpose on a date? Default deny."""
        _require(SCOPE_CONSENT)
        body = _body()
        purpose = _enum(Purpose, body.get("purpose"), "purpose")
        decision = service.may_use(_domain(body), _str(body, "pseudonym"), purpose,
                                   _moment(body.get("on")))
        return _json({"allowed": decision.allowed, "reason": decision.reason})

    @bp.post("/consent/permitted")
    def consent_permitted() -> Response:
        """The subset of pseudonyms whose data may be used for a purpose (default deny)."""
        _require(SCOPE_CONSENT)
        body = _body()
        items = _pseudonym_list(body)
        purpose = _enum(Purpose, body.get("purpose"), "purpose")
        allowed = service.permitted(_domain(body), items, purpose,
                                    _moment(body.get("on")))
        return _json({"permitted": [p for p in dict.fromkeys(items) if p in allowed]})

    @bp.post("/consent/status")
    def consent_status() -> Response:
        """Each pseudonym's answer for a purpose now and until when it holds."""
        _require(SCOPE_CONSENT)
        body = _body()
        items = _pseudonym_list(body)
        purpose = _enum(Purpose, body.get("purpose"), "purpose")
        status = service.consent_status(_domain(body), items, purpose)
        return _json({"status": [
            {"pseudonym": p, "allowed": s.allowed,
             "until": s.until.isoformat().replace("+00:00", "Z") if s.until else None}
            for p, s in status.items()]})

    @bp.post("/consent/changes")
    def consent_changes() -> Response:
        """The caller's pseudonyms whose consent changed after a feed position."""
        _require(SCOPE_CONSENT)
        body = _body()
        since, limit = body.get("since", 0), body.get("limit", 1000)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise _BadRequest("'since' must be a non-negative integer")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 10_000:
            raise _BadRequest("'limit' must be an integer from 0 to 10000")
        page = service.consent_changes(_domain(body), since, limit)
        return _json({"seq": page.seq, "pseudonyms": sorted(page.pseudonyms),
                      "more": page.more})

    @bp.post("/consent/participation")
    def record_participation() -> Response:
        """Store scopes of a participation declaration (or their withdrawal)."""
        who = _require(SCOPE_CONSENT)
        body = _body()
        items = body.get("declarations")
        if not isinstance(items, list) or not items:
            raise _BadRequest("'declarations' must be a non-empty list")
        declarations = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise _BadRequest(f"declarations[{i}] must be an object")
            declarations.append(ParticipationDeclaration(
                _enum(ParticipationScope, item.get("scope"), f"declarations[{i}].scope"),
                _enum(ScopeStatus, item.get("status"), f"declarations[{i}].status"),
                _date(item.get("date"), f"declarations[{i}].date"),
            ))
        service.record_participation(_domain(body), _str(body, "pseudonym"),
                                     declarations, actor=who.subject)
        return Response(status=204)

    @bp.post("/consent/broad-consent")
    def record_broad_consent() -> Response:
        """Store an MII Broad Consent (FHIR Consent) for the case behind a pseudonym."""
        who = _require(SCOPE_CONSENT)
        body = _body()
        consent = body.get("consent")
        if not isinstance(consent, dict):
            raise _BadRequest("'consent' must be a FHIR Consent resource")
        cid = service.record_broad_consent(_domain(body), _str(body, "pseudonym"),
                                           consent, actor=who.subject)
        return _json({"id": cid}, 201)

    # --- re-identification ------------------------------------------------------------------

    @bp.post("/reidentifications")
    def request_reidentification() -> Response:
        """Open a re-identification request (needs the matching consent scope)."""
        who = _require(SCOPE_REIDENTIFY)
        body = _body()
        rid = service.request_reidentification(
            domain=_str(body, "domain"), pseudonym=_str(body, "pseudonym"),
            purpose=_enum(Purpose, body.get("purpose"), "purpose"),
            hospital_ik=_str(body, "hospitalIk"), requested_by=who.subject,
            justification=_str(body, "justification"),
        )
        return _json({"id": rid, "status": "pending"}, 201)

    @bp.get("/reidentifications")
    def list_reidentifications() -> Response:
        """Requests for approvers, newest first (no identifiers)."""
        _require(SCOPE_APPROVE, SCOPE_ADMIN)
        status = request.args.get("status") or None
        return _json({"requests": [_request_json(r) for r in
                                   service.reidentification_requests(status)]})

    @bp.post("/reidentifications/<request_id>/approve")
    def approve(request_id: str) -> Response:
        """One approval by the authenticated approver."""
        who = _require(SCOPE_APPROVE)
        return _json(_request_json(service.approve_reidentification(request_id, who.subject)))

    @bp.post("/reidentifications/<request_id>/reject")
    def reject(request_id: str) -> Response:
        """An approver turns the request down."""
        who = _require(SCOPE_APPROVE)
        service.reject_reidentification(request_id, who.subject)
        return Response(status=204)

    @bp.post("/reidentifications/<request_id>/answer")
    def answer(request_id: str) -> Response:
        """The Arbeitsnummer, for the hospital that registered the case, once approved."""
        who = _require(SCOPE_REGISTER)
        number = service.answer_reidentification(
            request_id, _own_ik(who, _str(_body(), "ik")), who.subject)
        return _json({"id": request_id, "arbeitsnummer": number})

    # --- research projects ------------------------------------------------------------------

    @bp.post("/projects/pseudonyms")
    def project_pseudonyms() -> Response:
        """Person pseudonyms in a project's domain for node pseudonyms (null: no consent)."""
        who = _require(SCOPE_PROJECTS)
        body = _body()
        items = _pseudonym_list(body)
        mapping = service.project_pseudonyms(_str(body, "project"), _str(body, "domain"), items,
                                             who.subject)
        return _json({"pseudonyms": mapping})

    # --- operators --------------------------------------------------------------------------

    @bp.post("/keys/rotate")
    def rotate() -> Response:
        """Rotate a domain's pseudonym key, re-deriving every pseudonym issued in it."""
        who = _require(SCOPE_ADMIN)
        result = service.rotate_key(_str(_body(), "domain"), who.subject)
        return _json({"domain": result.domain, "oldKeyId": f"k{result.old_version}",
                      "newKeyId": f"k{result.new_version}", "rederived": result.rederived})

    return bp


def _request_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "purpose": r.purpose, "domain": r.domain, "hospitalIk": r.hospital_ik,
            "requestedBy": r.requested_by, "status": r.status, "approvers": list(r.approvers),
            "created": r.created.isoformat().replace("+00:00", "Z")}


def init_app(app: Flask, service: TrustCenterService, shared_secret: bytes | None) -> None:
    """Register the blueprint and the problem-details renderer for its prefix."""
    app.register_blueprint(trust_center_blueprint(service, shared_secret))
    register_error_renderer(
        app, PREFIX,
        lambda status, code, message: problem(status, code, message),
    )
