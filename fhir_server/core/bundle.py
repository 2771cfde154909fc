"""FHIR R4 4.0.1 batch and transaction (http.html#transaction, section 3.1.0.11).

A transaction is atomic: every entry succeeds or nothing is stored. Entries are processed in
the spec's order (DELETE, POST, PUT/PATCH, GET/HEAD); ``urn:uuid:`` and other fullUrls of new
resources are replaced in every reference by the ids the server assigns, and conditional
references (``Patient?identifier=...``) are resolved by search (3.1.0.11.2, 3.1.0.11.3). A batch
processes each entry independently and reports each outcome in its response entry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from fhir_server.core.errors import (
    FhirError,
    InvalidRequest,
    InvalidResource,
    Issue,
    PreconditionFailed,
    Unprocessable,
)
from fhir_server.core.model import StoredVersion, Write, instant, now_us
from fhir_server.core.outcome import operation_outcome
from fhir_server.core.ports import FhirUnitOfWork
from fhir_server.core.service import FhirService, parse_etag
from fhir_server.core.types import R4_RESOURCE_TYPES, is_valid_id

STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    204: "204 No Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    410: "410 Gone",
    412: "412 Precondition Failed",
    413: "413 Payload Too Large",
    422: "422 Unprocessable Entity",
}
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
JSON_PATCH = "application/json-patch+json"

# GET entries (read, vread, search) are answered by the HTTP layer's reader: it gets the
# relative URL and returns (status, resource or None).
EntryReader = Callable[[str], tuple[int, dict[str, Any] | None]]


@dataclass
class Entry:
    """One request entry of a batch or transaction, parsed."""

    index: int
    method: str
    url: str
    res_type: str
    res_id: str | None = None
    criteria: str | None = None
    full_url: str | None = None
    resource: dict[str, Any] | None = None
    if_none_exist: str | None = None
    if_match: str | None = None
    patch: list[Any] | None = None
    # Results filled in while processing.
    target_id: str | None = None
    status: int = 0
    version: StoredVersion | None = None
    outcome: dict[str, Any] | None = None
    read_result: dict[str, Any] | None = None
    write: Write | None = field(default=None, repr=False)
    # Id for a POST, chosen once so that a retried database transaction reuses it.
    new_id: str = ""

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def _split_url(url: str, bases: tuple[str, ...]) -> str:
    for base in bases:
        if base and url.startswith(base.rstrip("/") + "/"):
            return url[len(base.rstrip("/")) + 1 :]
    return url


def parse_entries(bundle: Any, bases: tuple[str, ...] = ()) -> tuple[str, list[Entry]]:
    """Check the Bundle's shape and parse its entries' requests (400 on any malformation)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("POST to the base needs a Bundle of type batch or transaction")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise InvalidResource(
            f"Bundle.type must be batch or transaction, not {kind!r}",
            issues=[
                Issue(
                    "error", "value", "Bundle.type must be batch or transaction", ("Bundle.type",)
                )
            ],
        )
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):
        raise InvalidResource("Bundle.entry must be an array")
    entries = []
    for i, raw in enumerate(raw_entries):
        entries.append(_parse_entry(i, raw, bases))
    return str(kind), entries


def _bad(i: int, path: str, message: str) -> InvalidResource:
    expr = f"Bundle.entry[{i}]{('.' + path) if path else ''}"
    return InvalidResource(
        f"{expr}: {message}", issues=[Issue("error", "invalid", f"{expr}: {message}", (expr,))]
    )


