"""htsget 1.3 HTTP API (hts-specs htsget.md v1.3.0) under ``/ga4gh/htsget/v1`` and the data
endpoint that serves the byte ranges of tickets through signed URLs.

Errors: section "Errors" (``{"htsget": {"error", "message"}}`` with the listed statuses).
CORS: section "CORS". Service info: section "GA4GH service-info".
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, Response, g, request

from common import errors
from common.errors import GenomseqError, InvalidInput
from common.http import register_error_renderer
from config.context import app_context
from ga4gh.catalogue.access import authorize_read
from ga4gh.catalogue.core.signing import Grant, sign, sign_payload, verify, verify_payload
from ga4gh.catalogue.ports import ObjectStore
from ga4gh.htsget.core.errors import (
    InvalidAuthentication,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    htsget_error_type,
)
from ga4gh.htsget.core.request import READS, VARIANTS, parse_get, parse_post
from ga4gh.htsget.core.tickets import ByteRange, Inline, Ticket
from ga4gh.htsget.service import BrokenObject, HtsgetService
from ga4gh.htsget.transcode import TranscodeSpec, transcoded_bam
from ga4gh.service_info.core import ServiceInfo

log = logging.getLogger("genomseq.htsget")

PREFIX = "/ga4gh/htsget/v1"
DATA_PREFIX = PREFIX + "/data"
TRANSCODE_PREFIX = PREFIX + "/transcode"
TICKET_MEDIA_TYPE = "application/vnd.ga4gh.htsget.v1.3.0+json; charset=utf-8"
# Header byte ranges up to this size are inlined as data: URIs (one request fewer).
INLINE_HEADER_MAX = 64 * 1024
_ERROR_BY_STATUS = {
    401: "InvalidAuthentication",
    403: "PermissionDenied",
    404: "NotFound",
    413: "PayloadTooLarge",
}


def error_response(status: int, error: str, message: str) -> Response:
    """An htsget error body with its status."""
    body = json.dumps({"htsget": {"error": error, "message": message}})
    resp = Response(body, status=status, mimetype="application/json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="htsget"'
    return resp


def _render_routing_error(status: int, _name: str, message: str) -> Response:
    error = _ERROR_BY_STATUS.get(status, "InvalidInput" if status < 500 else "InternalError")
    return error_response(status, error, message)


def _render_domain_error(exc: GenomseqError) -> Response:
    return error_response(exc.status, htsget_error_type(exc), exc.message)


def data_url(base: str, secret: bytes, key: str, start: int, end: int, ttl: int,
             *, expires: int | None = None) -> str:
    """A signed URL granting bytes [start, end) of a stored object for ttl seconds (or until
    ``expires``)."""
    grant = Grant(key, start, end, expires if expires is not None else int(time.time()) + ttl)
    query = urlencode(
        {"start": start, "end": end, "expires": grant.expires, "signature": sign(secret, grant)}
    )
    return f"{base}{DATA_PREFIX}/{quote(key, safe='/')}?{query}"


def _base_url() -> str:
    configured = app_context().settings.public_base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/")


def url_expiry(now: float, ttl: int) -> int:
    """When URLs minted now expire: ``now + ttl`` rounded down to a step of at most a minute
    (1/60 of the ttl), so tickets minted within one step are identical and their serialised
    body can be reused (a URL lives between ttl - step and ttl seconds)."""
    step = max(1, min(60, ttl // 60))
    return int(now + ttl) // step * step


class TicketBodies:
    """Serialised ticket bodies, reused while their URLs' expiry step lasts.

    Keyed by the memoised ticket's identity (a rebuilt layout makes new tickets), the
    storage key, base URL, expiry and URL size limit: a repeated query costs a dictionary
    lookup instead of signing every URL, reading and encoding the header and serialising
    the JSON again.
    """

    def __init__(self, size: int = 512) -> None:
        self._entries: OrderedDict[Hashable, tuple[Ticket, bytes]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, ticket: Ticket) -> bytes | None:
        """The body for this key if it was built from this very ticket."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[0] is not ticket:
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, ticket: Ticket, body: bytes) -> None:
        """Remember a body (LRU)."""
        with self._lock:
            self._entries[key] = (ticket, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def ticket_json(
    ticket: Ticket, store: ObjectStore, key: str, secret: bytes, ttl: int,
    max_url_bytes: int = 1 << 30, *, base: str | None = None, expires: int | None = None,
) -> dict:
    """The ticket as htsget 1.3 JSON (every URL with a class; long ranges split)."""
    base = base if base is not None else _base_url()
    expires = expires if expires is not None else url_expiry(time.time(), ttl)
    urls: list[dict[str, Any]] = []
    for part in ticket.parts:
        if isinstance(part, Inline):
            urls.append({"url": part.uri, "class": part.cls})
        elif isinstance(part, ByteRange):
            if part.cls == "header" and part.end - part.start <= INLINE_HEADER_MAX:
                data = store.read_range(key, part.start, part.end)
                urls.append({"url": _data_uri(data), "class": part.cls})
                continue
            # Byte ranges concatenate, so a long range may be cut anywhere.
            for start in range(part.start, part.end, max(1, max_url_bytes)):
                end = min(part.end, start + max_url_bytes)
                urls.append({
                    "url": data_url(base, secret, key, start, end, ttl, expires=expires),
                    "headers": {"Range": f"bytes={start}-{end - 1}"},
                    "class": part.cls,
                })
    return {"htsget": {"format": ticket.format, "urls": urls}}


def _data_uri(data: bytes) -> str:
    # Exactly the "data:;base64," form (htsget "Inline data block URIs"; htslib parses it).
    return "data:;base64," + base64.b64encode(data).decode()


def _cors(resp: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
        if request.method == "OPTIONS":
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                resp.headers["Access-Control-Allow-Headers"] = requested
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            resp.headers["Access-Control-Max-Age"] = str(30 * 24 * 3600)
    return resp


def htsget_blueprint(service: HtsgetService, info: ServiceInfo) -> Blueprint:
    """The ticket API: /reads/{id}, /variants/{id} (GET, POST) and service-info."""
    bp = Blueprint("htsget", __name__, url_prefix=PREFIX)
    bodies = TicketBodies()

    @bp.before_request
    def _authenticate() -> None:
        if request.method == "OPTIONS" or request.path.endswith("/service-info"):
            return
        ctx = app_context()
        try:
            g.principal = ctx.authenticator.authenticate(request.headers.get("Authorization"))
        except GenomseqError as exc:
            if exc.status == 401:
                raise InvalidAuthentication(exc.message) from exc
            raise

    bp.after_request(_cors)
    bp.register_error_handler(GenomseqError, _render_domain_error)

    @bp.errorhandler(BrokenObject)
    def _broken(exc: BrokenObject) -> Response:
        log.error("htsget: stored object unreadable")
        return error_response(500, "InternalError", "the stored object cannot be read")

    def _ticket(endpoint: str, object_id: str) -> Response:
        ctx = app_context()
        settings = ctx.settings.genomics
        if request.method == "POST":
            if request.args:
                raise InvalidInput("POST requests must not carry query parameters")
            query = parse_post(endpoint, _json_body(settings.htsget_max_request_bytes),
                               settings.htsget_max_regions)
        else:
            repeated = {k for k in request.args if len(request.args.getlist(k)) > 1}
            query = parse_get(endpoint, request.args.to_dict(), repeated)
        obj = service.find(endpoint, object_id)
        try:
            authorize_read(ctx, g.principal, obj)
        except errors.NotFound as exc:
            # Outside the caller's grants: answered like an unknown id (existence not leaked).
            raise NotFound(exc.message) from exc
        except GenomseqError as exc:
            raise PermissionDenied(exc.message) from exc
        secret = ctx.keys.secret("htsget-url")
        if service.needs_transcoding(obj, query):
            # fields/tags/notags asked for: one URL whose response is the filtered BAM.
            spec = TranscodeSpec.of(obj, query).encode()
            expires = int(time.time()) + settings.url_ttl_seconds
            q = urlencode({"spec": spec, "expires": expires,
                           "signature": sign_payload(secret, "transcode", spec, expires)})
            body: dict[str, Any] = {"htsget": {
                "format": query.format, "urls": [{"url": f"{_base_url()}{TRANSCODE_PREFIX}?{q}"}],
            }}
            raw = json.dumps(body).encode()
        else:
            ticket = service.ticket(obj, query)
            base = _base_url()
            expires = url_expiry(time.time(), settings.url_ttl_seconds)
            key = (obj.storage_key, query.format, query.header_only, query.regions, base,
                   expires, settings.htsget_url_max_bytes, secret)
            cached = bodies.get(key, ticket)
            if cached is None:
                cached = json.dumps(ticket_json(
                    ticket, service.store, obj.storage_key, secret, settings.url_ttl_seconds,
                    settings.htsget_url_max_bytes, base=base, expires=expires,
                )).encode()
                bodies.put(key, ticket, cached)
            raw = cached
        resp = Response(raw, mimetype="application/json")
        resp.headers["Content-Type"] = TICKET_MEDIA_TYPE
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @bp.route("/reads/<object_id>", methods=["GET", "POST"])
    def reads(object_id: str) -> Response:
        return _ticket(READS, object_id)

    @bp.route("/variants/<object_id>", methods=["GET", "POST"])
    def variants(object_id: str) -> Response:
        return _ticket(VARIANTS, object_id)

    def _info(datatype: str | None) -> Response:
        doc = info.to_json()
        block: dict[str, Any] = {}
        if datatype:
            block["datatype"] = datatype
        block["formats"] = (
            ["BAM", "CRAM"] if datatype == READS
            else ["VCF", "BCF"] if datatype == VARIANTS
            else ["BAM", "CRAM", "VCF", "BCF"]
        )
        # BAM is filtered by transcoding; CRAM and variants are served unfiltered (allowed:
        # "servers can respond with more information than requested").
        block["fieldsParameterEffective"] = datatype == READS
        block["tagsParametersEffective"] = datatype == READS
        doc["htsget"] = block
        return Response(json.dumps(doc), mimetype="application/json")

    @bp.get("/service-info")
    def service_info() -> Response:
        return _info(None)

    @bp.get("/reads/service-info")
    def reads_service_info() -> Response:
        return _info(READS)

    @bp.get("/variants/service-info")
    def variants_service_info() -> Response:
        return _info(VARIANTS)

    return bp


def _json_body(limit: int) -> Any:
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc


class _RangeNotSatisfiable(GenomseqError):
    status = 416

    def __init__(self, size: int) -> None:
        super().__init__("the requested range is not satisfiable")
        self.size = size


def _render_range(exc: _RangeNotSatisfiable) -> Response:
    resp = error_response(416, "InvalidRange", exc.message)
    resp.headers["Content-Range"] = f"bytes */{exc.size}"
    return resp


def data_blueprint(store: ObjectStore) -> Blueprint:
    """GET /ga4gh/htsget/v1/data/<key>: bytes of a stored object under a signed grant.

    The grant (start, end, expires, signature) is the credential: no bearer token and no
    database lookup. A Range request (absolute offsets in the object) must lie within the
    grant and gets 206; without Range the granted bytes are returned with 200.
    """
    bp = Blueprint("htsget_data", __name__, url_prefix=DATA_PREFIX)
    bp.after_request(_cors)
    bp.register_error_handler(GenomseqError, _render_domain_error)
    bp.register_error_handler(_RangeNotSatisfiable, _render_range)

    @bp.get("/<path:key>")
    def data(key: str) -> Response:
        ctx = app_context()
        args = request.args
        try:
            grant = Grant(key, int(args["start"]), int(args["end"]), int(args["expires"]))
            signature = args["signature"]
        except (KeyError, ValueError) as exc:
            raise PermissionDenied("the data URL is not signed") from exc
        try:
            verify(ctx.keys.secret("htsget-url"), grant, signature, time.time())
        except GenomseqError as exc:
            raise PermissionDenied(exc.message) from exc
        try:
            size = store.size(key)
        except (FileNotFoundError, InvalidInput) as exc:
            raise NotFound("the object no longer exists") from exc
        start, end = grant.start, min(grant.end, size)
        status = 200
        rng = _parse_range(request.headers.get("Range"), size)
        if rng is not None:
            if rng[0] < grant.start or rng[1] > grant.end:
                raise PermissionDenied("the requested range is outside the signed range")
            start, end = rng
            status = 206
        if end < start:
            end = start
        resp = _stream(store, key, start, end)
        resp.status_code = status
        resp.headers["Content-Length"] = str(end - start)
        resp.headers["Accept-Ranges"] = "bytes"
        resp.headers["Cache-Control"] = "private, max-age=0"
        if status == 206:
            resp.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        return resp

    return bp


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as [start, end), None if absent or multi-range (RFC 9110 14.2
    lets a server ignore Range); 416 if unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            start, end = max(0, size - n), size
        else:
            start = int(first)
            end = int(last) + 1 if last else size
    except ValueError:
        return None
    end = min(end, size)
    if start >= size or start >= end:
        raise _RangeNotSatisfiable(size)
    return start, end


def _stream(store: ObjectStore, key: str, start: int, end: int) -> Response:
    """A response streaming bytes [start, end): sendfile under gunicorn, else chunks."""
    path = store.local_path(key)
    wrapper = request.environ.get("wsgi.file_wrapper")
    server = request.environ.get("SERVER_SOFTWARE", "")
    if path is not None and wrapper is not None and server.startswith("gunicorn"):
        # gunicorn's sendfile sends Content-Length bytes from the file's current position.
        fh = open(path, "rb")  # noqa: SIM115 - closed by the WSGI server
        fh.seek(start)
        return Response(wrapper(fh, 1 << 20), mimetype="application/octet-stream",
                        direct_passthrough=True)
    return Response(_chunks(store, key, start, end), mimetype="application/octet-stream",
                    direct_passthrough=True)


def _chunks(store: ObjectStore, key: str, start: int, end: int) -> Iterator[bytes]:
    path = store.local_path(key)
    if path is None:
        yield from store.iter_range(key, start, end)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = start
        while pos < end:
            data = os.pread(fd, min(1 << 20, end - pos), pos)
            if not data:
                return
            pos += len(data)
            yield data
    finally:
        os.close(fd)


def transcode_blueprint(service: HtsgetService, store: ObjectStore) -> Blueprint:
    """GET /ga4gh/htsget/v1/transcode: the filtered BAM of a signed transcode spec."""
    bp = Blueprint("htsget_transcode", __name__, url_prefix=TRANSCODE_PREFIX)
    bp.after_request(_cors)
    bp.register_error_handler(GenomseqError, _render_domain_error)

    @bp.get("")
    def transcode() -> Response:
        args = request.args
        try:
            spec, expires, signature = args["spec"], int(args["expires"]), args["signature"]
        except (KeyError, ValueError) as exc:
            raise PermissionDenied("the transcode URL is not signed") from exc
        try:
            verify_payload(app_context().keys.secret("htsget-url"), "transcode", spec, expires,
                           signature, time.time())
        except GenomseqError as exc:
            raise PermissionDenied(exc.message) from exc
        size, chunks = transcoded_bam(service, store, TranscodeSpec.decode(spec))
        resp = Response(chunks, mimetype="application/octet-stream", direct_passthrough=True)
        resp.headers["Content-Length"] = str(size)
        resp.headers["Cache-Control"] = "private, max-age=0"
        return resp

    return bp


def register(app: Flask, service: HtsgetService, store: ObjectStore, info: ServiceInfo) -> None:
    """Register the blueprints and the htsget error renderer for routing errors."""
    app.register_blueprint(data_blueprint(store))
    app.register_blueprint(transcode_blueprint(service, store))
    app.register_blueprint(htsget_blueprint(service, info))
    register_error_renderer(app, PREFIX, _render_routing_error)
