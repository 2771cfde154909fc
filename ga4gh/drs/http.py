"""GA4GH DRS 1.4 HTTP API under ``/ga4gh/drs/v1``: ``GET /objects/{id}``, bulk
``POST /objects``, ``GET /objects/{id}/access/{access_id}`` and ``/service-info``.
Errors use the DRS ``Error`` schema ``{"msg", "status_code"}``."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, request

from common.errors import GenomseqError, InvalidInput, NotFound, PayloadTooLarge
from common.http import register_error_renderer
from config.context import app_context
from ga4gh.catalogue.access import authorize_read, may_read
from ga4gh.catalogue.core.model import GenomicObject
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.drs.core import check_access_id, drs_object
from ga4gh.htsget.http import data_url
from ga4gh.service_info.core import ServiceInfo

log = logging.getLogger("genomseq.drs")
PREFIX = "/ga4gh/drs/v1"
MAX_BULK = 1000


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


def drs_blueprint(catalogue: GenomicCatalogue, info: ServiceInfo) -> Blueprint:
    """The DRS blueprint."""
    bp = Blueprint("drs", __name__, url_prefix=PREFIX)

    @bp.before_request
    def _authenticate() -> None:
        if request.path.endswith("/service-info"):
            return
        g.principal = app_context().authenticator.authenticate(
            request.headers.get("Authorization")
        )

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return error_response(exc.status, exc.message)

    def _object(object_id: str) -> GenomicObject:
        obj = catalogue.get(object_id)
        if obj is None:
            raise NotFound(f"no DRS object with id {object_id!r}")
        authorize_read(app_context(), g.principal, obj)
        return obj

    def _doc(obj: GenomicObject) -> dict[str, Any]:
        base = _base()
        return drs_object(obj, host=urlsplit(base).netloc, base_url=base)

    @bp.get("/objects/<object_id>")
    def get_object(object_id: str) -> Response:
        if request.args.get("expand", "false") not in ("true", "false"):
            raise InvalidInput("expand must be true or false")
        return _json(_doc(_object(object_id)))

    @bp.post("/objects")
    def bulk_objects() -> Response:
        body = request.get_json(silent=True)
        ids = body.get("bulk_object_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidInput("bulk_object_ids must be a non-empty array of strings")
        if len(ids) > MAX_BULK:
            raise PayloadTooLarge(f"at most {MAX_BULK} ids per bulk request")
        ctx = app_context()
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
                resolved.append(_doc(obj))
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

    @bp.get("/objects/<object_id>/access/<access_id>")
    def access(object_id: str, access_id: str) -> Response:
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
