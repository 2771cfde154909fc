"""GA4GH DRS 1.4 (data-repository-service-schemas, openapi/components/schemas): the
``DrsObject``, ``AccessMethod`` and ``AccessURL`` of a catalogued genomic file.

Access methods: ``https`` (access id ``https``: a short-lived signed byte-range URL of the
whole file, minted by ``/access/https`` after an authorization check) and, for reads and
variants, ``htsget`` (the matching htsget 1.3 ticket endpoint, used with the caller's own
bearer token).
"""

from __future__ import annotations

from typing import Any

from common.errors import NotFound
from ga4gh.catalogue.core.model import FileFormat, GenomicObject, Kind

HTTPS_ACCESS_ID = "https"
MIME_TYPES = {
    FileFormat.BAM: "application/vnd.ga4gh.bam",
    FileFormat.CRAM: "application/vnd.ga4gh.cram",
    FileFormat.VCF: "application/vnd.ga4gh.vcf",
    FileFormat.BCF: "application/vnd.ga4gh.bcf",
    FileFormat.FASTA: "text/x-fasta",
}


def _rfc3339(obj: GenomicObject) -> str:
    return obj.created.isoformat(timespec="seconds").replace("+00:00", "Z")


def drs_object(obj: GenomicObject, *, host: str, base_url: str) -> dict[str, Any]:
    """The DrsObject JSON of a catalogued file (a blob: no ``contents``)."""
    methods: list[dict[str, Any]] = [{"type": "https", "access_id": HTTPS_ACCESS_ID}]
    if obj.kind in (Kind.READS, Kind.VARIANTS):
        methods.append({
            "type": "htsget",
            "access_url": {"url": f"{base_url}/ga4gh/htsget/v1/{obj.kind.value}/{obj.id}"},
        })
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
