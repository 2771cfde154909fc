"""FHIR R4 4.0.1 RESTful interactions (http.html): read, vread, create, update, patch, delete,
history and their conditional forms (sections 3.1.0.8 conditional create, 3.1.0.4.3
conditional update, 3.1.0.7.1 conditional delete), with the server's versioning rules
(meta.versionId and meta.lastUpdated are the server's; every change is a new version).

Pure: storage arrives through the ports in fhir_server.core.ports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
import orjson

from fhir_server.core.errors import (
    InvalidRequest,
    InvalidResource,
    Issue,
    PreconditionFailed,
    ResourceGone,
    ResourceNotFound,
    Unprocessable,
)
from fhir_server.core.model import (
    HistoryPage,
    HistoryQuery,
    StoredVersion,
    Write,
    instant,
    now_us,
)
from fhir_server.core.pipeline import CriteriaRewriter, WriteStep
from fhir_server.core.ports import FhirRepository, FhirUnitOfWork
from fhir_server.core.types import is_valid_id
from fhir_server.core.validation import check_id, check_resource_type, validate


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a write interaction: the version now current and the HTTP status."""

    version: StoredVersion
    status: int  # 200 (updated / matched), 201 (created)


def parse_criteria(query: str) -> list[tuple[str, str]]:
    """Search criteria of a conditional interaction (``identifier=a|b&_id=x``)."""
    query = query.lstrip("?")
    if not query.strip():
        raise InvalidRequest("conditional interaction without search criteria")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise InvalidRequest(f"malformed search criteria: {exc}") from None
    return pairs


def new_id() -> str:
    """A server-assigned logical id (random, not guessable, not linkable)."""
    return str(uuid.uuid4())


def parse_etag(value: str | None) -> int | None:
    """Version number from an ETag / If-Match value (``W/"3"`` or ``"3"``)."""
    if value is None:
        return None
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isdigit():
        raise InvalidRequest(f'malformed ETag {value!r}: expected W/"<versionId>"')
    return int(raw)


