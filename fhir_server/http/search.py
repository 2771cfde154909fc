"""HTTP room of FHIR search: type, system and compartment search, Patient/$everything.

FHIR R4 4.0.1 http.html#search (GET and POST ``_search``, 3.1.0.8), search.html 3.1.1.2
(searchset Bundles) and 3.1.1.4 / 3.2 (compartment search), patient-operation-everything.html
(``start``, ``end``, ``_since``, ``_type``, ``_count``), capabilitystatement.html
(``rest.resource.searchParam``). Handlers parse the request, call the searcher, serialise.

A caller the access policy restricts (:func:`fhir_server.http.api.read_filter`) searches with
its :class:`~fhir_server.core.access.ReadFilter`: matches, includes and totals hold only what
it may see, and one decision per request is recorded when the Bundle is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from flask import Blueprint, Response, request

from fhir_server.core.access import ReadFilter
from fhir_server.core.dates import parse_instant
from fhir_server.core.errors import InvalidRequest, ResourceGone, ResourceNotFound
from fhir_server.core.model import instant, now_us
from fhir_server.core.search.bundle import BundleEntry, ignored_outcome, searchset, shape
from fhir_server.core.search.params import QueryParser, SearchQuery
from fhir_server.core.search.registry import Registry
from fhir_server.core.types import R4_RESOURCE_TYPES, supported_types
from fhir_server.http.api import (
    FhirApi,
    _check_type,
    authorize,
    authorize_instance,
    read_filter,
    system_restriction,
)
from fhir_server.http.negotiation import json_response, parse_prefer, pretty
from fhir_server.storage.search_sql import Everything, SearchPage, SqlSearcher

_EVERYTHING_PARAMS = ("start", "end", "_since", "_type", "_count", "_cursor", "_format",
                      "_pretty")


def install(api: FhirApi, searcher: SqlSearcher) -> None:
    """Plug search into the FHIR API: routes, CapabilityStatement params, batch GET entries."""
    api.search_params = lambda: capability_params(searcher.registry)
    api.search_reader = lambda url: _search_url(api, searcher, url)
    api.extensions.append(lambda bp, a: _routes(bp, a, searcher))


def capability_params(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """``rest.resource.searchParam`` per resource type: every parameter the server applies."""
    out: dict[str, list[dict[str, Any]]] = {}
    for res_type in registry.resource_types:
        items = []
        for code, sp in sorted(registry.params(res_type).items()):
            if sp.type == "special" or (not sp.expression and code not in ("_text", "_content")):
                continue
            items.append({"name": code, "definition": sp.url, "type": sp.type})
        if not any(i["name"] == "_lastUpdated" for i in items):
            items.append({"name": "_lastUpdated", "type": "date"})
        out[res_type] = items
    return out


def _params() -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        ctype = (request.content_type or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            raise InvalidRequest("POST _search needs an application/x-www-form-urlencoded body")
        pairs.extend(request.form.items(multi=True))
    return pairs


def _parse(api: FhirApi, searcher: SqlSearcher, res_types: tuple[str, ...],
           params: list[tuple[str, str]], lenient: bool) -> SearchQuery:
    searcher.refresh()
    parser = QueryParser(searcher.registry, bases=(api.base_url(),))
    query = parser.parse(res_types, params, lenient=lenient)
    if not any(k == "_count" for k, _ in params):
        query.count = api.default_page_size
    query.count = min(query.count, api.max_page_size)
    return query


def _bundle(api: FhirApi, searcher: SqlSearcher, path: str, query: SearchQuery,
            page: SearchPage, restriction: ReadFilter | None = None) -> dict[str, Any]:
    entries = []
    for mode, items in (("match", page.matches), ("include", page.includes)):
        for stored in items:
            resource = orjson.loads(stored.content)
            entries.append(BundleEntry(shape(resource, searcher.registry, query.summary,
                                             query.elements), mode))
    if restriction is not None:
        restriction.finish(len(page.matches) + len(page.includes))
    if query.ignored:
        entries.append(BundleEntry(ignored_outcome(query.ignored), "outcome"))
    return searchset(api.base_url(), path, entries, applied=query.applied,
                     total=page.total, next_cursor=page.next_cursor,
                     prev_cursor=page.prev_cursor, timestamp=instant(now_us()))


def _search_url(api: FhirApi, searcher: SqlSearcher, url: str) -> dict[str, Any]:
    """A search given as a relative URL (GET entries of batches and transactions)."""
    path, _, qs = url.partition("?")
    parts = [p for p in path.split("/") if p]
    params = parse_qsl(qs, keep_blank_values=True)
    if not parts:
        restriction = system_restriction("s", "system-level search")
        types = _system_types(params)
        query = _parse(api, searcher, types, params, lenient=False)
        return _bundle(api, searcher, "", query, searcher.search(query, restriction=restriction),
                       restriction)
    _check_type(parts[0])
    authorize(parts[0], "s", instance=True)
    restriction = read_filter(parts[0], "s")
    query = _parse(api, searcher, (parts[0],), params, lenient=False)
    return _bundle(api, searcher, f"/{parts[0]}", query,
                   searcher.search(query, restriction=restriction), restriction)


def _system_types(params: list[tuple[str, str]]) -> tuple[str, ...]:
    requested = [t for k, v in params if k == "_type" for t in v.split(",") if t]
    supported = supported_types()
    for t in requested:
        if t not in R4_RESOURCE_TYPES or t not in supported:
            raise InvalidRequest(f"unknown resource type {t!r} in _type")
    return tuple(sorted(set(requested))) if requested else tuple(sorted(supported))


def _respond(doc: dict[str, Any]) -> Response:
    return json_response(doc, indent=pretty(request))


def _routes(bp: Blueprint, api: FhirApi, searcher: SqlSearcher) -> None:
    def lenient() -> bool:
        return parse_prefer(request).handling == "lenient"

    def type_search(res_type: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "s", instance=True)
        restriction = read_filter(res_type, "s")
        query = _parse(api, searcher, (res_type,), _params(), lenient())
        page = searcher.search(query, restriction=restriction)
        return _respond(_bundle(api, searcher, f"/{res_type}", query, page, restriction))

    def system_search() -> Response:
        restriction = system_restriction("s", "system-level search")
        params = _params()
        types = _system_types(params)
        query = _parse(api, searcher, types, params, lenient())
        query.applied = [("_type", ",".join(types))] + query.applied \
            if any(k == "_type" for k, _ in params) else query.applied
        page = searcher.search(query, restriction=restriction)
        return _respond(_bundle(api, searcher, "", query, page, restriction))

    def compartment_search(comp_type: str, comp_id: str, res_type: str) -> Response:
        _check_type(comp_type)
        _check_type(res_type)
        # Scopes here; the access policy narrows the search below (grants, consent).
        authorize(res_type, "s", instance=True)
        if comp_type != "Patient":
            raise InvalidRequest(f"compartment {comp_type} is not supported (only Patient)")
        if res_type not in searcher.registry.patient_compartment:
            raise InvalidRequest(f"{res_type} is not in the Patient compartment")
        restriction = read_filter(res_type, "s")
        query = _parse(api, searcher, (res_type,), _params(), lenient())
        page = searcher.search(query, compartment=(comp_type, comp_id), restriction=restriction)
        return _respond(_bundle(api, searcher, f"/{comp_type}/{comp_id}/{res_type}", query,
                                page, restriction))

    def everything(patient_id: str) -> Response:
        authorize("Patient", "r", instance=True)
        restriction = read_filter("Patient", "r")
        if restriction is None:
            api.service.read("Patient", patient_id)  # 404/410: unknown or deleted patient
        else:
            # A patient outside the caller's grants answers exactly as an unknown one.
            try:
                version = api.service.read("Patient", patient_id)
            except ResourceGone:
                authorize_instance(api, "Patient", patient_id, "r")
                raise
            if not restriction.admit([version.resource()])[0]:
                restriction.finish(0)
                raise ResourceNotFound(f"Patient/{patient_id} is not known")
        params = _params()
        unknown = [k for k, _ in params if k not in _EVERYTHING_PARAMS]
        if unknown and not lenient():
            raise InvalidRequest(f"unknown $everything parameter(s): {', '.join(unknown)}")
        args = dict(params)
        types = tuple(sorted(({"Patient"} | set(searcher.registry.patient_compartment))
                             & set(supported_types())))
        if "_type" in args:
            wanted = set(args["_type"].split(","))
            bad = wanted - set(types)
            if bad:
                raise InvalidRequest(f"_type names types outside the Patient compartment: "
                                     f"{', '.join(sorted(bad))}")
            types = tuple(sorted(wanted))
        for t in types if restriction is None else ():
            authorize(t, "r")  # restricted callers: types their scopes exclude are filtered
        ev = Everything(
            patient_id,
            start=_window(args.get("start"), "start", low=True),
            end=_window(args.get("end"), "end", low=False),
            since=parse_instant(args["_since"], "_since") if "_since" in args else None,
        )
        query = SearchQuery(res_types=types)
        query.count = api.page_size(args.get("_count"))
        query.cursor = args.get("_cursor")
        query.applied = [(k, v) for k, v in params if k in ("start", "end", "_since", "_type",
                                                          "_count")]
        page = searcher.search(query, everything=ev, restriction=restriction)
        return _respond(_bundle(api, searcher, f"/Patient/{patient_id}/$everything", query,
                                page, restriction))

    add: Callable[..., Any] = bp.add_url_rule
    add("/<res_type>", "search_type", type_search, methods=["GET"])
    add("/<res_type>/_search", "search_type_post", type_search, methods=["POST"])
    add("", "search_system", system_search, methods=["GET"])
    add("/", "search_system_slash", system_search, methods=["GET"])
    add("/_search", "search_system_post", system_search, methods=["POST"])
    add("/Patient/<patient_id>/$everything", "everything", everything, methods=["GET", "POST"])
    add("/<comp_type>/<comp_id>/<res_type>", "search_compartment", compartment_search,
        methods=["GET"])


def _window(value: str | None, name: str, *, low: bool) -> int | None:
    """A start/end date of $everything as microseconds (start: its low end, end: its high)."""
    if value is None:
        return None
    from common.errors import InvalidInput
    from fhir_server.core.search.values import date_range
    try:
        lo, hi = date_range(value)
    except InvalidInput as exc:
        raise InvalidRequest(f"invalid {name} {value!r}") from exc
    return lo if low else hi
