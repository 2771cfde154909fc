"""Platform provider HTTP: Prüfberichte from approved data nodes, Meldebestätigungen for hospitals.

- ``POST /platform/pruefberichte``: a GRZ or KDK delivers one Prüfbericht (JSON of BfArM's
  model, grz-pydantic-models ``Pruefbericht``); scope ``platform/pruefbericht``; the caller's
  OAuth client id (or subject) is the participant id, which must be approved and equal to
  ``dataNodeId``. Answers 201 with the Meldebestätigung (hash string, SHA-256, IBE segment) for
  an initial submission, 200 with ``null`` otherwise.
- ``GET /platform/meldebestaetigungen/{ik}.csv``: the hospital's CSV (``Vorgangsnummer,
  Meldebestaetigung``) as a download; scope ``platform/meldebestaetigung:{ik}`` or admin.
"""

from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, jsonify, request

from common.errors import GenomseqError, InvalidInput
from config.context import app_context
from platform_provider.http.api import ADMIN_SCOPES, problem
from platform_provider.pruefberichte import PruefberichtRegister

_IK = re.compile(r"^[0-9]{9}$")


def blueprint() -> Blueprint:
    """The blueprint (prefix /platform, whose error renderer the platform wiring registers)."""
    bp = Blueprint("platform_meldebestaetigungen", __name__, url_prefix="/platform")

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        resp = problem(exc.status, exc.code, exc.message)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="platform"'
        return resp

    def _principal():  # type: ignore[no-untyped-def]
        return app_context().authenticator.authenticate(request.headers.get("Authorization"))

    @bp.post("/pruefberichte")
    def receive() -> Response:
        principal = _principal()
        principal.require_scope("platform/pruefbericht")
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            raise InvalidInput("send the Prüfbericht as an application/json object")
        register: PruefberichtRegister = app_context().get(PruefberichtRegister)
        receipt = register.receive(body, participant=principal.client_id or principal.subject)
        mb = receipt.meldebestaetigung
        if mb is None:
            return jsonify({"meldebestaetigung": None})
        resp = jsonify(
            {
                "meldebestaetigung": {
                    "hashString": mb.hash_string,
                    "hashValue": mb.hash_value,
                    "ibe": mb.ibe_segment(),
                    "billable": mb.billable,
                }
            }
        )
        resp.status_code = 201
        return resp

    @bp.get("/meldebestaetigungen/<ik>.csv")
    def hospital_csv(ik: str) -> Response:
        if not _IK.match(ik):
            raise InvalidInput("the hospital is named by its 9-digit Institutionskennzeichen")
        _principal().require_scope(f"platform/meldebestaetigung:{ik}", *ADMIN_SCOPES)
        csv: str = app_context().get(PruefberichtRegister).hospital_csv(ik)
        resp = Response(csv, mimetype="text/csv")
        resp.headers["Content-Disposition"] = f'attachment; filename="meldebestaetigungen-{ik}.csv"'
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return bp


def register(app: Flask) -> None:
    """Register the blueprint."""
    app.register_blueprint(blueprint())
