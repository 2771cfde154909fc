"""Registration of reference FASTA files (the ``SequenceRegistry`` port).

Per-sequence MD5 and ``ga4gh`` digests come from ``refget.store.digest_fasta`` (the GA4GH
refget package, backed by gtars): sequences are upper-cased and digested as refget 2.0.0
"Checksum calculation" requires. The collection digest follows Sequence Collections 1.0.0
section 2 (``ga4gh.refget.core.seqcol``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from refget.store import digest_fasta

from common.errors import InvalidInput, NotFound
from ga4gh.refget.core.model import Alias, CollectionRecord, RegisteredSequence, SequenceRecord
from ga4gh.refget.core.seqcol import TRANSIENT, build_collection, canonical_json
from ga4gh.refget.ports import ProgressCallback
from ga4gh.refget.storage.fasta import ensure_index, read_index
from ga4gh.refget.storage.sql import SqlRefgetRepository

log = logging.getLogger("genomseq.refget")

_AUTHORITY = re.compile(r"[a-z][a-z0-9._-]{0,63}")


class FastaSequenceRegistry:
    """Registers indexed FASTA files in the SQL catalogue; bases stay in the files."""

    def __init__(self, repository: SqlRefgetRepository) -> None:
        self.repository = repository

    def add_fasta(
        self,
        path: Path,
        *,
        circular: Collection[str] = (),
        naming_authority: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Register every sequence of a FASTA file; return its sequence collection digest."""
        path = Path(path).resolve()
        if not path.is_file():
            raise InvalidInput(f"{path.name}: no such FASTA file")
        if naming_authority is not None and not _AUTHORITY.fullmatch(naming_authority):
            raise InvalidInput(
                "naming authority must be a lower-case identifiers.org prefix such as insdc"
            )
        ensure_index(path)
        index = read_index(path)
        if not index:
            raise InvalidInput(f"{path.name} holds no sequences")
        names = [name for name, _ in index]
        unknown = sorted(set(circular) - set(names))
        if unknown:
            raise InvalidInput(f"circular sequence(s) not in {path.name}: {', '.join(unknown)}")
        total = sum(length for _, length in index)
        if progress:
            # Digesting is the long step (one pass over the file): show its size first.
            progress("", 0, total)
        try:
            digested = digest_fasta(str(path))
        except Exception as exc:  # gtars raises plain exceptions for unreadable input
            raise InvalidInput(f"cannot digest {path.name}: {exc}") from exc
        metas = [s.metadata for s in digested.sequences]
        if [(m.name, int(m.length)) for m in metas] != index:
            # The .fai and the digest disagree: a stale index, or symbols the two readers
            # treat differently. Serving such a file would return bases that do not match
            # their digest.
            raise InvalidInput(
                f"{path.name}: the FASTA index does not match the sequences (rebuild the .fai)"
            )
        records: list[SequenceRecord] = []
        aliases: list[tuple[str, Alias]] = []
        done = 0
        circular_names = set(circular)
        for meta in metas:
            ga4gh = "SQ." + meta.sha512t24u
            records.append(
                SequenceRecord(
                    md5=meta.md5.lower(),
                    ga4gh=ga4gh,
                    length=int(meta.length),
                    circular=meta.name in circular_names,
                    fasta_path=str(path),
                    fasta_name=meta.name,
                )
            )
            if naming_authority:
                aliases.append((ga4gh, Alias(naming_authority, meta.name)))
            done += int(meta.length)
            if progress:
                progress(meta.name, done, total)
        collection = build_collection(
            [r.fasta_name for r in records], [r.length for r in records], [r.ga4gh for r in records]
        )
        attributes = {
            name: (collection.level1[name], canonical_json(collection.level2[name]))
            for name in collection.level2
            if name not in TRANSIENT
        }
        created = self.repository.register(
            records,
            aliases,
            CollectionRecord(
                digest=collection.digest,
                level1=collection.level1,
                n_sequences=collection.n_sequences,
                fasta_path=str(path),
            ),
            attributes,
        )
        log.info(
            "refget collection registered",
            extra={"collection": collection.digest, "sequences": len(records), "new": created},
        )
        return collection.digest

    def collection_sequences(self, digest: str) -> Sequence[RegisteredSequence]:
        """The sequences of a registered collection in FASTA order."""
        record = self.repository.collection(digest)
        if record is None:
            raise NotFound(f"no sequence collection {digest}")
        values = self.repository.attribute_values(
            (a, record.level1[a]) for a in ("names", "lengths", "sequences")
        )
        names = json.loads(values["names"])
        lengths = json.loads(values["lengths"])
        sequences = json.loads(values["sequences"])
        by_digest = self.repository.sequences_by_ga4gh(sequences)
        return [
            RegisteredSequence(name=n, length=int(n_len), md5=by_digest[s].md5, ga4gh=s)
            for n, n_len, s in zip(names, lengths, sequences, strict=True)
        ]
