"""JSON API of the platform provider's staff under ``/platform`` (scope ``platform/admin``).

Errors are RFC 9457 problem details (``application/problem+json``) with an extra ``code``
member naming the error (e.g. ``illegal-transition``); an illegal workflow transition is 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from common.auth import Principal
from common.errors import GenomseqError, InvalidInput
from common.http import register_error_renderer
from config.context import app_context
from platform_provider.core.codec import application_to_dict, optional_date, required_date
from platform_provider.core.datasets import Dataset, terms_to_json
from platform_provider.core.participants import Participant, StatusChange
from platform_provider.ports import Grant
from platform_provider.service import PlatformService

# Staff of the platform provider: ``platform/admin``, or the broker's generic ``admin`` scope
# (the embedded deployment's operator role).
ADMIN_SCOPES = ("platform/admin", "admin")
PREFIX = "/platform"


def problem(status: int, code: str, message: str) -> Response:
    """RFC 9457 problem details with our error code."""
    resp = jsonify(
        {"type": "about:blank", "title": code, "status": status, "detail": message, "code": code}
    )
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def _routing_problem(status: int, name: str, message: str) -> Response:
    code = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
        status, "error" if status >= 500 else "invalid"
    )
    return problem(status, code, message)


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise _UnsupportedMediaType("send application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


class _UnsupportedMediaType(GenomseqError):
    status = 415
    code = "unsupported-media-type"


def _str(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{name} is required" if required else f"{name} must be a string")
    return value


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}")
    return value


def participant_json(p: Participant, history: list[StatusChange] | None = None) -> dict[str, Any]:
    """Staff view of a participant."""
    out: dict[str, Any] = {
        "participant_id": p.participant_id,
        "kind": p.kind.value,
        "name": p.name,
        "status": p.status.value,
        "client_id": p.client_id,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }
    if history is not None:
        out["history"] = [
            {
                "at": h.at.isoformat(),
                "from": h.from_status.value if h.from_status else None,
                "to": h.to_status.value,
                "actor": h.actor,
                "reason": h.reason,
            }
            for h in history
        ]
    return out


def dataset_json(d: Dataset) -> dict[str, Any]:
    """A dataset with its data-use terms."""
    return {
        "dataset_id": d.dataset_id,
        "title": d.title,
        "description": d.description,
        "custodian_id": d.custodian_id,
        "data_categories": list(d.data_categories),
        "data_use": terms_to_json(d.terms),
        "created_at": d.created_at.isoformat(),
    }


def grant_json(g: Grant) -> dict[str, Any]:
    """A grant as staff see it."""
    return {
        "grant_id": g.grant_id,
        "subject": g.subject,
        "dataset_id": g.dataset_id,
        "purpose": g.purpose,
        "application_id": g.application_id,
        "access_level": g.access_level,
        "valid_from": g.valid_from.isoformat(),
        "valid_until": g.valid_until.isoformat(),
        "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
    }


def admin_blueprint(service: PlatformService) -> Blueprint:
    """Blueprint of the staff API."""
    bp = Blueprint("platform_admin", __name__, url_prefix=PREFIX)

    def principal() -> Principal:
        return request.environ["genomseq.platform.principal"]  # type: ignore[no-any-return]

    def actor() -> str:
        return principal().subject

    @bp.before_request
    def _authenticate() -> None:
        p = app_context().authenticator.authenticate(request.headers.get("Authorization"))
        p.require_scope(*ADMIN_SCOPES)
        request.environ["genomseq.platform.principal"] = p

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        resp = problem(exc.status, exc.code, exc.message)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="platform"'
        return resp

    # participants ---------------------------------------------------------------------------
    @bp.get("/participants")
    def list_participants() -> Response:
        kind = request.args.get("kind") or None
        return jsonify({"participants": [participant_json(p) for p in service.participants(kind)]})

    @bp.post("/participants")
    def register_participant() -> tuple[Response, int]:
        data = _body()
        jwks = data.get("jwks")
        if jwks is not None and not isinstance(jwks, dict):
            raise InvalidInput("jwks must be a JWK Set object")
        create_client = data.get("create_client", True)
        if not isinstance(create_client, bool):
            raise InvalidInput("create_client must be true or false")
        p, creds = service.register_participant(
            _str(data, "participant_id"),
            _str(data, "kind"),
            _str(data, "name"),
            actor=actor(),
            jwks=jwks,
            create_client=create_client,
        )
        out = participant_json(p)
        if creds is not None:
            out["credentials"] = {
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            }
        resp = jsonify(out)
        resp.headers["Location"] = f"{PREFIX}/participants/{p.participant_id}"
        resp.headers["Cache-Control"] = "no-store"
        return resp, 201

    @bp.get("/participants/<participant_id>")
    def get_participant(participant_id: str) -> Response:
        p, history = service.participant(participant_id)
        return jsonify(participant_json(p, history))

    @bp.post("/participants/<participant_id>/status")
    def participant_status(participant_id: str) -> Response:
        data = _body()
        p = service.set_participant_status(
            participant_id, _str(data, "status"), reason=_str(data, "reason"), actor=actor()
        )
        return jsonify(participant_json(p))

    # clients and users ----------------------------------------------------------------------
    @bp.post("/clients")
    def add_client() -> tuple[Response, int]:
        data = _body()
        jwks = data.get("jwks")
        if jwks is not None and not isinstance(jwks, dict):
            raise InvalidInput("jwks must be a JWK Set object")
        scopes = data.get("scopes")
        if scopes is not None and (
            not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)
        ):
            raise InvalidInput("scopes must be a list of strings")
        creds = service.add_client(
            _str(data, "name"), _str(data, "role"), actor=actor(), jwks=jwks, scopes=scopes
        )
        resp = jsonify({"client_id": creds.client_id, "client_secret": creds.client_secret})
        resp.headers["Cache-Control"] = "no-store"
        return resp, 201

    @bp.post("/users")
    def create_user() -> tuple[Response, int]:
        data = _body()
        attrs: dict[str, Any] = {}
        for name in ("affiliation", "email", "researcher_status"):
            if name in data:
                attrs[name] = _str(data, name, required=False)
        for name in ("roles", "accepted_terms"):
            if name in data:
                value = data[name]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidInput(f"{name} must be a list of strings")
                attrs[name] = tuple(value)
        user = service.create_user(
            _str(data, "username"), _str(data, "password"), actor=actor(), **attrs
        )
        return jsonify({"subject": user.subject, "username": user.username}), 201

    # datasets ---------------------------------------------------------------------------------
    @bp.get("/datasets")
    def list_datasets() -> Response:
        return jsonify({"datasets": [dataset_json(d) for d in service.datasets()]})

    @bp.post("/datasets")
    def add_dataset() -> tuple[Response, int]:
        d = service.add_dataset(_body(), actor=actor())
        return jsonify(dataset_json(d)), 201

    # applications -----------------------------------------------------------------------------
    @bp.get("/applications")
    def list_applications() -> Response:
        states = [s for s in request.args.getlist("state") if s]
        apps, total = service.applications(
            states=states or None,
            query=request.args.get("q", ""),
            limit=_int_arg("limit", 100, 1, 1000),
            offset=_int_arg("offset", 0, 0, 10**9),
        )
        return jsonify({"total": total, "applications": [application_to_dict(a) for a in apps]})

    @bp.post("/applications")
    def create_application() -> tuple[Response, int]:
        app = service.create_application(_body(), actor=actor())
        resp = jsonify(application_to_dict(app))
        resp.headers["Location"] = f"{PREFIX}/applications/{app.application_id}"
        return resp, 201

    @bp.get("/applications/<application_id>")
    def get_application(application_id: str) -> Response:
        return jsonify(application_to_dict(service.application(application_id)))

    @bp.get("/applications/<application_id>/events")
    def application_events(application_id: str) -> Response:
        return jsonify({"events": service.events(application_id)})

    @bp.get("/applications/<application_id>/duo")
    def application_duo(application_id: str) -> Response:
        return jsonify({"datasets": service.evaluate(application_id)})

    def _done(app: Any) -> Response:
        return jsonify(application_to_dict(app))

    @bp.post("/applications/<application_id>/submit")
    def submit(application_id: str) -> Response:
        return _done(service.submit(application_id, actor=actor()))

    @bp.post("/applications/<application_id>/review")
    def start_review(application_id: str) -> Response:
        return _done(service.start_review(application_id, actor=actor()))

    @bp.post("/applications/<application_id>/opinions")
    def opinion(application_id: str) -> Response:
        data = _body()
        reviewer = data.get("reviewer") or actor()
        if not isinstance(reviewer, str):
            raise InvalidInput("reviewer must be a string")
        return _done(
            service.record_opinion(
                application_id,
                reviewer=reviewer,
                recommendation=_str(data, "recommendation"),
                comment=_str(data, "comment", required=False),
            )
        )

    @bp.post("/applications/<application_id>/approve")
    def approve(application_id: str) -> Response:
        data = _body()
        confirm = data.get("confirm", [])
        if not isinstance(confirm, list) or not all(isinstance(c, str) for c in confirm):
            raise InvalidInput("confirm must be a list of dataset ids")
        return _done(
            service.approve(
                application_id,
                reasons=_str(data, "reasons"),
                actor=actor(),
                confirm=confirm,
                valid_from=optional_date(data, "valid_from"),
                valid_until=optional_date(data, "valid_until"),
            )
        )

    @bp.post("/applications/<application_id>/reject")
    def reject(application_id: str) -> Response:
        data = _body()
        return _done(service.reject(application_id, reasons=_str(data, "reasons"), actor=actor()))

    @bp.post("/applications/<application_id>/activate")
    def activate(application_id: str) -> Response:
        return _done(service.activate(application_id, actor=actor()))

    @bp.post("/applications/<application_id>/revoke")
    def revoke(application_id: str) -> Response:
        data = _body()
        return _done(service.revoke(application_id, reasons=_str(data, "reasons"), actor=actor()))

    @bp.post("/applications/<application_id>/extend")
    def extend(application_id: str) -> Response:
        data = _body()
        return _done(
            service.extend(
                application_id,
                new_until=required_date(data, "valid_until"),
                reason=_str(data, "reason"),
                actor=actor(),
            )
        )

    @bp.post("/applications/<application_id>/expire")
    def expire(application_id: str) -> Response:
        return _done(service.expire(application_id, actor=actor()))

    @bp.post("/applications/<application_id>/withdraw")
    def withdraw(application_id: str) -> Response:
        return _done(service.withdraw(application_id, actor=actor()))

    @bp.post("/applications/<application_id>/results")
    def report_result(application_id: str) -> Response:
        data = _body()
        year = data.get("year")
        if not isinstance(year, int) or isinstance(year, bool):
            raise InvalidInput("year must be an integer")
        return _done(
            service.report_result(
                application_id,
                title=_str(data, "title"),
                reference=_str(data, "reference"),
                year=year,
                actor=actor(),
            )
        )

    # grants -----------------------------------------------------------------------------------
    @bp.get("/grants")
    def list_grants() -> Response:
        from datetime import UTC, datetime

        active_at = None
        if request.args.get("active") in ("1", "true"):
            active_at = datetime.now(UTC)
        grants = service.grants(
            subject=request.args.get("subject") or None,
            application_id=request.args.get("application_id") or None,
            dataset_id=request.args.get("dataset_id") or None,
            active_at=active_at,
            limit=_int_arg("limit", 1000, 1, 10000),
        )
        return jsonify({"grants": [grant_json(g) for g in grants]})

    @bp.post("/grants/<grant_id>/revoke")
    def revoke_grant(grant_id: str) -> Response:
        data = _body()
        return jsonify(
            grant_json(service.revoke_grant(grant_id, reason=_str(data, "reason"), actor=actor()))
        )

    return bp


def init_app(app: Flask, service: PlatformService) -> None:
    """Register the staff API and its error renderer."""
    app.register_blueprint(admin_blueprint(service))
    register_error_renderer(app, PREFIX, _routing_problem)
