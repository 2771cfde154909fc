"""GA4GH DRS 1.4 HTTP API under ``/ga4gh/drs/v1``: ``GET``/``POST``/``OPTIONS
/objects/{id}``, bulk ``POST``/``OPTIONS /objects``, ``GET``/``POST``/``OPTIONS
/objects/{id}/access/{access_id}`` and ``/service-info``.

``POST`` with ``{"passports": [...]}`` is DRS ``PassportAuth``: the passports (verified by the
passport clearinghouse through the catalogue's :class:`PassportAuth` port) replace the bearer
token; without passports a ``POST`` is authenticated like a ``GET``. ``OPTIONS`` answers the
``Authorizations`` object without authentication and without looking the object up: the
answer is the same for every id, so it does not reveal which objects exist (outside one's
grants an object is "not found", see ``ga4gh/passport/integrations.py``).
Errors use the DRS ``Error`` schema ``{"msg", "status_code"}``."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, request

from common.auth import Principal
from common.errors import (
    GenomseqError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from common.http import register_error_renderer
from config.context import app_context
from ga4gh.catalogue.access import authorize_read, may_read
from ga4gh.catalogue.core.model import GenomicObject
from ga4gh.catalogue.ports import GenomicCatalogue, PassportAuth
from ga4gh.drs.core import AuthInfo, check_access_id, drs_object, parse_post_body
from ga4gh.htsget.http import data_url
from ga4gh.service_info.core import ServiceInfo

log = logging.getLogger("genomseq.drs")
PREFIX = "/ga4gh/drs/v1"
MAX_BULK = 1000
# Body of a POST without passports (bulk ids, expand): bounded before it is parsed.
MAX_BODY_BYTES = 1024 * 1024
# Endpoints that authenticate from the request body (passports) or not at all (OPTIONS).
_BODY_AUTH = frozenset({"drs.post_object", "drs.post_access"})


def error_response(status: int, message: str) -> Response:
    """A DRS Error body."""
    resp = Response(json.dumps({"msg": message, "status_code": status}), status=status,
                    mimetype="application/json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="drs"'
    return resp


def _render(status: int, _code: str, message: str) -> Response:
    return error_response(status, message)


def _base() -> str:
    configured = app_context().settings.public_base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc), status=status, mimetype="application/json")


def _bulk_ids(body: Any) -> list[str]:
    ids = body.get("bulk_object_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("bulk_object_ids must be a non-empty array of strings")
    if len(ids) > MAX_BULK:
        raise PayloadTooLarge(f"at most {MAX_BULK} ids per bulk request")
    return ids


def drs_blueprint(catalogue: GenomicCatalogue, info: ServiceInfo) -> Blueprint:
    """The DRS blueprint."""
    bp = Blueprint("drs", __name__, url_prefix=PREFIX)

    @bp.before_request
    def _authenticate() -> None:
        if (request.path.endswith("/service-info") or request.method == "OPTIONS"
                or request.endpoint in _BODY_AUTH):
            return
        g.principal = app_context().authenticator.authenticate(
            request.headers.get("Authorization")
        )

    def _passport_auth() -> PassportAuth | None:
        return app_context().find(PassportAuth)  # type: ignore[type-abstract]

    def _auth_info() -> AuthInfo:
        ctx = app_context()
        verifier = _passport_auth()
        if ctx.settings.authorization != "on":
            return AuthInfo(enabled=False)
        if verifier is None:
            return AuthInfo(enabled=True)
        return AuthInfo(True, verifier.passport_issuers(), verifier.bearer_issuers())

    def _body(limit: int) -> Any:
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        raw = request.stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("the request body is not JSON") from exc

    def _post_principal(*, allow_expand: bool) -> bool:
        """Authenticate a POST from its passports (or its bearer token); return expand."""
        verifier = _passport_auth()
        max_passports = verifier.max_passports if verifier else 0
        limit = MAX_BODY_BYTES + max_passports * (verifier.max_passport_bytes if verifier else 0)
        expand, passports = parse_post_body(_body(limit), max_passports=max(max_passports, 1),
                                            allow_expand=allow_expand)
        principal: Principal
        if passports:
            if verifier is None:
                raise Unauthenticated("passports are not accepted by this server")
            principal = verifier.principal(passports)
        else:
            principal = app_context().authenticator.authenticate(
                request.headers.get("Authorization"))
        g.principal = principal
        return expand

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return error_response(exc.status, exc.message)

    def _object(object_id: str) -> GenomicObject:
        obj = catalogue.get(object_id)
        if obj is None:
            raise NotFound(f"no DRS object with id {object_id!r}")
        authorize_read(app_context(), g.principal, obj)
        return obj

    def _doc(obj: GenomicObject, auth: AuthInfo | None = None) -> dict[str, Any]:
        base = _base()
        return drs_object(obj, host=urlsplit(base).netloc, base_url=base,
                          auth=auth or _auth_info())

    @bp.get("/objects/<object_id>", provide_automatic_options=False)
    def get_object(object_id: str) -> Response:
        if request.args.get("expand", "false") not in ("true", "false"):
            raise InvalidInput("expand must be true or false")
        return _json(_doc(_object(object_id)))

    @bp.post("/objects/<object_id>", provide_automatic_options=False)
    def post_object(object_id: str) -> Response:
        _post_principal(allow_expand=True)
        # expand only matters for bundles; every object here is a blob.
        return _json(_doc(_object(object_id)))

    @bp.route("/objects/<object_id>", methods=["OPTIONS"], provide_automatic_options=False)
    def object_authorizations(object_id: str) -> Response:
        return _json(_auth_info().authorizations(object_id))

    @bp.route("/objects/<object_id>/access/<access_id>", methods=["OPTIONS"],
              provide_automatic_options=False)
    def access_authorizations(object_id: str, access_id: str) -> Response:
        return _json(_auth_info().authorizations(object_id))

    @bp.route("/objects", methods=["OPTIONS"], provide_automatic_options=False)
    def bulk_authorizations() -> Response:
        ids = _bulk_ids(_body(MAX_BODY_BYTES))
        auth = _auth_info()
        return _json({
            "summary": {"requested": len(ids), "resolved": len(set(ids)), "unresolved": 0},
            "resolved_drs_object": [auth.authorizations(i) for i in dict.fromkeys(ids)],
            "unresolved_drs_objects": [],
        })

    @bp.post("/objects", provide_automatic_options=False)
    def bulk_objects() -> Response:
        ids = _bulk_ids(request.get_json(silent=True))
        ctx = app_context()
        auth = _auth_info()
        resolved, missing, forbidden = [], [], []
        for object_id in dict.fromkeys(ids):
            obj = catalogue.get(object_id)
            if obj is None:
                missing.append(object_id)
                continue
            try:
                readable = may_read(ctx, g.principal, obj)
            except NotFound:
                # Outside the caller's grants (passport enforcement): reported as missing.
                missing.append(object_id)
                continue
            if readable:
                resolved.append(_doc(obj, auth))
            else:
                forbidden.append(object_id)
        unresolved = [
            {"error_code": code, "object_ids": found}
            for code, found in ((404, missing), (403, forbidden)) if found
        ]
        return _json({
            "summary": {"requested": len(ids), "resolved": len(resolved),
                        "unresolved": len(missing) + len(forbidden)},
            "resolved_drs_object": resolved,
            "unresolved_drs_objects": unresolved,
        })

    @bp.get("/objects/<object_id>/access/<access_id>", provide_automatic_options=False)
    def access(object_id: str, access_id: str) -> Response:
        return _access_url(object_id, access_id)

    @bp.post("/objects/<object_id>/access/<access_id>", provide_automatic_options=False)
    def post_access(object_id: str, access_id: str) -> Response:
        _post_principal(allow_expand=False)
        return _access_url(object_id, access_id)

    def _access_url(object_id: str, access_id: str) -> Response:
        ctx = app_context()
        obj = _object(object_id)
        check_access_id(obj, access_id)
        url = data_url(_base(), ctx.keys.secret("htsget-url"), obj.storage_key, 0, obj.size,
                       ctx.settings.genomics.url_ttl_seconds)
        return _json({"url": url, "headers": {}})

    @bp.get("/service-info")
    def service_info() -> Response:
        doc = info.to_json()
        doc["maxBulkRequestLength"] = MAX_BULK
        doc["drs"] = {"maxBulkRequestLength": MAX_BULK}
        return _json(doc)

    return bp


def register(app: Flask, catalogue: GenomicCatalogue, info: ServiceInfo) -> None:
    """Register the DRS blueprint and its error renderer."""
    app.register_blueprint(drs_blueprint(catalogue, info))
    register_error_renderer(app, PREFIX, _render)
