"""Wiring of the refget component: refget 2.0.0 sequences and seqcol 1.0.0 collections."""

from __future__ import annotations

from flask import Flask

from common.http import register_error_renderer
from common.migrations import MigrationSet
from config.context import AppContext
from config.wiring import Component
from config.wiring.service_info import deployment_info
from ga4gh.refget.cli import refget_cli
from ga4gh.refget.core.seqcol_api import CollectionService
from ga4gh.refget.core.sequences import RefgetOptions, SequenceService
from ga4gh.refget.http.errors import render_refget, render_seqcol
from ga4gh.refget.http.seqcol import seqcol_blueprint
from ga4gh.refget.http.sequences import refget_blueprint
from ga4gh.refget.ports import SequenceRegistry
from ga4gh.refget.storage.fasta import FastaReader
from ga4gh.refget.storage.registry import FastaSequenceRegistry
from ga4gh.refget.storage.sql import SqlRefgetRepository
from ga4gh.service_info.core import ServiceType

MIGRATIONS = (MigrationSet("refget", "ga4gh.refget.storage.migrations"),)


def build_registry(ctx: AppContext) -> FastaSequenceRegistry:
    """The SequenceRegistry adapter on the main database."""
    return FastaSequenceRegistry(SqlRefgetRepository(ctx.engine))


def wire(app: Flask, ctx: AppContext) -> None:
    """Provide the SequenceRegistry port and register the refget and seqcol blueprints."""
    settings = ctx.settings
    repository = SqlRefgetRepository(ctx.engine)
    ctx.provide(SequenceRegistry, FastaSequenceRegistry(repository))  # type: ignore[type-abstract]
    public = settings.genomics.refget_public
    sequences = SequenceService(
        repository,
        FastaReader(),
        RefgetOptions(
            circular_supported=True,
            subsequence_limit=max(0, settings.genomics.refget_subsequence_limit),
        ),
    )
    refget_info = deployment_info(
        settings,
        id=f"{settings.service_id}.refget",
        name=f"{settings.service_name} refget",
        type=ServiceType(group="org.ga4gh", artifact="refget-sequence", version="2.0.0"),
        description="Reference sequences by checksum (GA4GH refget 2.0.0).",
    )
    seqcol_info = deployment_info(
        settings,
        id=f"{settings.service_id}.seqcol",
        name=f"{settings.service_name} sequence collections",
        type=ServiceType(group="org.ga4gh", artifact="refget-seqcol", version="1.0.0"),
        description="Sequence collections (GA4GH refget Sequence Collections 1.0.0).",
    )
    app.register_blueprint(refget_blueprint(sequences, refget_info, public=public))
    app.register_blueprint(
        seqcol_blueprint(CollectionService(repository), seqcol_info, public=public)
    )
    register_error_renderer(app, "/ga4gh/refget", render_refget)
    register_error_renderer(app, "/ga4gh/seqcol", render_seqcol)


def seed_demo(ctx: AppContext) -> list[str]:
    """Register a small generated reference (chr1, chr2, circular chrM) for `serve --demo`."""
    import random

    import pysam

    directory = ctx.settings.data_dir / "refget-demo"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "demo.fa"
    rng = random.Random(64)
    records = {"chr1": 20_000, "chr2": 12_000, "chrM": 1_659}
    with path.open("w") as fh:
        for name, length in records.items():
            seq = "".join(rng.choice("ACGT") for _ in range(length))
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, length, 60))
    pysam.faidx(str(path))
    registry = build_registry(ctx)
    digest = registry.add_fasta(path, circular=["chrM"], naming_authority="ucsc")
    chrm = next(s for s in registry.collection_sequences(digest) if s.name == "chrM")
    return [
        f"curl '{{base}}/ga4gh/refget/sequence/{chrm.md5}?start=1650&end=10'",
        "curl '{base}/ga4gh/refget/sequence/ucsc:chr1/metadata'",
        f"curl '{{base}}/ga4gh/seqcol/collection/{digest}?level=1'",
    ]


COMPONENT = Component(
    name="refget", wire=wire, migrations=MIGRATIONS, commands=(refget_cli,), seed_demo=seed_demo
)
