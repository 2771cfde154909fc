"""Flask blueprint of the FHIR R4 4.0.1 RESTful API (http.html): thin handlers that parse the
request, call the core and serialise. Base: settings.fhir.base_path (``/fhir``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from common.errors import GenomseqError, NotFound
from config.context import app_context
from fhir_server.core import smart
from fhir_server.core.access import FhirAccessPolicy, ReadFilter
from fhir_server.core.bundle import BundleProcessor
from fhir_server.core.capability import capability_statement
from fhir_server.core.dates import parse_instant, parse_range
from fhir_server.core.errors import (
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    ResourceGone,
    ResourceNotFound,
)
from fhir_server.core.model import (
    HistoryPage,
    HistoryQuery,
    StoredVersion,
    http_date,
    instant,
    now_us,
)
from fhir_server.core.outcome import information
from fhir_server.core.paging import decode_token, encode_token
from fhir_server.core.service import FhirService, WriteResult, parse_etag
from fhir_server.core.types import R4_RESOURCE_TYPES, supported_types
from fhir_server.http.errors import error_response
from fhir_server.http.negotiation import (
    check_accept,
    json_response,
    parse_prefer,
    pretty,
    read_json_body,
)

# Extra routes (search) register themselves with a function taking the blueprint and the api.
RouteExtension = Callable[[Blueprint, "FhirApi"], None]


@dataclass
class FhirApi:
    """Everything the handlers need: the core service and HTTP-level settings."""

    service: FhirService
    base_path: str
    paging_key: bytes
    default_page_size: int = 50
    max_page_size: int = 1000
    software_version: str = "0.1.0"
    public_base_url: str = ""
    # Provided by the search room: per-type searchParam lists for the CapabilityStatement.
    search_params: Callable[[], dict[str, list[dict[str, Any]]]] | None = None
    # Answers GET entries of batches/transactions that are searches (relative URL -> Bundle).
    search_reader: Callable[[str], dict[str, Any]] | None = None
    extensions: list[RouteExtension] = field(default_factory=list)

    @property
    def processor(self) -> BundleProcessor:
        return BundleProcessor(self.service, bases=(self.base_url(),))

    def base_url(self) -> str:
        """Absolute base URL of the FHIR endpoint (configured or from the request)."""
        root = (
            self.public_base_url.rstrip("/")
            if self.public_base_url
            else (request.host_url.rstrip("/"))
        )
        return root + self.base_path

    def page_size(self, raw: str | None) -> int:
        """``_count`` within [0, max]; 400 if malformed."""
        if raw is None:
            return self.default_page_size
        if not raw.isdigit():
            raise InvalidRequest(f"_count must be a non-negative integer, not {raw!r}")
        return min(int(raw), self.max_page_size)


ACTION_BY_METHOD = {"GET": "r", "HEAD": "r", "POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}


def _policy() -> FhirAccessPolicy | None:
    """The access policy the wiring installed (none: scopes alone decide)."""
    return app_context().find(FhirAccessPolicy)  # type: ignore[type-abstract]


def authorize(res_type: str, action: str, *, instance: bool = False) -> None:
    """Raise 403 unless the caller's scopes allow ``action`` (c r u d s) on the type.

    Then the access policy decides (grants, consent, audit); for instance reads
    (``instance=True``) that happens in :func:`authorize_resource` once the resource is read,
    for searches and history in the :class:`ReadFilter` of :func:`read_filter`.
    """
    principal = g.principal
    if principal.unrestricted:
        return
    if not smart.granted(principal.scopes, res_type, action):
        raise Forbidden(f"the access token does not allow this interaction on {res_type}")
    policy = _policy()
    if not instance and policy is not None:
        policy.authorize(principal, res_type, action)


def read_filter(res_type: str, action: str) -> ReadFilter | None:
    """The caller's filter for reads of many resources (None: not restricted; for callers
    authorized by scope alone the decision on ``res_type`` is made here). ``*``: system."""
    principal = g.principal
    policy = _policy()
    if principal.unrestricted or policy is None:
        return None
    return policy.read_filter(principal, res_type, action)


def system_restriction(action: str, what: str) -> ReadFilter | None:
    """System-level search or history: unrestricted tokens see all (None); restricted
    callers (researchers) only what their filter admits; every other caller is refused."""
    if g.principal.unrestricted:
        return None
    restriction = read_filter("*", action)
    if restriction is None:
        raise Forbidden(f"{what} needs an unrestricted token")
    return restriction


def authorize_resource(res_type: str, action: str, version: StoredVersion,
                       not_found: str | None = None) -> None:
    """The access policy for one resource that was read (404 outside the caller's grants,
    with the message an unknown id gets, so the answer does not tell the two apart)."""
    principal = g.principal
    policy = _policy()
    if principal.unrestricted or policy is None:
        return
    resource = version.resource() if version.content is not None else {"resourceType": res_type}
    try:
        policy.authorize(principal, res_type, action, resource)
    except NotFound:
        raise ResourceNotFound(
            not_found or f"{version.res_type}/{version.res_id} is not known") from None


def last_content(api: FhirApi, res_type: str, res_id: str) -> StoredVersion | None:
    """The newest version of a resource that has content (None: never had any)."""
    before = None
    while True:
        page = api.service.history(HistoryQuery(res_type, res_id, count=20, before_pk=before))
        for v in page.versions:
            if v.content is not None:
                return v
        if page.next_before_pk is None:
            return None
        before = page.next_before_pk


def authorize_instance(api: FhirApi, res_type: str, res_id: str, action: str) -> None:
    """404 (as for an unknown id) unless the caller may see this resource; a deleted one is
    judged by its last content, so that 410 Gone does not tell outsiders it existed."""
    message = f"{res_type}/{res_id} is not known"
    if g.principal.unrestricted or _policy() is None:
        return
    version = last_content(api, res_type, res_id)
    if version is None:
        raise ResourceNotFound(message)
    authorize_resource(res_type, action, version, message)


def _check_type(res_type: str) -> None:
    if res_type not in R4_RESOURCE_TYPES or res_type not in supported_types():
        raise ResourceNotFound(f"unknown or unsupported resource type {res_type!r}")


def _version_headers(
    resp: Response, api: FhirApi, version: StoredVersion, location: bool = False
) -> Response:
    resp.headers["ETag"] = version.etag
    resp.headers["Last-Modified"] = http_date(version.last_updated)
    if location:
        resp.headers["Location"] = f"{api.base_url()}/{version.location}"
    return resp


def _write_response(api: FhirApi, result: WriteResult) -> Response:
    prefer = parse_prefer(request)
    version = result.version
    if prefer.return_ == "minimal":
        resp = Response(status=result.status)
    elif prefer.return_ == "OperationOutcome":
        verb = "created" if result.status == 201 else "updated"
        resp = json_response(
            information(f"{version.res_type}/{version.res_id} {verb}"),
            result.status,
            indent=pretty(request),
        )
    else:
        resp = json_response(None, result.status, indent=pretty(request), raw=version.content)
    return _version_headers(resp, api, version, location=True)


def _history_bundle(api: FhirApi, path: str, page: Any, params: dict[str, str]) -> dict[str, Any]:
    base = api.base_url()
    entries = []
    for v in page.versions:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{v.res_type}/{v.res_id}"}
        if v.content is not None:
            entry["resource"] = v.resource()
        method = v.method if v.method != "PATCH" else "PATCH"
        req_url = v.res_type if method == "POST" else f"{v.res_type}/{v.res_id}"
        entry["request"] = {"method": method, "url": req_url}
        status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
        entry["response"] = {
            "status": status,
            "etag": v.etag,
            "lastModified": instant(v.last_updated),
        }
        entries.append(entry)
    self_url = f"{base}{path}" + (f"?{urlencode(params)}" if params else "")
    links = [{"relation": "self", "url": self_url}]
    if page.next_before_pk is not None:
        token = encode_token(api.paging_key, {"p": path, "b": page.next_before_pk, **params})
        links.append({"relation": "next", "url": f"{base}{path}?_page={token}"})
    return {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": instant(now_us()),
        "link": links,
        "entry": entries,
    }


def _filtered_history(api: FhirApi, query: HistoryQuery, restriction: ReadFilter,
                      keep_deleted: bool) -> HistoryPage:
    """A history page of only the versions the restriction admits (each judged by its own
    content; deletions only where the instance itself was judged visible), filled by
    fetching further; the cursor stands on the last version judged."""
    out: list[StoredVersion] = []
    before = query.before_pk
    budget, scanned = max(20 * query.count, 200), 0
    while True:
        page = api.service.history(replace(query, count=query.count - len(out),
                                           before_pk=before))
        scanned += len(page.versions)
        judged = [v for v in page.versions if v.content is not None]
        admitted = iter(restriction.admit([v.resource() for v in judged]) if judged else [])
        # Versions with content take the restriction's decisions in order; deletions follow
        # ``keep_deleted``.
        out.extend(v for v in page.versions
                   if (next(admitted) if v.content is not None else keep_deleted))
        before = page.next_before_pk
        if before is None or len(out) >= query.count or scanned >= budget:
            return HistoryPage(out, before)


def _history(api: FhirApi, res_type: str | None, res_id: str | None, path: str,
             restriction: ReadFilter | None = None) -> Response:
    args = request.args
    params: dict[str, str] = {}
    before = None
    token = args.get("_page")
    if token:
        state = decode_token(api.paging_key, token)
        if state.get("p") != path:
            raise InvalidRequest("the paging token belongs to another history")
        before = int(state["b"])
        params = {k: str(v) for k, v in state.items() if k not in ("p", "b")}
    else:
        for key in ("_since", "_at", "_count"):
            if key in args:
                params[key] = args[key]
        unknown = [k for k in args if k not in ("_since", "_at", "_count", "_format", "_pretty")]
        if unknown and parse_prefer(request).handling == "strict":
            raise InvalidRequest(f"unknown history parameter(s): {', '.join(sorted(unknown))}")
    count = api.page_size(params.get("_count"))
    query = HistoryQuery(
        res_type=res_type,
        res_id=res_id,
        since=parse_instant(params["_since"], "_since") if "_since" in params else None,
        at=parse_range(params["_at"], "_at") if "_at" in params else None,
        count=count,
        before_pk=before,
    )
    if restriction is None:
        page = api.service.history(query)
    else:
        page = _filtered_history(api, query, restriction, keep_deleted=res_id is not None)
        restriction.finish(len(page.versions))
    return json_response(_history_bundle(api, path, page, params), indent=pretty(request))


def create_blueprint(api: FhirApi) -> Blueprint:
    """The FHIR REST blueprint mounted at api.base_path."""
    bp = Blueprint("fhir", __name__, url_prefix=api.base_path)

    @bp.before_request
    def _authenticate() -> None:
        if request.method != "OPTIONS":
            check_accept(request)
        if request.endpoint == "fhir.metadata":
            return  # the CapabilityStatement is public (SMART App Launch discovery)
        ctx = app_context()
        try:
            g.principal = ctx.authenticator.authenticate(request.headers.get("Authorization"))
        except GenomseqError as exc:
            raise NotAuthenticated(exc.message) from None

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return error_response(exc)

    @bp.get("/metadata")
    def metadata() -> Response:
        params = api.search_params() if api.search_params else None
        doc = capability_statement(
            api.base_url(),
            supported_types(),
            software_version=api.software_version,
            search_params=params,
            search_supported=api.search_params is not None,
        )
        return json_response(doc, indent=pretty(request))

    @bp.post("/")
    @bp.post("")
    def batch_or_transaction() -> Response:
        bundle = read_json_body(request)
        prefer = parse_prefer(request, default_return="minimal")
        if isinstance(bundle, dict) and isinstance(bundle.get("entry"), list):
            for entry in bundle["entry"]:
                req = entry.get("request") if isinstance(entry, dict) else None
                if isinstance(req, dict) and isinstance(req.get("url"), str):
                    target = req["url"].split("?")[0].split("/")[0]
                    if target in R4_RESOURCE_TYPES:
                        authorize(target, ACTION_BY_METHOD.get(str(req.get("method")), "r"))
        result = api.processor.process(
            bundle, representation=prefer.return_ == "representation", reader=_entry_reader(api)
        )
        return json_response(result, indent=pretty(request))

    @bp.get("/_history")
    def history_system() -> Response:
        return _history(api, None, None, "/_history", system_restriction("r", "system history"))

    @bp.post("/<res_type>")
    def create(res_type: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "c")
        body = read_json_body(request)
        result = api.service.create(res_type, body, request.headers.get("If-None-Exist"))
        return _write_response(api, result)

    @bp.put("/<res_type>")
    def conditional_update(res_type: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "u")
        authorize(res_type, "s")
        body = read_json_body(request)
        query = request.query_string.decode()
        result = api.service.conditional_update(
            res_type, query, body, request.headers.get("If-Match")
        )
        return _write_response(api, result)

    @bp.delete("/<res_type>")
    def conditional_delete(res_type: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "d")
        authorize(res_type, "s")
        api.service.conditional_delete(res_type, request.query_string.decode())
        return _delete_response()

    @bp.get("/<res_type>/_history")
    def history_type(res_type: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "r", instance=True)
        restriction = read_filter(res_type, "r")
        return _history(api, res_type, None, f"/{res_type}/_history", restriction)

    @bp.get("/<res_type>/<res_id>")
    def read(res_type: str, res_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "r", instance=True)
        try:
            version = api.service.read(res_type, res_id)
        except ResourceGone:
            authorize_instance(api, res_type, res_id, "r")
            raise
        authorize_resource(res_type, "r", version)
        return _read_response(api, version)

    @bp.put("/<res_type>/<res_id>")
    def update(res_type: str, res_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "u")
        body = read_json_body(request)
        result = api.service.update(res_type, res_id, body, request.headers.get("If-Match"))
        return _write_response(api, result)

    @bp.patch("/<res_type>/<res_id>")
    def patch(res_type: str, res_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "u")
        ops = read_json_body(request, patch=True)
        result = api.service.patch(res_type, res_id, ops, request.headers.get("If-Match"))
        return _write_response(api, result)

    @bp.delete("/<res_type>/<res_id>")
    def delete(res_type: str, res_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "d")
        api.service.delete(res_type, res_id)
        return _delete_response()

    @bp.get("/<res_type>/<res_id>/_history")
    def history_instance(res_type: str, res_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "r", instance=True)
        restriction = read_filter(res_type, "r")
        if restriction is not None:
            # Out of grant: 404 as for a read; then only the versions the caller may see.
            authorize_instance(api, res_type, res_id, "r")
        return _history(api, res_type, res_id, f"/{res_type}/{res_id}/_history", restriction)

    @bp.get("/<res_type>/<res_id>/_history/<version_id>")
    def vread(res_type: str, res_id: str, version_id: str) -> Response:
        _check_type(res_type)
        authorize(res_type, "r", instance=True)
        not_found = f"{res_type}/{res_id}/_history/{version_id} is not known"
        try:
            version = api.service.vread(res_type, res_id, version_id)
        except ResourceGone:
            authorize_instance(api, res_type, res_id, "r")
            raise
        authorize_resource(res_type, "r", version, not_found)
        return _read_response(api, version)

    for extend in api.extensions:
        extend(bp, api)
    return bp


def _read_response(api: FhirApi, version: StoredVersion) -> Response:
    none_match = request.headers.get("If-None-Match")
    if none_match is not None:
        tags = [t.strip() for t in none_match.split(",")]
        if "*" in tags or any(_same_version(t, version.version_id) for t in tags):
            return _version_headers(Response(status=304), api, version)
    since = request.if_modified_since
    if since is not None and version.last_updated // 1_000_000 <= int(since.timestamp()):
        return _version_headers(Response(status=304), api, version)
    resp = json_response(None, 200, indent=pretty(request), raw=version.content)
    return _version_headers(resp, api, version)


def _same_version(tag: str, version_id: int) -> bool:
    try:
        return parse_etag(tag) == version_id
    except InvalidRequest:
        return False


def _delete_response() -> Response:
    prefer = parse_prefer(request, default_return="minimal")
    if prefer.return_ == "OperationOutcome":
        return json_response(information("deleted"), 200)
    return Response(status=204)


def _entry_reader(api: FhirApi) -> Callable[[str], tuple[int, dict[str, Any] | None]]:
    """Answers GET entries of a batch/transaction: read, vread and (if wired) search."""

    def read(url: str) -> tuple[int, dict[str, Any] | None]:
        path, _, query = url.partition("?")
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and not query:
            _check_type(parts[0])
            authorize(parts[0], "r")
            return 200, api.service.read(parts[0], parts[1]).resource()
        if len(parts) == 4 and parts[2] == "_history" and not query:
            _check_type(parts[0])
            authorize(parts[0], "r")
            return 200, api.service.vread(parts[0], parts[1], parts[3]).resource()
        if len(parts) <= 1 and api.search_reader is not None:
            return 200, api.search_reader(url)
        raise InvalidRequest(f"GET {url} is not supported in a batch or transaction")

    return read
