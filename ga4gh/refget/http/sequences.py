"""Refget Sequences 2.0.0 HTTP API under ``/ga4gh/refget``: ``GET /sequence/{id}``,
``GET /sequence/{id}/metadata`` and ``GET /sequence/service-info``.

Clients that ask for the refget 1.0.0 media types (the GA4GH compliance suite does) get the
1.0.0 representation of metadata and service-info and the 1.0.0 Content-Type; everything else
is 2.0.0.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from common.errors import GenomseqError, NotAcceptable
from ga4gh.refget.core.sequences import SequenceService
from ga4gh.refget.http.access import authorize
from ga4gh.refget.http.errors import REFGET_ERROR_TYPE, domain_error
from ga4gh.refget.http.negotiation import Offer, negotiate
from ga4gh.service_info.core import ServiceInfo

PREFIX = "/ga4gh/refget"

PLAIN_V2 = Offer(
    "text/vnd.ga4gh.refget.v2.0.0+plain; charset=us-ascii",
    frozenset({"text/vnd.ga4gh.refget.v2.0.0+plain", "text/plain"}),
)
PLAIN_V1 = Offer(
    "text/vnd.ga4gh.refget.v1.0.0+plain; charset=us-ascii",
    frozenset({"text/vnd.ga4gh.refget.v1.0.0+plain", "text/vnd.ga4gh.refget.v1.0.1+plain"}),
)
JSON_V2 = Offer(
    "application/vnd.ga4gh.refget.v2.0.0+json; charset=us-ascii",
    frozenset({"application/vnd.ga4gh.refget.v2.0.0+json", "application/json"}),
)
JSON_V1 = Offer(
    "application/vnd.ga4gh.refget.v1.0.0+json; charset=us-ascii",
    frozenset(
        {"application/vnd.ga4gh.refget.v1.0.0+json", "application/vnd.ga4gh.refget.v1.0.1+json"}
    ),
)
PLAIN_OFFERS = [PLAIN_V2, PLAIN_V1]
JSON_OFFERS = [JSON_V2, JSON_V1]


def _choose(offers: list[Offer]) -> Offer:
    offer = negotiate(request.headers.get("Accept"), offers)
    if offer is None:
        supported = ", ".join(o.media_type for o in offers)
        raise NotAcceptable(f"this endpoint can answer with {supported}")
    return offer


def _json(doc: dict[str, Any], offer: Offer) -> Response:
    # us-ascii charset: non-ASCII characters are escaped by json.dumps.
    return Response(json.dumps(doc), status=200, content_type=offer.content_type)


def refget_blueprint(service: SequenceService, info: ServiceInfo, *, public: bool) -> Blueprint:
    """The refget blueprint over a SequenceService."""
    bp = Blueprint("refget", __name__, url_prefix=PREFIX)

    @bp.before_request
    def _authenticate() -> None:
        authorize(public)

    @bp.after_request
    def _cors(resp: Response) -> Response:
        # refget 2.0.0 "CORS": public APIs should allow requests from any origin.
        if public:
            resp.headers["Access-Control-Allow-Origin"] = "*"
            resp.headers["Access-Control-Expose-Headers"] = "Content-Range, Content-Length"
        return resp

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return domain_error(
            exc, REFGET_ERROR_TYPE, range_request=request.headers.get("Range") is not None
        )

    @bp.get("/sequence/service-info")
    def service_info() -> Response:
        offer = _choose(JSON_OFFERS)
        if offer is JSON_V1:
            return _json(service.service_v1(), offer)
        doc = info.to_json()
        doc["refget"] = service.refget_block()
        return _json(doc, offer)

    @bp.get("/sequence/<identifier>/metadata")
    def metadata(identifier: str) -> Response:
        offer = _choose(JSON_OFFERS)
        record = service.resolve(identifier)
        return _json(service.metadata(record, v1=offer is JSON_V1), offer)

    @bp.get("/sequence/<identifier>")
    def sequence(identifier: str) -> Response:
        offer = _choose(PLAIN_OFFERS)
        record = service.resolve(identifier)
        plan = service.plan(
            record,
            request.args.get("start"),
            request.args.get("end"),
            request.headers.get("Range"),
        )
        headers = {
            "Content-Type": offer.content_type,
            "Content-Length": str(plan.size),
            "Accept-Ranges": "none" if plan.by_query else "bytes",
        }
        if plan.content_range:
            headers["Content-Range"] = plan.content_range
        small = service.read_small(record, plan)
        if small is not None:
            return Response(small, status=plan.status, headers=headers)
        return Response(
            service.stream(record, plan),
            status=plan.status,
            headers=headers,
            direct_passthrough=True,
        )

    return bp
