"""GA4GH DRS 1.4 (data-repository-service-schemas, openapi/components/schemas): the
``DrsObject``, ``AccessMethod`` and ``AccessURL`` of a catalogued genomic file.

Access methods: ``https`` (access id ``https``: a short-lived signed byte-range URL of the
whole file, minted by ``/access/https`` after an authorization check) and, for reads and
variants, ``htsget`` (the matching htsget 1.3 ticket endpoint, used with the caller's own
bearer token).

Authorization (DRS 1.4 ``Authorizations``, returned by ``OPTIONS /objects/{id}`` and, with
authorization on, in every access method): ``PassportAuth`` (passports in the body of ``POST
/objects/{id}`` and ``POST /objects/{id}/access/{access_id}``) and ``BearerAuth`` (this
broker's access tokens). The htsget method takes bearer tokens only (htsget has no body).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput, NotFound, PayloadTooLarge
from ga4gh.catalogue.core.model import FileFormat, GenomicObject, Kind

HTTPS_ACCESS_ID = "https"
MIME_TYPES = {
    FileFormat.BAM: "application/vnd.ga4gh.bam",
    FileFormat.CRAM: "application/vnd.ga4gh.cram",
    FileFormat.VCF: "application/vnd.ga4gh.vcf",
    FileFormat.BCF: "application/vnd.ga4gh.bcf",
    FileFormat.FASTA: "text/x-fasta",
}


@dataclass(frozen=True)
class AuthInfo:
    """What this deployment accepts: the inputs of the DRS ``Authorizations`` object."""

    enabled: bool
    passport_issuers: tuple[str, ...] = ()
    bearer_issuers: tuple[str, ...] = ()

    def authorizations(self, object_id: str | None = None, *,
                       passports: bool = True) -> dict[str, Any]:
        """The DRS ``Authorizations`` object (``supported_types`` ``None`` when off)."""
        doc: dict[str, Any] = {} if object_id is None else {"drs_object_id": object_id}
        if not self.enabled:
            doc["supported_types"] = ["None"]
            return doc
        types: list[str] = []
        if passports and self.passport_issuers:
            types.append("PassportAuth")
            doc["passport_auth_issuers"] = list(self.passport_issuers)
        types.append("BearerAuth")
        if self.bearer_issuers:
            doc["bearer_auth_issuers"] = list(self.bearer_issuers)
        doc["supported_types"] = types
        return doc


def parse_post_body(body: Any, *, max_passports: int,
                    allow_expand: bool) -> tuple[bool, list[str]]:
    """``expand`` and ``passports`` of a DRS ``PostObjectBody`` / ``PostAccessURLBody``."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    expand = body.get("expand", False)
    if allow_expand and not isinstance(expand, bool):
        raise InvalidInput("expand must be a boolean")
    passports = body.get("passports", [])
    if not isinstance(passports, list) or not all(isinstance(p, str) and p for p in passports):
        raise InvalidInput("passports must be an array of encoded JWTs (strings)")
    if len(passports) > max_passports:
        raise PayloadTooLarge(f"at most {max_passports} passports per request")
    return bool(expand), passports


def _rfc3339(obj: GenomicObject) -> str:
    return obj.created.isoformat(timespec="seconds").replace("+00:00", "Z")


def drs_object(obj: GenomicObject, *, host: str, base_url: str,
               auth: AuthInfo | None = None) -> dict[str, Any]:
    """The DrsObject JSON of a catalogued file (a blob: no ``contents``)."""
    methods: list[dict[str, Any]] = [{"type": "https", "access_id": HTTPS_ACCESS_ID}]
    if obj.kind in (Kind.READS, Kind.VARIANTS):
        methods.append({
            "type": "htsget",
            "access_url": {"url": f"{base_url}/ga4gh/htsget/v1/{obj.kind.value}/{obj.id}"},
        })
    if auth is not None and auth.enabled:
        for method in methods:
            method["authorizations"] = auth.authorizations(
                obj.id, passports=method["type"] != "htsget")
    doc: dict[str, Any] = {
        "id": obj.id,
        "name": obj.name,
        "self_uri": f"drs://{host}/{obj.id}",
        "size": obj.size,
        "created_time": _rfc3339(obj),
        "updated_time": _rfc3339(obj),
        "version": obj.sha256[:16],
        "mime_type": MIME_TYPES[obj.format],
        "checksums": [
            {"checksum": obj.sha256, "type": "sha-256"},
            {"checksum": obj.md5, "type": "md5"},
        ],
        "access_methods": methods,
        "description": f"{obj.format.value} {obj.kind.value}"
        + (f" of dataset {obj.dataset}" if obj.dataset else ""),
    }
    return doc


def check_access_id(obj: GenomicObject, access_id: str) -> None:
    """Raise NotFound unless the access id belongs to the object."""
    if access_id != HTTPS_ACCESS_ID:
        raise NotFound(f"object {obj.id!r} has no access method {access_id!r}")
