"""``genomseq refget``: register reference FASTA files and list sequence collections."""

from __future__ import annotations

from pathlib import Path

import click

from common.errors import GenomseqError


def _context():  # type: ignore[no-untyped-def]
    from common import migrations
    from config.app import build_context
    from config.settings import load_settings
    from config.wiring.refget import MIGRATIONS

    ctx = build_context(load_settings())
    for mset in MIGRATIONS:
        migrations.upgrade(ctx.engine, mset)
    return ctx


@click.group("refget")
def refget_cli() -> None:
    """Reference sequences (refget 2.0) and sequence collections (seqcol 1.0)."""


@refget_cli.command("load")
@click.argument(
    "fasta", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--circular",
    multiple=True,
    metavar="NAME",
    help="A circular sequence (e.g. chrM); repeat for several.",
)
@click.option(
    "--naming-authority",
    default=None,
    metavar="AUTHORITY",
    help="Register record names as aliases of this authority (e.g. insdc, ucsc).",
)
def load(fasta: tuple[Path, ...], circular: tuple[str, ...], naming_authority: str | None) -> None:
    """Register every sequence of indexed FASTA files (the .fai is built when missing)."""
    from tqdm import tqdm

    from config.wiring.refget import build_registry

    ctx = _context()
    registry = build_registry(ctx)
    failures = 0
    rows: list[tuple[str, int, int, str]] = []
    for path in fasta:
        bar = tqdm(total=0, unit="bp", unit_scale=True, desc=path.name, leave=False)

        def progress(_name: str, done: int, total: int, bar: tqdm = bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            digest = registry.add_fasta(
                path,
                circular=[c for c in circular],
                naming_authority=naming_authority,
                progress=progress,
            )
        except GenomseqError as exc:
            bar.close()
            failures += 1
            click.echo(f"error: {path}: {exc.message}", err=True)
            continue
        bar.close()
        seqs = registry.collection_sequences(digest)
        rows.append((digest, len(seqs), sum(s.length for s in seqs), str(path)))
        click.echo(f"{digest}  {len(seqs)} sequences  {path}")
    total_bp = sum(r[2] for r in rows)
    click.echo(
        f"loaded {len(rows)} of {len(fasta)} FASTA file(s): "
        f"{sum(r[1] for r in rows)} sequences, {total_bp:,} bp"
    )
    ctx.engine.dispose()
    if failures:
        raise SystemExit(1)


@refget_cli.command("list")
def list_collections() -> None:
    """List the registered sequence collections."""
    from ga4gh.refget.storage.sql import SqlRefgetRepository

    ctx = _context()
    collections = SqlRefgetRepository(ctx.engine).all_collections()
    if not collections:
        click.echo("no sequence collections registered")
    for c in collections:
        click.echo(f"{c.digest}  {c.n_sequences:>6} sequences  {c.fasta_path}")
    ctx.engine.dispose()
