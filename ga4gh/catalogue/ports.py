"""Ports the catalogue offers to other components (find them with ``ctx.find(...)``).

- :class:`GenomicCatalogue`: ingest, look up, list and remove genomic files.
- :class:`ObjectStore`: the bytes of catalogued files (local disk or S3).
- :class:`ReadPolicy`: the one place that decides whether a principal may read an object;
  the passport component replaces the default (scope based) with grant checks.
- :class:`PassportAuth`: turns GA4GH passports sent in a request body (DRS 1.4 ``POST
  /objects/{id}``) into a Principal; provided by the passport component's clearinghouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from common.auth import Principal
from ga4gh.catalogue.core.model import GenomicObject, Kind
from ga4gh.catalogue.storage.ports import ObjectStore

__all__ = ["GenomicCatalogue", "ObjectStore", "PassportAuth", "ReadPolicy"]


class GenomicCatalogue(Protocol):
    """The catalogue of genomic objects: the API other components use."""

    def add(
        self,
        object_id: str,
        source: Path,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        reference_digest: str | None = None,
        progress: bool = False,
    ) -> GenomicObject:
        """Validate, index (if no index is beside it), checksum and store a file; record it.

        ``kind`` is checked against the detected format when given. Raises
        ``common.errors.Conflict`` if the id exists and ``InvalidInput`` (``BadFile``) for
        bad or truncated files; on any failure nothing is left behind.
        """
        ...

    def get(self, object_id: str) -> GenomicObject | None:
        """The catalogued object with this id, or None."""
        ...

    def list(
        self,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[GenomicObject]:
        """Catalogued objects in id order, optionally filtered."""
        ...

    def annotate(
        self,
        object_id: str,
        *,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        reference_digest: str | None = None,
    ) -> GenomicObject:
        """Set dataset, donor pseudonym or reference digest (None leaves a field unchanged)."""
        ...

    def remove(self, object_id: str, *, force: bool = False) -> bool:
        """Remove the record and the stored data and index files; False if unknown.

        Raises ``common.errors.Conflict`` for a reference registered with refget (its
        sequences are served from the stored file) unless ``force``.
        """
        ...

    def local_path(self, obj: GenomicObject) -> Path | None:
        """Local path of the data file (index beside it with its usual suffix), if on disk."""
        ...


class ReadPolicy(Protocol):
    """Decides whether a principal may read the bytes of a catalogued object."""

    def may_read(self, principal: Principal, obj: GenomicObject) -> bool:
        """True if the principal may read this object."""
        ...


class PassportAuth(Protocol):
    """Verifies GA4GH passports presented in a request body (DRS ``PassportAuth``)."""

    max_passports: int
    max_passport_bytes: int

    def passport_issuers(self) -> tuple[str, ...]:
        """Visa issuers whose passports and visas are trusted (DRS ``passport_auth_issuers``)."""
        ...

    def bearer_issuers(self) -> tuple[str, ...]:
        """Issuers of the bearer access tokens accepted (DRS ``bearer_auth_issuers``)."""
        ...

    def principal(self, passports: Sequence[str]) -> Principal:
        """The principal the passports speak for; raises Unauthenticated (or
        PayloadTooLarge) when any of them does not verify."""
        ...
