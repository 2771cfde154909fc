"""The catalogue's object model: what the genome data center knows about one genomic file.

Formats and their index types follow the SAM/BAM (SAMv1 section 5), CRAM 3.1 (section 12,
CRAI), VCF 4.3 / BCF2 and tabix (SAMtools tabix.pdf) specifications.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from common.errors import InvalidInput


class Kind(StrEnum):
    """What a file holds; ``reads`` and ``variants`` are htsget's endpoint names."""

    READS = "reads"
    VARIANTS = "variants"
    REFERENCE = "reference"


class FileFormat(StrEnum):
    """Container formats the catalogue accepts."""

    BAM = "BAM"
    CRAM = "CRAM"
    VCF = "VCF"  # always BGZF-compressed (.vcf.gz): plain text cannot be indexed
    BCF = "BCF"
    FASTA = "FASTA"  # plain or BGZF-compressed


class IndexFormat(StrEnum):
    """Index file formats."""

    BAI = "BAI"
    CSI = "CSI"
    CRAI = "CRAI"
    TBI = "TBI"
    FAI = "FAI"


KIND_OF_FORMAT: dict[FileFormat, Kind] = {
    FileFormat.BAM: Kind.READS,
    FileFormat.CRAM: Kind.READS,
    FileFormat.VCF: Kind.VARIANTS,
    FileFormat.BCF: Kind.VARIANTS,
    FileFormat.FASTA: Kind.REFERENCE,
}

# Index suffixes a tool looks for next to the data file, in order of preference.
INDEX_SUFFIXES: dict[FileFormat, tuple[tuple[str, IndexFormat], ...]] = {
    FileFormat.BAM: ((".bai", IndexFormat.BAI), (".csi", IndexFormat.CSI)),
    FileFormat.CRAM: ((".crai", IndexFormat.CRAI),),
    FileFormat.VCF: ((".tbi", IndexFormat.TBI), (".csi", IndexFormat.CSI)),
    FileFormat.BCF: ((".csi", IndexFormat.CSI),),
    FileFormat.FASTA: ((".fai", IndexFormat.FAI),),
}

# Object identifiers appear in URL paths (htsget, DRS): one path segment, no escaping needed.
_RESERVED_IDS = frozenset({"service-info"})
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:-]{0,127}$")


def validate_object_id(object_id: str) -> str:
    """Return the id if it is a valid catalogue identifier, else raise InvalidInput."""
    if object_id in _RESERVED_IDS:
        raise InvalidInput(f"{object_id!r} is reserved (GA4GH service-info) and cannot be an id")
    if not _ID_RE.match(object_id or ""):
        raise InvalidInput(
            "object id must be 1-128 characters of letters, digits, '.', '_', '~', ':' or '-' "
            "and start with a letter or digit"
        )
    return object_id


@dataclass(frozen=True)
class GenomicObject:
    """One catalogued genomic file and where its bytes and index live."""

    id: str
    kind: Kind
    format: FileFormat
    # File name as stored (the basename given at ingest); DRS ``name``.
    name: str
    size: int
    md5: str
    sha256: str
    # Key of the data file in the ObjectStore.
    storage_key: str
    index_key: str | None = None
    index_format: IndexFormat | None = None
    dataset: str | None = None
    # Dataset pseudonym of the donor (set by the GRZ intake through the trust center).
    donor_pseudonym: str | None = None
    # Sequence collection digest (GA4GH seqcol level-0) of the reference the file refers to.
    reference_digest: str | None = None
    # Extra index-like files stored beside the data file (e.g. the .gzi of a bgzipped FASTA).
    aux_keys: tuple[str, ...] = ()
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def with_changes(self, **changes: object) -> GenomicObject:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
