"""Beacon v2 requests (framework ``requests/beaconRequestBody.json``, GET query parameters of
the default model's ``endpoints.json``; ``genomicVariations/requestParameters.json`` for the
variant parameters) turned into a validated :class:`BeaconQuery`.

Query types (requestParameters ``start`` description): sequence = one ``start`` with
``alternateBases`` (``referenceBases`` optional); range = one ``start`` and one ``end``
(``variantType`` or ``alternateBases`` may narrow it); bracket = two ``start`` and two ``end``
values; gene = ``geneId``. Coordinates are 0-based, ``end`` exclusive. Names are resolved
later by the service (they need the index); shapes are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from common.errors import InvalidInput
from ga4gh.beacon.core.model import (
    API_VERSION,
    AlphanumericFilter,
    BeaconQuery,
    Filter,
    Granularity,
    OntologyFilter,
    Pagination,
    VariantQuery,
)
from ga4gh.beacon.core.variant_types import query_classes

VARIANT_PARAMETERS = (
    "referenceName", "start", "end", "referenceBases", "alternateBases", "variantType",
    "assemblyId", "geneId", "variantMinLength", "variantMaxLength", "mateName",
    "aminoacidChange", "genomicAlleleShortForm",
)
_UNSUPPORTED = {
    "mateName": "fusion (mateName) queries are not supported",
    "aminoacidChange": "aminoacidChange queries need a variant annotation this beacon lacks",
    "genomicAlleleShortForm": "HGVS (genomicAlleleShortForm) queries are not supported",
}
_GET_CONTROL = ("requestedGranularity", "skip", "limit", "filters", "includeResultsetResponses",
                "testMode", "requestedSchema", "apiVersion")
_BASES = re.compile(r"^[ACGTUNRYSWKMBDHV.\-]*$")
_INCLUDE = ("ALL", "HIT", "MISS", "NONE")
# Each filter is a subquery: a cap keeps one request from becoming an expensive query.
MAX_FILTERS = 32


def _check_filter_count(n: int) -> None:
    if n > MAX_FILTERS:
        raise InvalidInput(f"at most {MAX_FILTERS} filters per request")


def _int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise InvalidInput(f"{name} must be an integer, got {value!r}")
    if number < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {number}")
    return number


def _coords(name: str, value: Any, minimum: int) -> tuple[int, ...]:
    items = value if isinstance(value, list) else (
        str(value).split(",") if isinstance(value, str) else [value])
    if not 1 <= len(items) <= 2:
        raise InvalidInput(f"{name} takes one or two positions")
    return tuple(_int(name, v, minimum) for v in items)


def _bases(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string of bases")
    bases = value.strip().upper()
    if not _BASES.match(bases):
        raise InvalidInput(f"{name} {value!r} is not a sequence of IUPAC bases")
    return bases


def parse_variant(params: Mapping[str, Any]) -> VariantQuery | None:
    """The genomic query in ``params`` (spec names), or None if it has none; 400 if malformed."""
    present = {k: v for k, v in params.items() if k in VARIANT_PARAMETERS and v not in (None, "")}
    if not present:
        return None
    for key, why in _UNSUPPORTED.items():
        if key in present:
            raise InvalidInput(why)
    # Empty: the service uses the assembly a RefSeq accession implies, else the default.
    assembly = str(present.get("assemblyId") or "").strip()
    ref = _bases("referenceBases", present["referenceBases"]) if "referenceBases" in present \
        else None
    alt = _bases("alternateBases", present["alternateBases"]) if "alternateBases" in present \
        else None
    classes: tuple[str, ...] | None = None
    vtype = None
    if "variantType" in present:
        vtype = str(present["variantType"]).strip()
        classes, _sv = query_classes(vtype)
    min_len = _int("variantMinLength", present["variantMinLength"]) \
        if "variantMinLength" in present else None
    max_len = _int("variantMaxLength", present["variantMaxLength"], 1) \
        if "variantMaxLength" in present else None
    if min_len is not None and max_len is not None and min_len > max_len:
        raise InvalidInput("variantMinLength must not exceed variantMaxLength")
    common = dict(assembly=assembly, reference_bases=ref, alternate_bases=alt,
                  variant_classes=classes, variant_type=vtype, min_length=min_len,
                  max_length=max_len)
    if "geneId" in present:
        if "referenceName" in present or "start" in present or "end" in present:
            raise InvalidInput("geneId cannot be combined with referenceName, start or end")
        gene = str(present["geneId"]).strip()
        if not gene:
            raise InvalidInput("geneId must not be empty")
        return VariantQuery(kind="gene", gene_id=gene, **common)  # type: ignore[arg-type]
    if "referenceName" not in present:
        raise InvalidInput("a variant query needs referenceName (or geneId)")
    chrom = str(present["referenceName"]).strip()
    if "start" not in present:
        raise InvalidInput("a variant query needs start (0-based)")
    start = _coords("start", present["start"], 0)
    end = _coords("end", present["end"], 1) if "end" in present else ()
    if len(start) == 1 and not end:
        if alt is None:
            raise InvalidInput("a sequence query (start without end) needs alternateBases")
        return VariantQuery(kind="sequence", chrom=chrom, start=start, **common)  # type: ignore[arg-type]
    if len(start) == 1 and len(end) == 1:
        if start[0] >= end[0]:
            raise InvalidInput(f"start ({start[0]}) must be less than end ({end[0]}): "
                               "coordinates are 0-based, end exclusive")
        return VariantQuery(kind="range", chrom=chrom, start=start, end=end, **common)  # type: ignore[arg-type]
    if len(start) == 2 and len(end) == 2:
        if start[0] > start[1] or end[0] > end[1]:
            raise InvalidInput("bracket query: start[0] <= start[1] and end[0] <= end[1] needed")
        if start[0] >= end[1]:
            raise InvalidInput("bracket query: start must be less than end")
        return VariantQuery(kind="bracket", chrom=chrom, start=start, end=end, **common)  # type: ignore[arg-type]
    raise InvalidInput("start and end must both have one value (range) or two (bracket)")


def _filter(item: Any) -> Filter:
    if isinstance(item, str):
        if not item.strip():
            raise InvalidInput("empty filter")
        return OntologyFilter(item.strip())
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise InvalidInput("a filter is a CURIE string or an object with an id")
    scope = item.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise InvalidInput("filter scope must be a string")
    if "operator" in item or "value" in item:
        op, value = item.get("operator", "="), item.get("value")
        if not isinstance(op, str) or value is None or isinstance(value, (dict, list)):
            raise InvalidInput(f"filter {item['id']!r}: an alphanumeric filter needs operator "
                               "and value")
        return AlphanumericFilter(item["id"], op, str(value), scope)
    similarity = item.get("similarity", "exact")
    if similarity != "exact":
        raise InvalidInput(f"filter {item['id']!r}: only similarity 'exact' is supported")
    include = item.get("includeDescendantTerms", True)
    if not isinstance(include, bool):
        raise InvalidInput("includeDescendantTerms must be a boolean")
    return OntologyFilter(item["id"], include, scope)


def _granularity(value: Any) -> Granularity:
    try:
        return Granularity.parse(str(value))
    except ValueError:
        raise InvalidInput(f"requestedGranularity must be boolean, count or record, "
                           f"got {value!r}") from None


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{name} must be true or false")


def _pagination(skip: Any, limit: Any, default_limit: int, max_limit: int) -> Pagination:
    s = _int("skip", skip) if skip is not None else 0
    lim = _int("limit", limit) if limit is not None else default_limit
    # limit 0 means "all results or the maximum the beacon allows" (Limit definition).
    if lim == 0 or lim > max_limit:
        lim = max_limit
    return Pagination(s, lim)


def _include(value: Any) -> str:
    v = str(value).upper()
    if v not in _INCLUDE:
        raise InvalidInput(f"includeResultsetResponses must be one of {', '.join(_INCLUDE)}")
    return v


def _echo(params: Mapping[str, Any]) -> dict[str, object]:
    # receivedRequestSummary.requestParameters is a dictionary of entity -> object
    # (framework requests/requestParameters.json), so the genomic parameters are echoed under
    # the default model's ``g_variant`` key.
    variant = {k: v for k, v in params.items() if k in VARIANT_PARAMETERS}
    return {"g_variant": variant} if variant else {}


def parse_get(
    entry_type: str,
    args: Mapping[str, Sequence[str]],
    *,
    default_limit: int,
    max_limit: int,
) -> BeaconQuery:
    """A GET request's query string (each name -> its values) as a BeaconQuery."""
    unknown = sorted(set(args) - set(VARIANT_PARAMETERS) - set(_GET_CONTROL))
    if unknown:
        raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}")
    for name, values in args.items():
        if len(values) > 1 and name != "filters":
            raise InvalidInput(f"query parameter {name} given more than once")
    one = {k: v[0] for k, v in args.items()}
    variant_params = {k: v for k, v in one.items() if k in VARIANT_PARAMETERS}
    raw_filters = tuple(f.strip() for v in args.get("filters", ()) for f in v.split(",")
                        if f.strip())
    _check_filter_count(len(raw_filters))
    filters = tuple(_filter(f) for f in raw_filters)
    return BeaconQuery(
        entry_type=entry_type,
        requested_granularity=_granularity(one["requestedGranularity"])
        if "requestedGranularity" in one else Granularity.BOOLEAN,
        variant=parse_variant(variant_params),
        filters=filters,
        raw_filters=raw_filters,
        pagination=_pagination(one.get("skip"), one.get("limit"), default_limit, max_limit),
        include_resultset_responses=_include(one.get("includeResultsetResponses", "HIT")),
        test_mode=_bool("testMode", one["testMode"]) if "testMode" in one else False,
        request_parameters=_echo(variant_params),
        requested_schemas=({"entityType": entry_type, "schema": one["requestedSchema"]},)
        if "requestedSchema" in one else (),
        api_version=one.get("apiVersion", API_VERSION),
    )


