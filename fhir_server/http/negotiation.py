"""Content negotiation for the FHIR REST API (FHIR R4 4.0.1 http.html#mime-type, #format,
#prefer): JSON only, ``_format`` overrides ``Accept``, ``Prefer: return=...``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from flask import Request, Response

from fhir_server.core.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
_JSON_FORMATS = {"json", "application/json", FHIR_JSON, "text/json"}
_XML_FORMATS = {"xml", "text/xml", "application/xml", "application/fhir+xml"}
_ACCEPTABLE = {FHIR_JSON, "application/json", "text/json", "application/*", "*/*", "json"}
_BODY_TYPES = {FHIR_JSON, "application/json", "text/json"}


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    mime, *params = [p.strip() for p in value.split(";")]
    parsed = {}
    for p in params:
        k, _, v = p.partition("=")
        parsed[k.strip().lower()] = v.strip().strip('"')
    return mime.lower(), parsed


def _check_fhir_version(params: dict[str, str], error: type[Exception]) -> None:
    version = params.get("fhirversion")
    if version is not None and version not in ("4.0", "4.0.1"):
        raise error(f"fhirVersion {version} is not supported: this server speaks FHIR 4.0.1")


def check_accept(request: Request) -> None:
    """406 unless the client accepts FHIR JSON (``_format`` wins over ``Accept``)."""
    fmt = request.args.get("_format")
    if fmt is not None:
        mime, params = _media_type(fmt)
        if mime in _XML_FORMATS:
            raise NotAcceptable("XML is not supported: use _format=json")
        if mime not in _JSON_FORMATS:
            raise NotAcceptable(f"_format {fmt!r} is not supported: use json")
        _check_fhir_version(params, NotAcceptable)
        return
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return
    ok = False
    for item in accept.split(","):
        mime, params = _media_type(item)
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if mime in _ACCEPTABLE:
            _check_fhir_version(params, NotAcceptable)
            ok = True
    if not ok:
        raise NotAcceptable(f"cannot produce {accept!r}: this server produces {FHIR_JSON}")


def read_json_body(request: Request, *, patch: bool = False) -> Any:
    """The parsed JSON body; 415 for other media types, 400 for malformed JSON."""
    ctype = request.headers.get("Content-Type")
    if ctype:
        mime, params = _media_type(ctype)
        allowed = {JSON_PATCH} if patch else _BODY_TYPES
        if mime not in allowed:
            want = JSON_PATCH if patch else FHIR_JSON
            raise UnsupportedMediaType(f"Content-Type {mime} is not supported: send {want}")
        _check_fhir_version(params, UnsupportedMediaType)
    elif patch:
        raise UnsupportedMediaType(f"PATCH needs Content-Type {JSON_PATCH}")
    data = request.get_data(cache=False)
    if not data.strip():
        raise InvalidRequest("the request has no body", code="structure")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON: {exc}", code="structure") from None


@dataclass(frozen=True)
class Prefer:
    """The Prefer header (RFC 7240) as FHIR uses it."""

    return_: str = "representation"  # minimal | representation | OperationOutcome
    handling: str = "strict"  # strict | lenient


def parse_prefer(request: Request, default_return: str = "representation") -> Prefer:
    """Read ``return`` and ``handling`` preferences; unknown values are ignored (RFC 7240)."""
    ret, handling = default_return, "strict"
    for header in request.headers.getlist("Prefer"):
        for token in header.split(","):
            key, _, value = token.strip().partition("=")
            value = value.strip().strip('"')
            if key.strip() == "return" and value in (
                "minimal",
                "representation",
                "OperationOutcome",
            ):
                ret = value
            elif key.strip() == "handling" and value in ("strict", "lenient"):
                handling = value
    return Prefer(ret, handling)


def pretty(request: Request) -> bool:
    """``_pretty=true`` asks for indented JSON."""
    return request.args.get("_pretty", "false").lower() == "true"


def json_response(
    body: Any, status: int = 200, *, indent: bool = False, raw: bytes | None = None
) -> Response:
    """A FHIR JSON response from a dict (or already serialised bytes)."""
    if raw is not None and not indent:
        data = raw
    else:
        obj = orjson.loads(raw) if raw is not None else body
        data = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    return Response(data, status=status, content_type=f"{FHIR_JSON}; charset=utf-8")