def _strip_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """Resource without the server-managed parts, to compare content of two versions."""
    copy = dict(resource)
    copy.pop("id", None)
    meta = dict(copy.get("meta") or {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    if meta:
        copy["meta"] = meta
    else:
        copy.pop("meta", None)
    return copy


def finalize(resource: dict[str, Any], res_id: str, version_id: int, last_updated: int) -> bytes:
    """Set id and meta.versionId/lastUpdated (the server's) and serialise."""
    resource["id"] = res_id
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(last_updated)
    resource["meta"] = meta
    return orjson.dumps(resource)


class FhirService:
    """The FHIR interactions on top of a repository."""

    def __init__(
        self,
        repository: FhirRepository,
        *,
        validate_resources: bool = True,
        write_steps: Sequence[WriteStep] = (),
        id_factory: Callable[[], str] = new_id,
    ) -> None:
        self.repo = repository
        self.validate_resources = validate_resources
        self.write_steps = list(write_steps)
        self.new_id = id_factory

    # --- reading -------------------------------------------------------------------------

    def read(self, res_type: str, res_id: str) -> StoredVersion:
        """Current version; 404 if it never existed, 410 if deleted."""
        version = self.repo.read(res_type, res_id) if is_valid_id(res_id) else None
        if version is None:
            raise ResourceNotFound(f"{res_type}/{res_id} is not known")
        if version.deleted:
            raise ResourceGone(f"{res_type}/{res_id} was deleted")
        return version

    def vread(self, res_type: str, res_id: str, version_id: str) -> StoredVersion:
        """A specific version; 404 if unknown, 410 if that version is a deletion."""
        if not version_id.isdigit() or not is_valid_id(res_id):
            raise ResourceNotFound(f"{res_type}/{res_id}/_history/{version_id} is not known")
        version = self.repo.vread(res_type, res_id, int(version_id))
        if version is None:
            raise ResourceNotFound(f"{res_type}/{res_id}/_history/{version_id} is not known")
        if version.deleted:
            raise ResourceGone(f"{res_type}/{res_id}/_history/{version_id} is a deletion")
        return version

    def history(self, query: HistoryQuery) -> HistoryPage:
        """History at instance, type or system level, newest first."""
        if (
            query.res_id is not None
            and query.res_type is not None
            and (
                not is_valid_id(query.res_id)
                or self.repo.read(query.res_type, query.res_id) is None
            )
        ):
            raise ResourceNotFound(f"{query.res_type}/{query.res_id} is not known")
        return self.repo.history(query)

    # --- preparing content ---------------------------------------------------------------

    def conditional_criteria(self, res_type: str, query: str) -> list[tuple[str, str]]:
        """Criteria of a conditional interaction, rewritten by write steps that change what
        is stored (a pseudonymizing step maps identifier=system|value to its pseudonym)."""
        criteria = parse_criteria(query)
        for step in self.write_steps:
            if isinstance(step, CriteriaRewriter):
                criteria = step.rewrite_criteria(res_type, criteria)
        return criteria

    def prepare(self, resources: list[dict[str, Any]], where: list[str] | None = None) -> None:
        """Validate every resource as received (400 with expressions), then run the write
        steps: a step that drops parts (pseudonymization) must not turn bad input into good."""
        self._validate_all(resources, where)
        for step in self.write_steps:
            step.apply(resources)

    def _validate_all(self, resources: list[dict[str, Any]], where: list[str] | None) -> None:
        if not self.validate_resources:
            for resource in resources:
                check_resource_type(resource)
                check_id(resource)
            return
        for i, resource in enumerate(resources):
            try:
                validate(resource)
            except InvalidResource as exc:
                if where is None:
                    raise
                prefix = where[i]
                raise InvalidResource(
                    f"{prefix}: {exc.message}",
                    issues=[
                        Issue(
                            it.severity,
                            it.code,
                            f"{prefix}: {it.diagnostics}",
                            tuple(f"{prefix}.{e}" for e in it.expression),
                        )
                        for it in exc.issues
                    ],
                ) from None

    # --- single writes -------------------------------------------------------------------

    def create(
        self, res_type: str, resource: dict[str, Any], if_none_exist: str | None = None
    ) -> WriteResult:
        """create (http.html#create); with If-None-Exist, conditional create."""
        check_resource_type(resource, res_type)
        resource = dict(resource)
        resource.pop("id", None)  # the server assigns ids on create
        self.prepare([resource])
        criteria = (self.conditional_criteria(res_type, if_none_exist)
                    if if_none_exist is not None else None)
        if criteria is None:
            # Serialise before the transaction: nothing here depends on the database.
            write = self._new_version(dict(resource), res_type, self.new_id(), None, "POST")
            self.repo.prepare([write])
            self.repo.atomic(lambda uow: uow.write([write]))
            return WriteResult(write.stored(), 201)

        def work(uow: FhirUnitOfWork) -> WriteResult:
            if criteria is not None:
                uow.lock(_lock_key(res_type, criteria))
                found = uow.match(res_type, criteria)
                if len(found) > 1:
                    raise PreconditionFailed(
                        f"{len(found)} {res_type} resources match If-None-Exist"
                    )
                if found:
                    current = uow.current(res_type, found[0])
                    assert current is not None
                    return WriteResult(current, 200)
            write = self._new_version(dict(resource), res_type, self.new_id(), None, "POST")
            uow.write([write])
            return WriteResult(write.stored(), 201)

        return self.repo.atomic(work)

    def update(
        self,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        if_match: str | None = None,
    ) -> WriteResult:
        """update (http.html#update), update-as-create allowed for client-assigned ids."""
        check_resource_type(resource, res_type)
        body_id = resource.get("id")
        if body_id is None:
            raise InvalidResource(
                "update needs the resource id in the body",
                issues=[Issue("error", "required", "resource id missing", (f"{res_type}.id",))],
            )
        if body_id != res_id:
            raise InvalidResource(
                f"resource id {body_id!r} does not match the URL id {res_id!r}",
                issues=[
                    Issue("error", "invalid", "id does not match the URL", (f"{res_type}.id",))
                ],
            )
        if not is_valid_id(res_id):
            raise InvalidRequest(f"invalid resource id {res_id!r}")
        expected = parse_etag(if_match)
        resource = dict(resource)
        self.prepare([resource])
        return self.repo.atomic(
            lambda uow: self._update_in(uow, res_type, res_id, resource, expected, "PUT")
        )

    def conditional_update(
        self, res_type: str, criteria_query: str, resource: dict[str, Any], if_match: str | None
    ) -> WriteResult:
        """Conditional update (http.html#cond-update): PUT [type]?[search parameters]."""
        check_resource_type(resource, res_type)
        criteria = self.conditional_criteria(res_type, criteria_query)
        expected = parse_etag(if_match)
        resource = dict(resource)
        self.prepare([resource])

        def work(uow: FhirUnitOfWork) -> WriteResult:
            uow.lock(_lock_key(res_type, criteria))
            found = uow.match(res_type, criteria)
            if len(found) > 1:
                raise PreconditionFailed(f"{len(found)} {res_type} resources match the criteria")
            body_id = resource.get("id")
            if found:
                if body_id is not None and body_id != found[0]:
                    raise InvalidResource(
                        "resource id does not match the resource found by the criteria",
                        issues=[Issue("error", "invalid", "id mismatch", (f"{res_type}.id",))],
                    )
                target = found[0]
            else:
                target = body_id if body_id is not None else self.new_id()
            return self._update_in(uow, res_type, target, dict(resource), expected, "PUT")

        return self.repo.atomic(work)

    def patch(
        self, res_type: str, res_id: str, operations: Any, if_match: str | None = None
    ) -> WriteResult:
        """patch (http.html#patch) with a JSON Patch (RFC 6902) document."""
        if not isinstance(operations, list):
            raise InvalidRequest("a JSON Patch document must be a JSON array of operations")
        try:
            patch = jsonpatch.JsonPatch(operations)
        except (jsonpatch.InvalidJsonPatch, TypeError, AttributeError) as exc:
            raise InvalidRequest(f"invalid JSON Patch: {exc}") from None
        expected = parse_etag(if_match)

        def work(uow: FhirUnitOfWork) -> WriteResult:
            current = uow.current(res_type, res_id) if is_valid_id(res_id) else None
            if current is None:
                raise ResourceNotFound(f"{res_type}/{res_id} is not known")
            if current.deleted:
                raise ResourceGone(f"{res_type}/{res_id} was deleted")
            if expected is not None and expected != current.version_id:
                raise PreconditionFailed(
                    f"version conflict: If-Match {expected}, current {current.version_id}"
                )
            try:
                patched = patch.apply(current.resource())
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise Unprocessable(f"the patch cannot be applied: {exc}") from None
            if not isinstance(patched, dict):
                raise Unprocessable("the patch does not yield a resource")
            if patched.get("resourceType") != res_type or patched.get("id") != res_id:
                raise Unprocessable("a patch must not change resourceType or id")
            try:
                self.prepare([patched])
            except InvalidResource as exc:
                raise Unprocessable(
                    f"the patched resource is invalid: {exc.message}", issues=exc.issues
                ) from None
            return self._update_in(uow, res_type, res_id, patched, None, "PATCH")

        return self.repo.atomic(work)

    def delete(self, res_type: str, res_id: str) -> StoredVersion | None:
        """delete (http.html#delete); idempotent. Returns the deletion version, if any."""
        if not is_valid_id(res_id):
            return None

        def work(uow: FhirUnitOfWork) -> StoredVersion | None:
            return self._delete_in(uow, res_type, res_id)

        return self.repo.atomic(work)

    def conditional_delete(self, res_type: str, criteria_query: str) -> StoredVersion | None:
        """Conditional delete (single match only; several matches are 412)."""
        criteria = self.conditional_criteria(res_type, criteria_query)

        def work(uow: FhirUnitOfWork) -> StoredVersion | None:
            uow.lock(_lock_key(res_type, criteria))
            found = uow.match(res_type, criteria)
            if len(found) > 1:
                raise PreconditionFailed(
                    f"{len(found)} {res_type} resources match: conditional delete of several "
                    "resources is not supported"
                )
            if not found:
                return None
            return self._delete_in(uow, res_type, found[0])

        return self.repo.atomic(work)

    # --- helpers shared with transactions ----------------------------------------------------

    def _new_version(
        self,
        resource: dict[str, Any],
        res_type: str,
        res_id: str,
        current: StoredVersion | None,
        method: str,
        timestamp: int | None = None,
    ) -> Write:
        version_id = current.version_id + 1 if current else 1
        ts = timestamp if timestamp is not None else now_us()
        if current is not None and ts <= current.last_updated:
            ts = current.last_updated + 1  # lastUpdated never goes backwards for a resource
        content = finalize(resource, res_id, version_id, ts)
        return Write(res_type, res_id, version_id, ts, method, content, resource)

    def _update_in(
        self,
        uow: FhirUnitOfWork,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        expected: int | None,
        method: str,
        timestamp: int | None = None,
    ) -> WriteResult:
        current = uow.current(res_type, res_id)
        write = self.plan_update(res_type, res_id, resource, current, expected, method, timestamp)
        if write is None:
            assert current is not None
            return WriteResult(current, 200)
        uow.write([write])
        return WriteResult(write.stored(), 201 if current is None or current.deleted else 200)

    def plan_update(
        self,
        res_type: str,
        res_id: str,
        resource: dict[str, Any],
        current: StoredVersion | None,
        expected: int | None,
        method: str,
        timestamp: int | None = None,
    ) -> Write | None:
        """The version an update creates, or None if the content is unchanged."""
        if expected is not None:
            if current is None or current.deleted:
                raise PreconditionFailed(f"{res_type}/{res_id} does not exist (If-Match given)")
            if current.version_id != expected:
                raise PreconditionFailed(
                    f"version conflict: If-Match {expected}, current {current.version_id}"
                )
        if (
            current is not None
            and not current.deleted
            and _strip_meta(current.resource()) == _strip_meta(resource)
        ):
            return None  # no change: no new version (as HAPI FHIR and Blaze do)
        return self._new_version(resource, res_type, res_id, current, method, timestamp)

    def _delete_in(
        self, uow: FhirUnitOfWork, res_type: str, res_id: str, timestamp: int | None = None
    ) -> StoredVersion | None:
        current = uow.current(res_type, res_id)
        write = self.plan_delete(res_type, res_id, current, timestamp)
        if write is None:
            return current
        uow.write([write])
        return write.stored()

    def plan_delete(
        self,
        res_type: str,
        res_id: str,
        current: StoredVersion | None,
        timestamp: int | None = None,
    ) -> Write | None:
        """The deletion version for a current resource, or None if there is nothing to delete."""
        if current is None or current.deleted:
            return None
        ts = max(timestamp if timestamp is not None else now_us(), current.last_updated + 1)
        return Write(res_type, res_id, current.version_id + 1, ts, "DELETE", None, None)


def _lock_key(res_type: str, criteria: list[tuple[str, str]]) -> str:
    return res_type + "?" + "&".join(f"{k}={v}" for k, v in sorted(criteria))
