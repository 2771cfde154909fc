"""``genomseq genomics``: catalogue genomic files from the command line."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask.cli import with_appcontext

from common.errors import GenomseqError
from config.context import app_context
from ga4gh.catalogue.core.model import GenomicObject, Kind
from ga4gh.catalogue.ports import GenomicCatalogue


def _catalogue() -> GenomicCatalogue:
    from common import migrations
    from config.wiring.genomics import MIGRATIONS

    ctx = app_context()
    # Make sure the catalogue's tables exist (idempotent); Alembic's chatter is not news here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for mset in MIGRATIONS:
        migrations.upgrade(ctx.engine, mset)
    return ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]


def _add(object_id: str, file: Path, kind: Kind, dataset: str | None,
         reference: str | None) -> None:
    try:
        obj = _catalogue().add(
            object_id, file, kind=kind, dataset=dataset, reference_digest=reference,
            progress=True,
        )
    except GenomseqError as exc:
        raise click.ClickException(f"refused: {exc.message}") from exc
    click.echo(_summary(obj))


def _summary(obj: GenomicObject) -> str:
    parts = [
        f"{obj.id}: {obj.format.value} {obj.kind.value}, {obj.size:,} bytes",
        f"index {obj.index_format.value if obj.index_format else '-'}",
        f"md5 {obj.md5}",
    ]
    if obj.reference_digest:
        parts.append(f"reference {obj.reference_digest}")
    return "; ".join(parts)


_file = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
_dataset = click.option("--dataset", default=None, help="Dataset the file belongs to.")
_reference = click.option(
    "--reference", default=None, help="Sequence collection digest of the reference used."
)


@click.group("genomics")
def genomics() -> None:
    """Genome data center: catalogue of reads, variants and reference files."""


@genomics.command("add-reads")
@click.argument("object_id", metavar="ID")
@_file
@_dataset
@_reference
@with_appcontext
def add_reads(object_id: str, file: Path, dataset: str | None, reference: str | None) -> None:
    """Catalogue a BAM or CRAM file as ID (indexed with pysam if no index is beside it)."""
    _add(object_id, file, Kind.READS, dataset, reference)


@genomics.command("add-variants")
@click.argument("object_id", metavar="ID")
@_file
@_dataset
@_reference
@with_appcontext
def add_variants(object_id: str, file: Path, dataset: str | None, reference: str | None) -> None:
    """Catalogue a bgzipped VCF or a BCF file as ID (indexed if no index is beside it)."""
    _add(object_id, file, Kind.VARIANTS, dataset, reference)


@genomics.command("add-reference")
@_file
@click.option("--id", "object_id", default=None,
              help="Catalogue id (default: the file name without extensions).")
@_dataset
@with_appcontext
def add_reference(file: Path, object_id: str | None, dataset: str | None) -> None:
    """Catalogue a FASTA reference and register its sequences with refget if available."""
    if object_id is None:
        object_id = file.name
        for ext in (".gz", ".bgz", ".fasta", ".fa", ".fna"):
            object_id = object_id.removesuffix(ext)
    _add(object_id, file, Kind.REFERENCE, dataset, None)


@genomics.command("list")
@click.option("--kind", type=click.Choice([k.value for k in Kind]), default=None)
@click.option("--dataset", default=None)
@with_appcontext
def list_objects(kind: str | None, dataset: str | None) -> None:
    """List catalogued objects (id, kind, format, size, dataset, created)."""
    objects = _catalogue().list(kind=Kind(kind) if kind else None, dataset=dataset)
    for obj in objects:
        click.echo(
            "\t".join([
                obj.id, obj.kind.value, obj.format.value, str(obj.size), obj.dataset or "-",
                obj.created.isoformat(timespec="seconds"),
            ])
        )
    click.echo(f"{len(objects)} object(s)", err=True)


@genomics.command("remove")
@click.argument("object_id", metavar="ID")
@click.option("--force", is_flag=True,
              help="Also remove a reference whose sequences refget serves from its file.")
@with_appcontext
def remove(object_id: str, force: bool) -> None:
    """Remove an object from the catalogue and delete its stored files."""
    try:
        removed = _catalogue().remove(object_id, force=force)
    except GenomseqError as exc:
        raise click.ClickException(exc.message) from exc
    if not removed:
        raise click.ClickException(f"no genomic object with id {object_id!r}")
    click.echo(f"removed {object_id}")
