"""SQL catalogue of refget sequences and sequence collections (SQLite and PostgreSQL).

Tables are created by the ``refget`` Alembic migrations; this module only describes them for
SQLAlchemy Core queries. Rows are immutable once written: a sequence or a collection is
identified by its content digest, so registering the same data twice changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from common.db import write_transaction
from ga4gh.refget.core.model import Alias, CollectionRecord, SequenceRecord
from ga4gh.refget.core.seqcol import ATTRIBUTES

metadata = sa.MetaData()

sequence_table = sa.Table(
    "refget_sequence",
    metadata,
    sa.Column("ga4gh", sa.String(67), primary_key=True),
    sa.Column("md5", sa.String(32), nullable=False),
    sa.Column("length", sa.BigInteger(), nullable=False),
    sa.Column("circular", sa.Boolean(), nullable=False),
    sa.Column("fasta_path", sa.Text(), nullable=False),
    sa.Column("fasta_name", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

alias_table = sa.Table(
    "refget_alias",
    metadata,
    sa.Column("naming_authority", sa.String(64), primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("ga4gh", sa.String(67), primary_key=True),
)

collection_table = sa.Table(
    "refget_collection",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    *(sa.Column(a, sa.String(64), nullable=False) for a in ATTRIBUTES),
    sa.Column("n_sequences", sa.Integer(), nullable=False),
    sa.Column("fasta_path", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

attribute_table = sa.Table(
    "refget_attribute",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

_SEQ_COLS = (
    sequence_table.c.md5,
    sequence_table.c.ga4gh,
    sequence_table.c.length,
    sequence_table.c.circular,
    sequence_table.c.fasta_path,
    sequence_table.c.fasta_name,
)


def _now_us() -> int:
    return time.time_ns() // 1000


def _sequence(row: sa.Row) -> SequenceRecord:
    return SequenceRecord(
        md5=row.md5,
        ga4gh=row.ga4gh,
        length=int(row.length),
        circular=bool(row.circular),
        fasta_path=row.fasta_path,
        fasta_name=row.fasta_name,
    )


def _collection(row: sa.Row) -> CollectionRecord:
    return CollectionRecord(
        digest=row.digest,
        level1={a: getattr(row, a) for a in ATTRIBUTES},
        n_sequences=int(row.n_sequences),
        fasta_path=row.fasta_path,
        created_at=int(row.created_at),
    )


class SqlRefgetRepository:
    """The refget catalogue on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_md5 = sa.select(*_SEQ_COLS).where(sequence_table.c.md5 == sa.bindparam("v"))
        self._by_ga4gh = sa.select(*_SEQ_COLS).where(sequence_table.c.ga4gh == sa.bindparam("v"))

    # -- sequences -------------------------------------------------------------------------

    def sequence_by_md5(self, md5: str) -> SequenceRecord | None:
        """The sequence with this MD5 (lower-case hex), if registered."""
        with self.engine.connect() as conn:
            row = conn.execute(self._by_md5, {"v": md5}).first()
        return _sequence(row) if row else None

    def sequence_by_ga4gh(self, ga4gh: str) -> SequenceRecord | None:
        """The sequence with this ``SQ.`` digest, if registered."""
        with self.engine.connect() as conn:
            row = conn.execute(self._by_ga4gh, {"v": ga4gh}).first()
        return _sequence(row) if row else None

    def sequences_by_alias(self, naming_authority: str, alias: str) -> list[SequenceRecord]:
        """Every sequence a naming authority calls ``alias`` (more than one is a conflict)."""
        query = (
            sa.select(*_SEQ_COLS)
            .join(alias_table, alias_table.c.ga4gh == sequence_table.c.ga4gh)
            .where(alias_table.c.naming_authority == naming_authority)
            .where(alias_table.c.alias == alias)
            .order_by(sequence_table.c.ga4gh)
        )
        with self.engine.connect() as conn:
            return [_sequence(r) for r in conn.execute(query)]

    def aliases(self, ga4gh: str) -> list[Alias]:
        """Aliases of a sequence, ordered by authority and name."""
        query = (
            sa.select(alias_table.c.naming_authority, alias_table.c.alias)
            .where(alias_table.c.ga4gh == ga4gh)
            .order_by(alias_table.c.naming_authority, alias_table.c.alias)
        )
        with self.engine.connect() as conn:
            return [Alias(r.naming_authority, r.alias) for r in conn.execute(query)]

    def identifier_types(self) -> list[str]:
        """Naming authorities of the registered aliases (service-info ``identifier_types``)."""
        query = (
            sa.select(alias_table.c.naming_authority)
            .distinct()
            .order_by(alias_table.c.naming_authority)
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def sequences_by_ga4gh(self, digests: Iterable[str]) -> dict[str, SequenceRecord]:
        """Registered sequences among the given digests."""
        wanted = sorted(set(digests))
        found: dict[str, SequenceRecord] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                query = sa.select(*_SEQ_COLS).where(sequence_table.c.ga4gh.in_(wanted[i : i + 500]))
                found.update((r.ga4gh, _sequence(r)) for r in conn.execute(query))
        return found

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        sequences: Sequence[SequenceRecord],
        aliases: Sequence[tuple[str, Alias]],
        collection: CollectionRecord,
        attributes: dict[str, tuple[str, str]],
    ) -> bool:
        """Store sequences, aliases, a collection and its attribute values in one transaction.

        ``attributes`` maps attribute name to (level 1 digest, canonical JSON). Returns False
        when the collection was already registered. A concurrent registration of the same
        content can collide on a key; the transaction is then retried once.
        """
        for attempt in (1, 2):
            try:
                return self._register(sequences, aliases, collection, attributes)
            except IntegrityError:
                if attempt == 2:
                    raise
        return False  # pragma: no cover

    def _register(
        self,
        sequences: Sequence[SequenceRecord],
        aliases: Sequence[tuple[str, Alias]],
        collection: CollectionRecord,
        attributes: dict[str, tuple[str, str]],
    ) -> bool:
        now = _now_us()
        with write_transaction(self.engine) as conn:
            existing: dict[str, SequenceRecord] = {}
            digests = sorted({s.ga4gh for s in sequences})
            for i in range(0, len(digests), 500):
                rows = conn.execute(
                    sa.select(*_SEQ_COLS).where(sequence_table.c.ga4gh.in_(digests[i : i + 500]))
                )
                existing.update((r.ga4gh, _sequence(r)) for r in rows)
            new_rows = []
            for seq in {s.ga4gh: s for s in sequences}.values():
                old = existing.get(seq.ga4gh)
                if old is None:
                    new_rows.append(
                        {
                            "ga4gh": seq.ga4gh,
                            "md5": seq.md5,
                            "length": seq.length,
                            "circular": seq.circular,
                            "fasta_path": seq.fasta_path,
                            "fasta_name": seq.fasta_name,
                            "created_at": now,
                        }
                    )
                    continue
                changes: dict[str, object] = {}
                if seq.circular and not old.circular:
                    changes["circular"] = True
                if old.fasta_path != seq.fasta_path and not _readable(old.fasta_path):
                    # The first file this sequence came from is gone: serve it from this one.
                    changes.update(fasta_path=seq.fasta_path, fasta_name=seq.fasta_name)
                if changes:
                    conn.execute(
                        sequence_table.update()
                        .where(sequence_table.c.ga4gh == seq.ga4gh)
                        .values(**changes)
                    )
            if new_rows:
                conn.execute(sequence_table.insert(), new_rows)
            if aliases:
                have = {
                    (r.naming_authority, r.alias, r.ga4gh)
                    for r in conn.execute(
                        sa.select(alias_table).where(
                            alias_table.c.ga4gh.in_({g for g, _ in aliases})
                        )
                    )
                }
                alias_rows = [
                    {"naming_authority": a.naming_authority, "alias": a.alias, "ga4gh": g}
                    for g, a in dict.fromkeys(aliases)
                    if (a.naming_authority, a.alias, g) not in have
                ]
                if alias_rows:
                    conn.execute(alias_table.insert(), alias_rows)
            known = conn.execute(
                sa.select(collection_table.c.digest).where(
                    collection_table.c.digest == collection.digest
                )
            ).first()
            if known:
                return False
            have_attrs = {
                (r.name, r.digest)
                for r in conn.execute(
                    sa.select(attribute_table.c.name, attribute_table.c.digest).where(
                        attribute_table.c.digest.in_({d for d, _ in attributes.values()})
                    )
                )
            }
            attr_rows = [
                {"name": name, "digest": digest, "value": value}
                for name, (digest, value) in attributes.items()
                if (name, digest) not in have_attrs
            ]
            if attr_rows:
                conn.execute(attribute_table.insert(), attr_rows)
            conn.execute(
                collection_table.insert(),
                {
                    "digest": collection.digest,
                    **collection.level1,
                    "n_sequences": collection.n_sequences,
                    "fasta_path": collection.fasta_path,
                    "created_at": now,
                },
            )
        return True

    # -- sequence collections --------------------------------------------------------------

    def collection(self, digest: str) -> CollectionRecord | None:
        """The collection with this top-level digest."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(collection_table).where(collection_table.c.digest == digest)
            ).first()
        return _collection(row) if row else None

    def attribute_values(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Canonical JSON values by attribute name for (name, digest) pairs."""
        wanted = dict(pairs)  # name -> digest
        if not wanted:
            return {}
        query = sa.select(
            attribute_table.c.name, attribute_table.c.digest, attribute_table.c.value
        ).where(attribute_table.c.digest.in_(set(wanted.values())))
        with self.engine.connect() as conn:
            return {r.name: r.value for r in conn.execute(query) if wanted.get(r.name) == r.digest}

    def attribute(self, name: str, digest: str) -> str | None:
        """Canonical JSON of one attribute value."""
        query = sa.select(attribute_table.c.value).where(
            attribute_table.c.name == name, attribute_table.c.digest == digest
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return row[0] if row else None

    def list_collections(
        self, filters: dict[str, str], page: int, page_size: int
    ) -> tuple[list[str], int]:
        """One page of collection digests matching every (attribute, level 1 digest) filter."""
        conditions = [collection_table.c[name] == value for name, value in filters.items()]
        count = sa.select(sa.func.count()).select_from(collection_table).where(*conditions)
        query = (
            sa.select(collection_table.c.digest)
            .where(*conditions)
            .order_by(collection_table.c.digest)
            .limit(page_size)
            .offset(page * page_size)
        )
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            return [r[0] for r in conn.execute(query)], total

    def list_attribute_digests(self, name: str, page: int, page_size: int) -> tuple[list[str], int]:
        """One page of the level 1 digests stored for an attribute."""
        where = attribute_table.c.name == name
        count = sa.select(sa.func.count()).select_from(attribute_table).where(where)
        query = (
            sa.select(attribute_table.c.digest)
            .where(where)
            .order_by(attribute_table.c.digest)
            .limit(page_size)
            .offset(page * page_size)
        )
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            return [r[0] for r in conn.execute(query)], total

    def all_collections(self) -> list[CollectionRecord]:
        """Every collection, oldest first (CLI listing)."""
        query = sa.select(collection_table).order_by(
            collection_table.c.created_at, collection_table.c.digest
        )
        with self.engine.connect() as conn:
            return [_collection(r) for r in conn.execute(query)]


def _readable(path: str) -> bool:
    import os

    return os.access(path, os.R_OK)
