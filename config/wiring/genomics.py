"""Wiring of the genomics component: catalogue, object storage, htsget and DRS."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from flask import Flask

from common.migrations import MigrationSet
from config.context import AppContext
from config.settings import Settings
from config.wiring import Component
from config.wiring.service_info import deployment_info
from ga4gh.catalogue.cli import genomics as genomics_cli
from ga4gh.catalogue.ports import GenomicCatalogue, ObjectStore
from ga4gh.catalogue.service import CatalogueService
from ga4gh.catalogue.storage.cache import CachedRecords, ChangeMarker
from ga4gh.catalogue.storage.sql import SqlCatalogueRecords
from ga4gh.service_info.core import ServiceInfo, ServiceType

MIGRATIONS = (MigrationSet("genomics", "ga4gh.catalogue.storage.migrations"),)


def storage_root(settings: Settings) -> Path:
    """Directory of the local object store."""
    return Path(settings.genomics.storage_dir or settings.data_dir / "genomics")


def make_object_store(settings: Settings) -> ObjectStore:
    """The configured ObjectStore adapter."""
    if settings.genomics.storage_backend == "s3":
        from ga4gh.catalogue.storage.s3 import S3ObjectStore

        g = settings.genomics
        return S3ObjectStore(
            bucket=g.s3_bucket, prefix=g.s3_prefix, endpoint_url=g.s3_endpoint_url or None,
            region=g.s3_region or None,
        )
    from ga4gh.catalogue.storage.local import LocalObjectStore

    return LocalObjectStore(storage_root(settings))


def _sequence_registry(ctx: AppContext) -> Any:
    """The refget component's SequenceRegistry if it exists and is wired, else None."""
    try:
        ports = importlib.import_module("ga4gh.refget.ports")
    except ImportError:
        return None
    port = getattr(ports, "SequenceRegistry", None)
    return ctx.find(port) if port is not None else None


def wire(app: Flask, ctx: AppContext) -> None:
    """Provide the catalogue and object store ports; register the htsget and DRS APIs."""
    settings = ctx.settings
    store = make_object_store(settings)
    staging = (
        storage_root(settings) / ".staging"
        if settings.genomics.storage_backend == "local"
        else settings.data_dir / "staging"
    )
    records = CachedRecords(
        SqlCatalogueRecords(ctx.engine),
        ChangeMarker(settings.data_dir / "genomics-catalogue.changed"),
        max_age=settings.genomics.catalogue_cache_seconds,
    )
    catalogue = CatalogueService(
        records,
        store,
        staging,
        progress_min_bytes=settings.genomics.progress_min_bytes,
        sequence_registry=lambda: _sequence_registry(ctx),
    )
    ctx.provide(ObjectStore, store)  # type: ignore[type-abstract]
    ctx.provide(GenomicCatalogue, catalogue)  # type: ignore[type-abstract]

    from ga4gh.htsget import http as htsget_http
    from ga4gh.htsget.service import HtsgetService

    htsget = HtsgetService(catalogue, store, settings.genomics.index_cache_size)
    ctx.provide(HtsgetService, htsget)
    htsget_http.register(app, htsget, store, htsget_service_info(settings))

    from ga4gh.drs import http as drs_http

    drs_http.register(app, catalogue, drs_service_info(settings))


def drs_service_info(settings: Settings) -> ServiceInfo:
    """service-info of the DRS API (type org.ga4gh:drs:1.4.0)."""
    return deployment_info(
        settings,
        id=f"{settings.service_id}.drs",
        name=f"{settings.service_name} DRS",
        type=ServiceType(group="org.ga4gh", artifact="drs", version="1.4.0"),
        description="GA4GH DRS 1.4 for catalogued genomic files (reads, variants, references).",
    )


def htsget_service_info(settings: Settings) -> ServiceInfo:
    """service-info of the htsget API (type org.ga4gh:htsget:1.3.0)."""
    return deployment_info(
        settings,
        id=f"{settings.service_id}.htsget",
        name=f"{settings.service_name} htsget",
        type=ServiceType(group="org.ga4gh", artifact="htsget", version="1.3.0"),
        description="htsget 1.3 tickets for catalogued BAM, CRAM, VCF and BCF files.",
    )


def seed_demo(ctx: AppContext) -> list[str]:
    """Catalogue small generated BAM, CRAM, VCF, BCF and FASTA files for `serve --demo`."""
    from ga4gh.catalogue.demo import make_genomic_files

    catalogue: GenomicCatalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    files = make_genomic_files(ctx.settings.data_dir / "genomics-demo")
    wanted = [
        ("demo-ref", files.fasta), ("demo-bam", files.bam), ("demo-cram", files.cram),
        ("demo-vcf", files.vcf), ("demo-bcf", files.bcf),
    ]
    for object_id, path in wanted:
        if catalogue.get(object_id) is None:
            catalogue.add(object_id, path, dataset="demo")
    return [
        "curl '{base}/ga4gh/htsget/v1/reads/demo-bam?referenceName=chr1&start=10000&end=20000'",
        "samtools view -c '{base}/ga4gh/htsget/v1/reads/demo-bam?referenceName=chr2'",
        "bcftools view -H '{base}/ga4gh/htsget/v1/variants/demo-vcf?referenceName=chr1"
        "&start=0&end=5000'",
        "curl '{base}/ga4gh/drs/v1/objects/demo-bcf'",
    ]


COMPONENT = Component(
    name="genomics", wire=wire, migrations=MIGRATIONS, commands=(genomics_cli,),
    seed_demo=seed_demo,
)
