"""Ports of the refget component (``typing.Protocol``s found on the AppContext by type).

``SequenceRegistry`` is what other components use: the genomics catalogue calls
``ctx.find(SequenceRegistry).add_fasta(path)`` when a reference FASTA is added, and stores the
returned sequence collection digest (Sequence Collections 1.0.0, section 2) with the object.
``RefgetRepository`` and ``SequenceSource`` are the storage ports the core services use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from ga4gh.refget.core.model import Alias, CollectionRecord, RegisteredSequence, SequenceRecord

# Called with (sequence name, bases done, bases total) while a FASTA is registered.
ProgressCallback = Callable[[str, int, int], None]


class SequenceRegistry(Protocol):
    """Registers reference sequences so refget and seqcol serve them."""

    def add_fasta(
        self,
        path: Path,
        *,
        circular: Collection[str] = (),
        naming_authority: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Register every sequence of a FASTA file; return its sequence collection digest.

        The FASTA is indexed (``.fai``, built with pysam when missing) and must stay where it
        is: sequences are served from it. ``circular`` names the records that are circular
        (refget 2.0.0 circular sub-sequences); with ``naming_authority`` (e.g. ``insdc``)
        each record name is also registered as an alias ``<authority>:<name>``.
        Registering the same FASTA again is a no-op that returns the same digest.
        Raises ``common.errors.InvalidInput`` for unreadable or malformed FASTA.
        """
        ...

    def collection_sequences(self, digest: str) -> Sequence[RegisteredSequence]:
        """The sequences of a registered collection in FASTA order (NotFound if unknown)."""
        ...


class RefgetRepository(Protocol):
    """The catalogue of sequences, aliases, collections and seqcol attribute values."""

    def sequence_by_md5(self, md5: str) -> SequenceRecord | None: ...

    def sequence_by_ga4gh(self, ga4gh: str) -> SequenceRecord | None: ...

    def sequences_by_alias(self, naming_authority: str, alias: str) -> list[SequenceRecord]: ...

    def aliases(self, ga4gh: str) -> list[Alias]: ...

    def identifier_types(self) -> list[str]: ...

    def collection(self, digest: str) -> CollectionRecord | None: ...

    def attribute_values(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Canonical JSON values by attribute name for (name, level 1 digest) pairs."""
        ...

    def attribute(self, name: str, digest: str) -> str | None: ...

    def list_collections(
        self, filters: dict[str, str], page: int, page_size: int
    ) -> tuple[list[str], int]: ...

    def list_attribute_digests(
        self, name: str, page: int, page_size: int
    ) -> tuple[list[str], int]: ...


class SequenceSource(Protocol):
    """Reads bases of registered sequences from their indexed FASTA files."""

    def read(self, record: SequenceRecord, start: int, end: int) -> bytes:
        """Upper-case bases ``[start, end)`` of the record (0-based, half-open)."""
        ...

    def stream(
        self, record: SequenceRecord, start: int, end: int, chunk: int = ...
    ) -> Iterator[bytes]:
        """The same bases in chunks, so a whole chromosome never sits in memory."""
        ...
