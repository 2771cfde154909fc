"""Plain records shared by the refget core, its storage and its HTTP room."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alias:
    """A name given to a sequence by a naming authority (refget 2.0.0, metadata ``aliases``)."""

    naming_authority: str
    alias: str


@dataclass(frozen=True)
class SequenceRecord:
    """A registered sequence: its digests and where its bases are read from."""

    md5: str  # 32 lower-case hex characters
    ga4gh: str  # "SQ." + sha512t24u (refget 2.0.0, "refget Checksum Algorithm")
    length: int
    circular: bool
    fasta_path: str
    fasta_name: str  # record name inside fasta_path
    aliases: tuple[Alias, ...] = field(default=())


@dataclass(frozen=True)
class RegisteredSequence:
    """One sequence of a registered collection, as other components see it."""

    name: str
    length: int
    md5: str
    ga4gh: str


@dataclass(frozen=True)
class CollectionRecord:
    """A stored sequence collection: its top-level digest and level 1 representation."""

    digest: str
    level1: dict[str, str]
    n_sequences: int
    fasta_path: str = ""
    created_at: int = 0
