"""GA4GH Refget Sequence Collections 1.0.0 HTTP API under ``/ga4gh/seqcol`` (section 3):
``/service-info``, ``/collection/{digest}``, ``/comparison/{a}/{b}``, ``POST /comparison/{a}``,
``/list/collection``, ``/attribute/collection/{attribute}/{digest}`` and ``/openapi.json``
(section 3.6). ``/list/attributes/{attribute}`` (the level 1 digests stored for an attribute)
is the listing the refget package's compliance runner also checks.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from common.errors import GenomseqError, InvalidInput, NotFound, UnsupportedMediaType
from ga4gh.refget.core.seqcol import SCHEMA
from ga4gh.refget.core.seqcol_api import DEFAULT_PAGE_SIZE, CollectionService
from ga4gh.refget.http.access import authorize
from ga4gh.refget.http.errors import SEQCOL_ERROR_TYPE, domain_error
from ga4gh.refget.http.openapi import seqcol_openapi
from ga4gh.service_info.core import ServiceInfo

PREFIX = "/ga4gh/seqcol"
JSON = "application/json"
# Query parameters of /list that are not attribute filters.
_PAGING = ("page", "page_size")


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc), status=200, content_type=JSON)


def _raw(text: str) -> Response:
    return Response(text, status=200, content_type=JSON)


def _int_param(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None


def seqcol_blueprint(service: CollectionService, info: ServiceInfo, *, public: bool) -> Blueprint:
    """The seqcol blueprint over a CollectionService."""
    bp = Blueprint("seqcol", __name__, url_prefix=PREFIX)
    service_info_doc = {**info.to_json(), "seqcol": {"schema": SCHEMA}}

    @bp.before_request
    def _authenticate() -> None:
        authorize(public)

    @bp.after_request
    def _cors(resp: Response) -> Response:
        if public:
            resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return domain_error(exc, SEQCOL_ERROR_TYPE, range_request=False)

    @bp.get("/service-info")
    def service_info() -> Response:
        return _json(service_info_doc)

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return _json(seqcol_openapi(request.script_root + PREFIX))

    @bp.get("/collection/<digest>")
    def collection(digest: str) -> Response:
        level = request.args.get("level", "2")
        if level == "1":
            return _json(service.level1(digest))
        if level == "2":
            return _raw(service.level2_json(digest))
        raise InvalidInput("level must be 1 or 2")

    @bp.get("/comparison/<a>/<b>")
    def comparison(a: str, b: str) -> Response:
        return _json(service.comparison(a, b))

    @bp.post("/comparison/<a>")
    def comparison_post(a: str) -> Response:
        if not request.is_json:
            raise UnsupportedMediaType("send the level 2 collection as application/json")
        body = request.get_json(silent=True)
        if body is None:
            raise InvalidInput("the request body is not valid JSON")
        return _json(service.comparison_with(a, body))

    @bp.get("/list/collection")
    def list_collections() -> Response:
        filters = {k: v for k, v in request.args.items() if k not in _PAGING}
        for key in filters:
            if len(request.args.getlist(key)) > 1:
                raise InvalidInput(f"filter {key} is given more than once")
        page = _int_param("page", 0)
        page_size = _int_param("page_size", DEFAULT_PAGE_SIZE)
        return _json(service.list_collections(filters, page, page_size))

    @bp.get("/list/attributes/<attribute>")
    def list_attributes(attribute: str) -> Response:
        page = _int_param("page", 0)
        page_size = _int_param("page_size", DEFAULT_PAGE_SIZE)
        return _json(service.list_attributes(attribute, page, page_size))

    @bp.get("/list/<object_type>")
    def list_other(object_type: str) -> Response:
        raise NotFound(f"unknown object type {object_type}: this server lists 'collection'")

    @bp.get("/attribute/collection/<attribute>/<digest>")
    def attribute(attribute: str, digest: str) -> Response:
        return _raw(service.attribute_json(attribute, digest))

    @bp.get("/attribute/<object_type>/<attribute>/<digest>")
    def attribute_other(object_type: str, attribute: str, digest: str) -> Response:
        raise NotFound(f"unknown object type {object_type}: attributes exist for 'collection'")

    return bp
