"""Beacon v2 REST API (framework v2.0.0 ``endpoints.json`` and the default model's
``endpoints.json``): thin handlers that parse the request, call the core and serialise.

Every data endpoint answers GET (query parameters) and POST (beaconRequestBody). Callers
without an Authorization header are anonymous (public tier); a header that does not
authenticate is a 401 in the Beacon error format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from common.auth import Principal
from common.errors import GenomseqError, InvalidInput, NotFound, Unauthenticated
from config.context import app_context
from ga4gh.beacon.core.access import ANONYMOUS, Caller, caller_from
from ga4gh.beacon.core.entries import BY_PATH
from ga4gh.beacon.core.model import BeaconQuery
from ga4gh.beacon.core.request import parse_get, parse_post
from ga4gh.beacon.core.service import BeaconService
from ga4gh.beacon.http.project_ids import ids_out, individual_in, project_cipher

PREFIX = "/ga4gh/beacon/v2"
_ENTRIES = ",".join(BY_PATH)


def _caller(principal: Principal | None) -> Caller:
    if principal is None:
        return ANONYMOUS
    # A passport clearinghouse principal carries its verified visas (objects with type and
    # value); claims of the token itself are never read as visas.
    visas = [(v.type, v.value) for v in getattr(principal, "visas", ())
             if isinstance(getattr(v, "type", None), str)
             and isinstance(getattr(v, "value", None), str)]
    return caller_from(principal.subject, principal.scopes, visas,
                       unrestricted=principal.unrestricted)


def beacon_blueprint(service: BeaconService, service_info: dict[str, Any],
                     page_size: tuple[int, int], public_base_url: str = "") -> Blueprint:
    """The blueprint bound to one BeaconService."""
    bp = Blueprint("beacon", __name__, url_prefix=PREFIX)
    default_limit, max_limit = page_size

    def reply(doc: dict[str, Any], status: int = 200) -> Response:
        resp = jsonify(doc)
        resp.status_code = status
        return resp

    @bp.before_request
    def authenticate() -> None:
        header = request.headers.get("Authorization")
        try:
            principal = app_context().authenticator.authenticate(header)
        except Unauthenticated:
            if header:
                raise
            principal = None
        g.beacon_caller = _caller(principal)
        g.beacon_ids = project_cipher(principal)

    def answer(doc: dict[str, Any], results_entry: str) -> Response:
        cipher = g.get("beacon_ids")
        if cipher is not None:
            ids_out(cipher, doc, results_entry == "individuals")
        return reply(doc)

    def stored_id(entry: str, entry_id: str) -> str:
        cipher = g.get("beacon_ids")
        return individual_in(cipher, entry_id) if cipher is not None and \
            entry == "individuals" else entry_id

    @bp.errorhandler(GenomseqError)
    def domain_error(exc: GenomseqError) -> Response:
        resp = reply(service.error(exc.status, exc.message, g.get("beacon_query")), exc.status)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="beacon"'
        return resp

    def parse(entry: str) -> BeaconQuery:
        if request.method == "POST":
            body = request.get_json(silent=True)
            if body is None and request.get_data():
                raise InvalidInput("the request body is not valid JSON")
            q = parse_post(entry, body, default_limit=default_limit, max_limit=max_limit)
        else:
            q = parse_get(entry, request.args.to_dict(flat=False), default_limit=default_limit,
                          max_limit=max_limit)
        g.beacon_query = q
        return q

    @bp.get("", strict_slashes=False)
    @bp.get("/info")
    def info() -> Response:
        return reply(service.info())

    @bp.get("/service-info")
    def service_info_() -> Response:
        return reply(service_info)

    @bp.get("/configuration")
    def configuration() -> Response:
        return reply(service.configuration())

    @bp.get("/entry_types")
    def entry_types() -> Response:
        return reply(service.entry_types())

    @bp.get("/map")
    def beacon_map() -> Response:
        base = (public_base_url.rstrip("/") or request.host_url.rstrip("/")) + PREFIX
        return reply(service.beacon_map(base))

    @bp.route("/filtering_terms", methods=["GET", "POST"])
    def filtering_terms() -> Response:
        return reply(service.filtering_terms(g.beacon_caller))

    @bp.route(f"/<any({_ENTRIES}):entry>", methods=["GET", "POST"])
    def entries(entry: str) -> Response:
        return answer(service.query(entry, parse(entry), g.beacon_caller), entry)

    @bp.route(f"/<any({_ENTRIES}):entry>/<path:entry_id>", methods=["GET", "POST"])
    def by_id(entry: str, entry_id: str) -> Response:
        # Variant ids contain no "/"; a trailing /<entry type> is a cross-entry route.
        head, _, tail = entry_id.rpartition("/")
        if head and tail in BY_PATH:
            if tail not in BY_PATH[entry].related:
                raise NotFound(f"no route /{entry}/{{id}}/{tail}")
            return answer(service.query(tail, parse(tail), g.beacon_caller,
                                        (entry, stored_id(entry, head))), tail)
        if "/" in entry_id:
            raise NotFound(f"no route /{entry}/{entry_id}")
        if entry_id == "filtering_terms":
            # Every indexed term is about individuals and usable from every entry type.
            return reply(service.filtering_terms(g.beacon_caller))
        return answer(service.query(entry, parse(entry), g.beacon_caller,
                                    (entry, stored_id(entry, entry_id))), entry)

    return bp


def error_renderer(service: BeaconService) -> Callable[[int, str, str], Response]:
    """Routing 404/405 and uncaught errors under the Beacon prefix as Beacon error objects."""

    def render(status: int, _code: str, message: str) -> Response:
        resp = jsonify(service.error(status, message))
        resp.status_code = status
        return resp

    return render
