"""Refget Sequences 2.0.0 (ga4gh/refget docs/sequences, hts-specs refget.md): sequence lookup
by identifier, sub-sequence planning, metadata and the service-info ``refget`` block."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common.errors import Conflict, NotFound
from ga4gh.refget.core.identifiers import ga4gh_to_trunc512, parse_identifier
from ga4gh.refget.core.model import SequenceRecord
from ga4gh.refget.core.subsequence import Slice, plan_slice
from ga4gh.refget.ports import RefgetRepository, SequenceSource

ALGORITHMS = ("md5", "ga4gh", "trunc512")
# Slices up to this size are read in one piece; larger ones are streamed.
SMALL = 1 << 16


@dataclass(frozen=True)
class RefgetOptions:
    """Server capabilities published in service-info."""

    circular_supported: bool = True
    subsequence_limit: int = 0  # < 1: no limit


class SequenceService:
    """Resolves identifiers and serves (sub-)sequences and metadata."""

    def __init__(
        self, repository: RefgetRepository, source: SequenceSource, options: RefgetOptions
    ) -> None:
        self.repository = repository
        self.source = source
        self.options = options

    def resolve(self, identifier: str) -> SequenceRecord:
        """The sequence an identifier names: NotFound, or Conflict for an ambiguous alias."""
        parsed = parse_identifier(identifier)
        record: SequenceRecord | None = None
        if parsed.kind == "md5":
            record = self.repository.sequence_by_md5(parsed.value)
        elif parsed.kind == "ga4gh":
            record = self.repository.sequence_by_ga4gh(parsed.value)
        elif parsed.kind == "alias":
            found = self.repository.sequences_by_alias(parsed.naming_authority, parsed.value)
            if len(found) > 1:
                raise Conflict(
                    f"{identifier} names {len(found)} different sequences; use a digest: "
                    + ", ".join(r.ga4gh for r in found)
                )
            record = found[0] if found else None
        if record is None:
            raise NotFound("no sequence is known by this identifier")
        return record

    def plan(
        self,
        record: SequenceRecord,
        start: str | None,
        end: str | None,
        range_header: str | None,
    ) -> Slice:
        """Validate a sub-sequence request for this sequence."""
        return plan_slice(
            record.length,
            circular=record.circular,
            circular_supported=self.options.circular_supported,
            start=start,
            end=end,
            range_header=range_header,
            subsequence_limit=self.options.subsequence_limit,
        )

    def read_small(self, record: SequenceRecord, plan: Slice) -> bytes | None:
        """The bases of a small slice in one piece, or None if it should be streamed."""
        if plan.size > SMALL:
            return None
        return b"".join(self.source.read(record, s, e) for s, e in plan.segments)

    def stream(self, record: SequenceRecord, plan: Slice) -> Iterator[bytes]:
        """The bases of a slice in chunks."""
        for start, end in plan.segments:
            yield from self.source.stream(record, start, end)

    def metadata(self, record: SequenceRecord, *, v1: bool = False) -> dict[str, Any]:
        """The ``metadata`` object (refget 2.0.0; with ``v1`` the 1.0.0 field set)."""
        aliases = [
            {"alias": a.alias, "naming_authority": a.naming_authority}
            for a in self.repository.aliases(record.ga4gh)
        ]
        if v1:
            doc: dict[str, Any] = {
                "md5": record.md5,
                "trunc512": ga4gh_to_trunc512(record.ga4gh),
                "length": record.length,
                "aliases": aliases,
            }
        else:
            doc = {
                "md5": record.md5,
                "ga4gh": record.ga4gh,
                "length": record.length,
                "aliases": aliases,
            }
        return {"metadata": doc}

    def refget_block(self) -> dict[str, Any]:
        """The ``refget`` object of ``/sequence/service-info``."""
        return {
            "circular_supported": self.options.circular_supported,
            "subsequence_limit": self.options.subsequence_limit or None,
            "algorithms": list(ALGORITHMS),
            "identifier_types": self.repository.identifier_types(),
        }

    def service_v1(self) -> dict[str, Any]:
        """Refget 1.0.0 service-info (``{"service": ...}``) for clients that ask for v1."""
        return {
            "service": {
                "circular_supported": self.options.circular_supported,
                "algorithms": list(ALGORITHMS),
                "subsequence_limit": self.options.subsequence_limit or None,
                "supported_api_versions": ["1.0.0", "2.0.0"],
            }
        }
