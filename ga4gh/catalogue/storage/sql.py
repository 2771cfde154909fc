"""SQL adapter of the catalogue records (SQLite and PostgreSQL through SQLAlchemy Core)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from common.db import write_transaction
from common.errors import Conflict, NotFound
from ga4gh.catalogue.core.model import FileFormat, GenomicObject, IndexFormat, Kind

metadata = MetaData()

genomic_object = Table(
    "genomic_object",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("md5", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(512), nullable=False),
    Column("index_key", String(512)),
    Column("index_format", String(8)),
    Column("aux_keys", Text, nullable=False),
    Column("dataset", String(128)),
    Column("donor_pseudonym", String(128)),
    Column("reference_digest", String(128)),
    Column("created", BigInteger, nullable=False),
)


def _micros(ts: datetime) -> int:
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(us: int) -> datetime:
    seconds, micros = divmod(us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


def _row(obj: GenomicObject) -> dict[str, Any]:
    return {
        "id": obj.id,
        "kind": obj.kind.value,
        "format": obj.format.value,
        "name": obj.name,
        "size": obj.size,
        "md5": obj.md5,
        "sha256": obj.sha256,
        "storage_key": obj.storage_key,
        "index_key": obj.index_key,
        "index_format": obj.index_format.value if obj.index_format else None,
        "aux_keys": " ".join(obj.aux_keys),
        "dataset": obj.dataset,
        "donor_pseudonym": obj.donor_pseudonym,
        "reference_digest": obj.reference_digest,
        "created": _micros(obj.created),
    }


def _object(row: Any) -> GenomicObject:
    return GenomicObject(
        id=row.id,
        kind=Kind(row.kind),
        format=FileFormat(row.format),
        name=row.name,
        size=row.size,
        md5=row.md5,
        sha256=row.sha256,
        storage_key=row.storage_key,
        index_key=row.index_key,
        index_format=IndexFormat(row.index_format) if row.index_format else None,
        aux_keys=tuple(row.aux_keys.split()),
        dataset=row.dataset,
        donor_pseudonym=row.donor_pseudonym,
        reference_digest=row.reference_digest,
        created=_from_micros(row.created),
    )


class SqlCatalogueRecords:
    """CatalogueRecords on the main database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert(self, obj: GenomicObject) -> None:
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(insert(genomic_object).values(**_row(obj)))
        except IntegrityError as exc:
            raise Conflict(f"a genomic object with id {obj.id!r} already exists") from exc

    def get(self, object_id: str) -> GenomicObject | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(genomic_object).where(genomic_object.c.id == object_id)
            ).first()
        return _object(row) if row else None

    def list(
        self,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[GenomicObject]:
        query = select(genomic_object).order_by(genomic_object.c.id)
        if kind is not None:
            query = query.where(genomic_object.c.kind == Kind(kind).value)
        if dataset is not None:
            query = query.where(genomic_object.c.dataset == dataset)
        if donor_pseudonym is not None:
            query = query.where(genomic_object.c.donor_pseudonym == donor_pseudonym)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._engine.connect() as conn:
            return [_object(r) for r in conn.execute(query)]

    def update(self, obj: GenomicObject) -> None:
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                update(genomic_object)
                .where(genomic_object.c.id == obj.id)
                .values(
                    dataset=obj.dataset,
                    donor_pseudonym=obj.donor_pseudonym,
                    reference_digest=obj.reference_digest,
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"no genomic object with id {obj.id!r}")

    def delete(self, object_id: str) -> bool:
        with write_transaction(self._engine) as conn:
            result = conn.execute(delete(genomic_object).where(genomic_object.c.id == object_id))
            return bool(result.rowcount)