def _parse_entry(i: int, raw: Any, bases: tuple[str, ...]) -> Entry:
    if not isinstance(raw, dict):
        raise _bad(i, "", "entry must be an object")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise _bad(i, "request", "entry.request is required in a batch or transaction")
    method = request.get("method")
    url = request.get("url")
    if method not in _ORDER:
        raise _bad(i, "request.method", f"unsupported method {method!r}")
    if not isinstance(url, str) or not url:
        raise _bad(i, "request.url", "request.url is required")
    rel = _split_url(url, bases).lstrip("/")
    path, _, query = rel.partition("?")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise _bad(i, "request.url", f"cannot interpret {url!r}")
    res_type = parts[0]
    entry = Entry(
        index=i,
        method=method,
        url=rel,
        res_type=res_type,
        full_url=raw.get("fullUrl"),
        resource=raw.get("resource"),
        if_none_exist=request.get("ifNoneExist"),
        if_match=request.get("ifMatch"),
    )
    if method in ("GET", "HEAD"):
        return entry
    if res_type not in R4_RESOURCE_TYPES:
        raise _bad(i, "request.url", f"unknown resource type {res_type!r}")
    if method == "POST":
        if len(parts) != 1 or query:
            raise _bad(i, "request.url", "POST entries must name only the resource type")
    elif len(parts) == 2:
        if not is_valid_id(parts[1]):
            raise _bad(i, "request.url", f"invalid id {parts[1]!r}")
        entry.res_id = parts[1]
    elif len(parts) == 1 and query and method in ("PUT", "DELETE"):
        entry.criteria = query
    else:
        raise _bad(i, "request.url", f"cannot {method} {url!r}")
    if method in ("POST", "PUT"):
        if not isinstance(entry.resource, dict):
            raise _bad(i, "resource", f"{method} entries need a resource")
        if entry.resource.get("resourceType") != res_type:
            raise _bad(i, "resource.resourceType", "resourceType does not match request.url")
        if method == "PUT" and entry.res_id and entry.resource.get("id") != entry.res_id:
            raise _bad(i, "resource.id", "resource id does not match request.url")
    if method == "PATCH":
        entry.patch = _json_patch_of(i, entry.resource)
    return entry


def _json_patch_of(i: int, resource: Any) -> list[Any]:
    """JSON Patch in a transaction travels as a Binary (http.html#patch)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise _bad(i, "resource", "PATCH entries need a Binary with a JSON Patch document")
    if resource.get("contentType") != JSON_PATCH:
        raise _bad(i, "resource.contentType", f"only {JSON_PATCH} patches are supported")
    try:
        ops = orjson.loads(base64.b64decode(resource.get("data", ""), validate=True))
    except (ValueError, TypeError):
        raise _bad(i, "resource.data", "data is not base64 of a JSON document") from None
    if not isinstance(ops, list):
        raise _bad(i, "resource.data", "a JSON Patch document is an array")
    return ops


def _references(node: Any) -> Iterator[dict[str, Any]]:
    """Every object with a string ``reference`` member (Reference datatypes), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                yield item
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))