def parse_post(
    entry_type: str,
    body: Any,
    *,
    default_limit: int,
    max_limit: int,
) -> BeaconQuery:
    """A POST request body (beaconRequestBody) as a BeaconQuery."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object (beaconRequestBody)")
    meta = body.get("meta", {})
    query = body.get("query", {})
    if not isinstance(meta, Mapping) or not isinstance(query, Mapping):
        raise InvalidInput("meta and query must be JSON objects")
    api_version = meta.get("apiVersion", API_VERSION)
    if not isinstance(api_version, str):
        raise InvalidInput("meta.apiVersion must be a string")
    schemas = meta.get("requestedSchemas", [])
    if not isinstance(schemas, list) or not all(isinstance(s, Mapping) for s in schemas):
        raise InvalidInput("meta.requestedSchemas must be a list of objects")
    params = query.get("requestParameters", {})
    if not isinstance(params, Mapping):
        raise InvalidInput("query.requestParameters must be an object")
    # Parameters may be flat (as most clients send them) or grouped under the model's entity
    # key (``{"g_variant": {...}}``, framework requests/requestParameters.json).
    if isinstance(params.get("g_variant"), Mapping):
        params = {**{k: v for k, v in params.items() if k != "g_variant"}, **params["g_variant"]}
    dataset_ids: tuple[str, ...] = ()
    if "datasets" in params:
        ids = params["datasets"].get("datasetIds") if isinstance(params["datasets"], Mapping) \
            else None
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise InvalidInput("requestParameters.datasets.datasetIds must be a list of ids")
        dataset_ids = tuple(ids)
        params = {k: v for k, v in params.items() if k != "datasets"}
    unknown = sorted(k for k in params if k not in VARIANT_PARAMETERS and k != "$schema")
    if unknown:
        raise InvalidInput(f"unknown requestParameters: {', '.join(unknown)}")
    raw = query.get("filters", [])
    if not isinstance(raw, list):
        raise InvalidInput("query.filters must be a list")
    _check_filter_count(len(raw))
    filters = tuple(_filter(f) for f in raw)
    pag = query.get("pagination", {})
    if not isinstance(pag, Mapping):
        raise InvalidInput("query.pagination must be an object")
    return BeaconQuery(
        entry_type=entry_type,
        requested_granularity=_granularity(query["requestedGranularity"])
        if "requestedGranularity" in query else Granularity.BOOLEAN,
        variant=parse_variant(params),
        filters=filters,
        raw_filters=tuple(f.id for f in filters),
        pagination=_pagination(pag.get("skip"), pag.get("limit"), default_limit, max_limit),
        include_resultset_responses=_include(query.get("includeResultsetResponses", "HIT")),
        test_mode=_bool("testMode", query["testMode"]) if "testMode" in query else False,
        request_parameters={**_echo(params), **(
            {"datasets": {"datasetIds": list(dataset_ids)}} if dataset_ids else {})},
        dataset_ids=dataset_ids,
        requested_schemas=tuple({k: str(v) for k, v in s.items()} for s in schemas),
        api_version=api_version,
    )