class BundleProcessor:
    """Runs batches and transactions on a FhirService."""

    def __init__(self, service: FhirService, bases: tuple[str, ...] = ()) -> None:
        self.service = service
        self.bases = bases

    def process(
        self, bundle: Any, *, representation: bool = False, reader: EntryReader | None = None
    ) -> dict[str, Any]:
        """Process a batch or transaction Bundle; return the response Bundle."""
        kind, entries = parse_entries(bundle, self.bases)
        if kind == "transaction":
            self._transaction(entries, reader)
        else:
            self._batch(entries, reader)
        return self._response(kind, entries, representation)

    # --- transaction ----------------------------------------------------------------------

    def _transaction(self, entries: list[Entry], reader: EntryReader | None) -> None:
        seen: dict[str, int] = {}
        for e in entries:
            if e.res_id and e.method != "GET":
                key = f"{e.res_type}/{e.res_id}"
                if key in seen:
                    raise _bad(
                        e.index, "request.url", f"{key} is also the target of entry {seen[key]}"
                    )
                seen[key] = e.index
        writes = [e for e in entries if e.method in ("POST", "PUT")]
        # Write steps and validation are CPU work: do them before any database lock.
        self.service.prepare(
            [e.resource for e in writes if e.resource is not None],
            [f"{e.where}.resource" for e in writes],
        )
        ordered = sorted(entries, key=lambda e: (_ORDER[e.method], e.index))
        timestamp = now_us()
        for e in entries:
            if e.method in ("POST", "PUT"):
                e.new_id = self.service.new_id()
        # Where no reference depends on a target that only the write transaction can decide,
        # rewrite references and serialise new resources before taking the write lock.
        early_targets = self._early(writes, timestamp)
        early = early_targets is not None

        def work(uow: FhirUnitOfWork) -> None:
            refmap: dict[str, str] = {}
            conditional: dict[str, str] = {}
            if early_targets:
                missing = set(early_targets) - uow.existing(sorted(early_targets))
                if missing:
                    raise Unprocessable(
                        f"conditional reference target {sorted(missing)[0]} was deleted "
                        "while the transaction was processed"
                    )
            for e in ordered:  # first pass: decide every target id
                e.status = 0
                self._resolve_target(uow, e)
                if e.full_url and e.target_id and e.method in ("POST", "PUT"):
                    refmap[e.full_url] = f"{e.res_type}/{e.target_id}"
            plan: list[Write] = []
            for e in ordered:
                if e.method == "DELETE":
                    if e.target_id is not None:
                        current = uow.current(e.res_type, e.target_id)
                        e.write = self.service.plan_delete(
                            e.res_type, e.target_id, current, timestamp
                        )
                    e.status = 204
                elif e.method in ("POST", "PUT"):
                    if e.status == 200 and e.method == "POST":
                        continue  # conditional create matched an existing resource
                    assert e.resource is not None and e.target_id is not None
                    if early and e.write is not None:
                        plan.append(e.write)  # serialised before the lock
                        e.version, e.status = e.write.stored(), 201
                        continue
                    if not early:
                        # In place: a retry maps the same fullUrls to the same ids again.
                        self._rewrite_references(uow, e, refmap, conditional)
                    current = None if e.method == "POST" else uow.current(e.res_type, e.target_id)
                    e.write = self.service.plan_update(
                        e.res_type,
                        e.target_id,
                        e.resource,
                        current,
                        parse_etag(e.if_match),
                        e.method,
                        timestamp,
                    )
                    if e.write is None:
                        e.version, e.status = current, 200
                    else:
                        e.status = 201 if current is None or current.deleted else 200
                elif e.method == "PATCH":
                    e.write = self._plan_patch(uow, e, timestamp)
                    e.status = 200
                if e.write is not None:
                    plan.append(e.write)
                    e.version = e.write.stored()
            uow.write(plan)

        self.service.repo.atomic(work)
        for e in entries:
            if e.method in ("GET", "HEAD"):
                self._read_entry(e, reader, fail=True)

    def _early(self, writes: list[Entry], timestamp: int) -> set[str] | None:
        """Rewrite references and serialise plain POSTs without the write lock.

        Returns the conditional-reference targets the transaction must find still existing,
        or None when a reference points at an entry whose id only the transaction decides
        (conditional create/update): then everything happens inside the transaction.
        """
        dynamic = {
            id(e)
            for e in writes
            if e.criteria is not None or (e.method == "POST" and e.if_none_exist is not None)
        }
        static: dict[str, str] = {}
        dynamic_urls = set()
        for e in writes:
            if not e.full_url:
                continue
            if id(e) in dynamic:
                dynamic_urls.add(e.full_url)
            else:
                static[e.full_url] = f"{e.res_type}/{e.new_id if e.method == 'POST' else e.res_id}"
        pending: list[tuple[Entry, dict[str, Any]]] = []
        conditional: dict[str, tuple[Entry, str]] = {}
        for e in writes:
            for ref in _references(e.resource):
                value = ref["reference"]
                if value in dynamic_urls:
                    return None
                pending.append((e, ref))
                if "?" in value and not value.startswith("#") and value not in static:
                    conditional.setdefault(value, (e, value))
        resolved: dict[str, str] = {}
        if conditional:

            def lookup(uow: FhirUnitOfWork) -> None:
                for value, (entry, _) in conditional.items():
                    resolved[value] = self._resolve_conditional(uow, entry, value)

            self.service.repo.snapshot(lookup)
        for e, ref in pending:
            value = ref["reference"]
            if value in static:
                ref["reference"] = static[value]
            elif value in resolved:
                ref["reference"] = resolved[value]
            elif value.startswith(("urn:uuid:", "urn:oid:")):
                raise Unprocessable(
                    f"{e.where}: reference {value} does not resolve to an entry of this Bundle"
                )
        for e in writes:
            if e.method == "POST" and id(e) not in dynamic:
                assert e.resource is not None
                e.write = self.service._new_version(
                    e.resource, e.res_type, e.new_id, None, "POST", timestamp
                )
        self.service.repo.prepare([e.write for e in writes if e.write is not None])
        return set(resolved.values())

    def _resolve_target(self, uow: FhirUnitOfWork, e: Entry) -> None:
        if e.method in ("GET", "HEAD"):
            return
        if e.method == "POST":
            if e.if_none_exist is not None:
                criteria = self.service.conditional_criteria(e.res_type, e.if_none_exist)
                uow.lock(e.res_type + "?" + e.if_none_exist)
                found = uow.match(e.res_type, criteria)
                if len(found) > 1:
                    raise PreconditionFailed(
                        f"{e.where}: {len(found)} {e.res_type} resources match ifNoneExist"
                    )
                if found:
                    e.target_id, e.status = found[0], 200
                    e.version = uow.current(e.res_type, found[0])
                    return
            e.target_id = e.new_id
            return
        if e.criteria is not None:
            uow.lock(e.res_type + "?" + e.criteria)
            found = uow.match(e.res_type,
                              self.service.conditional_criteria(e.res_type, e.criteria))
            if len(found) > 1:
                raise PreconditionFailed(
                    f"{e.where}: {len(found)} {e.res_type} resources match {e.url}"
                )
            if found:
                e.target_id = found[0]
            elif e.method == "PUT":
                body_id = (e.resource or {}).get("id")
                e.target_id = body_id if isinstance(body_id, str) else e.new_id
            else:
                e.target_id = None  # conditional delete with no match: nothing to do
            if e.method == "PUT" and e.resource is not None:
                body_id = e.resource.get("id")
                if body_id is not None and body_id != e.target_id:
                    raise _bad(e.index, "resource.id", "id does not match the resource found")
            return
        e.target_id = e.res_id

    def _rewrite_references(
        self,
        uow: FhirUnitOfWork,
        e: Entry,
        refmap: dict[str, str],
        conditional: dict[str, str],
    ) -> None:
        for ref in _references(e.resource):
            value = ref["reference"]
            if value in refmap:
                ref["reference"] = refmap[value]
            elif value.startswith("urn:uuid:") or value.startswith("urn:oid:"):
                raise Unprocessable(
                    f"{e.where}: reference {value} does not resolve to an entry of this Bundle"
                )
            elif "?" in value and not value.startswith("#"):
                if value not in conditional:
                    conditional[value] = self._resolve_conditional(uow, e, value)
                ref["reference"] = conditional[value]

    def _resolve_conditional(self, uow: FhirUnitOfWork, e: Entry, value: str) -> str:
        target_type, _, query = _split_url(value, self.bases).partition("?")
        if target_type not in R4_RESOURCE_TYPES:
            raise Unprocessable(f"{e.where}: conditional reference {value!r} names no type")
        found = uow.match(target_type, self.service.conditional_criteria(target_type, query))
        if not found:
            raise Unprocessable(f"{e.where}: conditional reference {value!r} matches nothing")
        if len(found) > 1:
            raise PreconditionFailed(
                f"{e.where}: conditional reference {value!r} matches {len(found)} resources"
            )
        return f"{target_type}/{found[0]}"

    def _plan_patch(self, uow: FhirUnitOfWork, e: Entry, timestamp: int) -> Write | None:
        import jsonpatch

        assert e.target_id is not None
        current = uow.current(e.res_type, e.target_id)
        if current is None or current.deleted:
            raise Unprocessable(f"{e.where}: {e.res_type}/{e.target_id} does not exist")
        try:
            patched = jsonpatch.JsonPatch(e.patch or []).apply(current.resource())
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise Unprocessable(f"{e.where}: the patch cannot be applied: {exc}") from None
        if (
            not isinstance(patched, dict)
            or patched.get("resourceType") != e.res_type
            or (patched.get("id") != e.target_id)
        ):
            raise Unprocessable(f"{e.where}: a patch must not change resourceType or id")
        self.service.prepare([patched], [f"{e.where}.resource"])
        write = self.service.plan_update(
            e.res_type, e.target_id, patched, current, parse_etag(e.if_match), "PATCH", timestamp
        )
        if write is None:
            e.version = current
        return write

    # --- batch ----------------------------------------------------------------------------

    def _batch(self, entries: list[Entry], reader: EntryReader | None) -> None:
        svc = self.service
        for e in sorted(entries, key=lambda x: (_ORDER[x.method], x.index)):
            try:
                if e.method in ("GET", "HEAD"):
                    self._read_entry(e, reader, fail=False)
                    continue
                if e.method == "POST":
                    assert e.resource is not None
                    res = svc.create(e.res_type, self._batch_refs(e), e.if_none_exist)
                elif e.method == "PUT":
                    assert e.resource is not None
                    body = self._batch_refs(e)
                    if e.criteria is not None:
                        res = svc.conditional_update(e.res_type, e.criteria, body, e.if_match)
                    else:
                        assert e.res_id is not None
                        res = svc.update(e.res_type, e.res_id, body, e.if_match)
                elif e.method == "PATCH":
                    assert e.res_id is not None
                    res = svc.patch(e.res_type, e.res_id, e.patch, e.if_match)
                else:
                    if e.criteria is not None:
                        svc.conditional_delete(e.res_type, e.criteria)
                    else:
                        assert e.res_id is not None
                        svc.delete(e.res_type, e.res_id)
                    e.status = 204
                    continue
                e.version, e.status = res.version, res.status
            except FhirError as exc:
                e.status = exc.status
                e.outcome = operation_outcome(exc.issues)

    def _batch_refs(self, e: Entry) -> dict[str, Any]:
        """Resolve conditional references of one batch entry in its own lookup."""
        assert e.resource is not None
        resource = _deep_copy(e.resource)
        pending = [
            r
            for r in _references(resource)
            if "?" in r["reference"] and not r["reference"].startswith("#")
        ]
        if pending:
            cache: dict[str, str] = {}

            def work(uow: FhirUnitOfWork) -> None:
                for ref in pending:
                    value = ref["reference"]
                    if value not in cache:
                        cache[value] = self._resolve_conditional(uow, e, value)
                    ref["reference"] = cache[value]

            self.service.repo.atomic(work)
        return resource

    # --- GET entries and the response -----------------------------------------------------

    def _read_entry(self, e: Entry, reader: EntryReader | None, *, fail: bool) -> None:
        if reader is None:
            err = InvalidRequest(f"{e.where}: GET entries are not supported here")
            if fail:
                raise err
            e.status, e.outcome = err.status, operation_outcome(err.issues)
            return
        try:
            e.status, e.read_result = reader(e.url)
        except FhirError as exc:
            if fail:
                raise
            e.status, e.outcome = exc.status, operation_outcome(exc.issues)

    def _response(self, kind: str, entries: list[Entry], representation: bool) -> dict[str, Any]:
        out = []
        for e in entries:
            response: dict[str, Any] = {"status": STATUS_TEXT.get(e.status, str(e.status))}
            item: dict[str, Any] = {}
            if e.version is not None and e.method not in ("GET", "HEAD", "DELETE"):
                response["location"] = e.version.location
                response["etag"] = e.version.etag
                response["lastModified"] = instant(e.version.last_updated)
                item["fullUrl"] = f"{e.res_type}/{e.version.res_id}"
                if representation and e.version.content is not None:
                    item["resource"] = e.version.resource()
            if e.read_result is not None:
                item["resource"] = e.read_result
            if e.outcome is not None:
                response["outcome"] = e.outcome
            item["response"] = response
            out.append(item)
        return {
            "resourceType": "Bundle",
            "type": f"{kind}-response",
            "timestamp": instant(now_us()),
            "entry": out,
        }


def _deep_copy(resource: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(resource))  # type: ignore[no-any-return]


__all__ = ["BundleProcessor", "Entry", "EntryReader", "parse_entries"]
