"""Wiring of the Beacon v2 component: index adapter, service, blueprint, CLI and demo data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import text

from common.db import write_transaction
from common.errors import GenomseqError
from common.http import register_error_renderer
from common.migrations import MigrationSet
from config.context import AppContext, app_context
from config.settings import SettingsError
from config.wiring import Component
from ga4gh.beacon.core.access import AccessPolicy, Disclosure
from ga4gh.beacon.core.assemblies import normalise_assembly
from ga4gh.beacon.core.model import API_VERSION
from ga4gh.beacon.core.ports import (
    ClinicalFacts,
    LiveConsent,
    ReadFile,
    ResearchConsent,
    VariantFile,
    VariantFileSource,
)
from ga4gh.beacon.core.responses import BeaconIdentity
from ga4gh.beacon.core.service import BeaconService, BudgetRule
from ga4gh.beacon.http.blueprint import PREFIX, beacon_blueprint, error_renderer
from ga4gh.beacon.storage.adapters import (
    CatalogueVariantFiles,
    LinkedClinicalFacts,
    TrustCenterConsent,
)
from ga4gh.beacon.storage.budget import SqlQueryBudget
from ga4gh.beacon.storage.consent import LiveConsentTable
from ga4gh.beacon.storage.fhir_facts import FhirClinicalFacts
from ga4gh.beacon.storage.genes import load_genes
from ga4gh.beacon.storage.hpo import bundled_hpo
from ga4gh.beacon.storage.loader import (
    build_index,
    index_runs,
    record_sequence_digests,
    set_contig_digests,
)
from ga4gh.beacon.storage.refresh import refresh_individuals
from ga4gh.beacon.storage.sql import SqlBeaconIndex
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.refget.ports import SequenceRegistry
from trust_center.ports import ConsentService, PseudonymService

MIGRATIONS = (MigrationSet("beacon", "ga4gh.beacon.storage.migrations"),)


def build_service(ctx: AppContext) -> BeaconService:
    """The BeaconService for this deployment's settings."""
    s = ctx.settings
    b = s.beacon
    from config.wiring.service_info import deployment_info

    info = deployment_info(s)
    identity = BeaconIdentity(
        id=b.beacon_id or f"{s.service_id}.beacon",
        name=f"{s.service_name} Beacon",
        organization_id=s.service_id,
        organization_name=s.organization_name,
        organization_url=s.organization_url,
        environment=s.environment,
        version=info.version,
        description="Beacon v2 over the genome data center's variants and the pseudonymised "
                    "clinical data of consenting donors (Modellvorhaben Genomsequenzierung).",
    )
    try:
        policy = AccessPolicy.from_entries(
            b.default_security_level, b.dataset_security_levels,
            {"public": b.public_granularity, "registered": b.registered_granularity,
             "controlled": b.controlled_granularity})
        normalise_assembly(b.default_assembly)
    except (ValueError, KeyError, GenomseqError) as exc:
        raise SettingsError(f"beacon: {exc}: dataset_security_levels takes "
                            "dataset=public|registered|controlled, default_assembly GRCh37 or "
                            "GRCh38") from exc
    live = live_consent(ctx)
    return BeaconService(
        SqlBeaconIndex(ctx.engine, LiveConsentTable(ctx.engine, live) if live else None),
        identity, policy,
        Disclosure(b.count_threshold, b.small_count_policy, b.count_rounding),
        default_assembly=b.default_assembly,
        budget=SqlQueryBudget(ctx.engine),
        budget_rule=BudgetRule(b.query_budget, b.query_budget_window_seconds),
        default_limit=b.default_page_size,
        hpo=bundled_hpo,
    )


def wire(app: Flask, ctx: AppContext) -> None:
    """Register the Beacon blueprint and its error renderer; provide the service."""
    from config.wiring.service_info import deployment_info
    from ga4gh.service_info.core import ServiceType

    service = build_service(ctx)
    ctx.provide(BeaconService, service)
    info = deployment_info(
        ctx.settings, id=service.identity.id, name=service.identity.name,
        type=ServiceType(group="org.ga4gh", artifact="beacon", version=API_VERSION),
        description=service.identity.description)
    app.register_blueprint(beacon_blueprint(
        service, info.to_json(), (ctx.settings.beacon.default_page_size,
                                  ctx.settings.beacon.max_page_size),
        ctx.settings.public_base_url))
    register_error_renderer(app, PREFIX, error_renderer(service))
    _provide_adapters(ctx)


def _provide_adapters(ctx: AppContext) -> None:
    """Adapt the catalogue and the trust center's consent port when they are wired."""
    catalogue = ctx.find(GenomicCatalogue)  # type: ignore[type-abstract]
    if catalogue is not None and ctx.find(VariantFileSource) is None:  # type: ignore[type-abstract]
        ctx.provide(VariantFileSource, CatalogueVariantFiles(catalogue))  # type: ignore[type-abstract]
    consent = ctx.find(ConsentService)  # type: ignore[type-abstract]
    if consent is not None and ctx.find(ResearchConsent) is None:  # type: ignore[type-abstract]
        domain = "grz:" + ctx.settings.trust_center.genome_data_center_id
        ctx.provide(ResearchConsent, TrustCenterConsent(consent, domain))  # type: ignore[type-abstract]


def live_consent(ctx: AppContext) -> LiveConsent | None:
    """The trust center's consent (in-process or HTTP) as the Beacon's live consent port, in
    the genome data center's pseudonym domain; None if no trust center is wired."""
    consent = ctx.find(ConsentService)  # type: ignore[type-abstract]
    if consent is None:
        return None
    return TrustCenterConsent(consent, "grz:" + ctx.settings.trust_center.genome_data_center_id)


def clinical_facts(ctx: AppContext) -> ClinicalFacts:
    """Clinical facts port: a wired one, else the adapter over the FHIR tables; with a trust
    center, donors (genome data center domain) are found under the clinical data node's
    pseudonyms of the same case or person too."""
    facts = ctx.find(ClinicalFacts) or FhirClinicalFacts(  # type: ignore[type-abstract]
        ctx.engine, ctx.settings.beacon.pseudonym_identifier_system)
    pseudonyms = ctx.find(PseudonymService)  # type: ignore[type-abstract]
    tc = ctx.settings.trust_center
    if pseudonyms is None or not (tc.genome_data_center_id and tc.clinical_data_node_id):
        return facts
    return LinkedClinicalFacts(facts, pseudonyms, "grz:" + tc.genome_data_center_id,
                               "kdk:" + tc.clinical_data_node_id)


def research_consent(ctx: AppContext) -> ResearchConsent | None:
    """The consent port if the trust center provides one."""
    return ctx.find(ResearchConsent)  # type: ignore[type-abstract]


def record_collection_digests(ctx: AppContext, digests: set[str]) -> int:
    """Record refget digests of indexed contigs from the refget component's collections of
    the files' references (so queries may name sequences by digest)."""
    registry = ctx.find(SequenceRegistry)  # type: ignore[type-abstract]
    if registry is None or not digests:
        return 0
    items = []
    for digest in sorted(digests):
        try:
            items += [(s.name, s.length, s.md5, s.ga4gh)
                      for s in registry.collection_sequences(digest)]
        except GenomseqError:  # collection not registered here
            continue
    return record_sequence_digests(ctx.engine, items)


def refresh(ctx: AppContext) -> str:
    """Refresh the clinical facts snapshot and re-evaluate every individual's consent; a
    one-line summary."""
    table = _live_table(ctx)
    stats = refresh_individuals(ctx.engine, research_consent(ctx), clinical_facts(ctx),
                                require_consent=ctx.settings.beacon.require_consent,
                                today=dt.date.today(), hpo=bundled_hpo(),
                                update_consent=table is None)
    if table is not None:
        table.evaluate_all()
        with ctx.engine.connect() as conn:
            stats.consented = int(conn.execute(text(
                "SELECT COUNT(*) FROM beacon_individual WHERE research_consent = :y"),
                {"y": True}).scalar_one())
    return (f"{stats.individuals} individuals, {stats.consented} with research consent, "
            f"{stats.with_facts} with clinical data")


def _live_table(ctx: AppContext) -> LiveConsentTable | None:
    """The live consent table of the wired Beacon service (or a new one for the CLI)."""
    service = ctx.find(BeaconService)
    index = getattr(service, "index", None) if service is not None else None
    table = getattr(index, "consent", None)
    if isinstance(table, LiveConsentTable):
        return table
    live = live_consent(ctx)
    return LiveConsentTable(ctx.engine, live) if live is not None else None


@click.group("beacon")
def beacon_cli() -> None:
    """Beacon v2: variant index, consent/clinical snapshots, gene table."""


@beacon_cli.command("index")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Index this VCF/BCF instead of the catalogue (repeatable).")
@click.option("--reads", "reads", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Index this BAM/CRAM as a run (repeatable; with --file).")
@click.option("--dataset", default="default", show_default=True,
              help="Dataset of the --file and --reads files.")
@click.option("--donor", default=None, help="Donor pseudonym owning the --file files' samples.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="FASTA of the assembly: record refget/MD5 digests of indexed contigs.")
@click.option("--append", is_flag=True, help="Add to the index instead of rebuilding it.")
@with_appcontext
def index_command(files: tuple[str, ...], reads: tuple[str, ...], dataset: str,
                  donor: str | None, reference: str | None, append: bool) -> None:
    """Rebuild the variant index from catalogued VCF/BCF files (or the given files), and the
    runs from catalogued BAM/CRAM files (or the given --reads files)."""
    from tqdm import tqdm

    ctx = app_context()
    if files or reads:
        sources = [VariantFile(id=Path(f).name, dataset=dataset, path=str(Path(f).resolve()),
                               donor_pseudonym=donor) for f in files]
        read_files = [ReadFile(id=Path(f).name, dataset=dataset, path=str(Path(f).resolve()),
                               donor_pseudonym=donor) for f in reads]
    else:
        catalogue = ctx.find(VariantFileSource)  # type: ignore[type-abstract]
        if catalogue is None:
            raise click.ClickException("no genomics catalogue is wired: pass --file")
        sources = list(catalogue.variant_files())
        read_files = list(catalogue.read_files())
    with tqdm(unit=" records", unit_scale=True, desc="beacon index") as bar:
        stats = build_index(ctx.engine, sources, ctx.settings.beacon.default_assembly,
                            rebuild=not append, progress=bar.update)
    click.echo(f"indexed {stats.files} files: {stats.records} records, {stats.rows} rows in "
               f"{stats.seconds:.1f} s ({stats.records_per_second:,.0f} records/s)")
    runs = index_runs(ctx.engine, read_files)
    click.echo(f"indexed {runs} runs from {len(read_files)} read files")
    if reference:
        n = set_contig_digests(ctx.engine, reference, ctx.settings.beacon.default_assembly)
        click.echo(f"digests recorded for {n} contigs")
    n = record_collection_digests(ctx, {s.reference_digest for s in sources
                                        if s.reference_digest})
    if n:
        click.echo(f"digests of {n} contigs taken from registered sequence collections")
    click.echo("refreshed: " + refresh(ctx))


@beacon_cli.command("refresh")
@with_appcontext
def refresh_command() -> None:
    """Re-read consent (research use, today) and clinical facts of every indexed donor."""
    click.echo("refreshed: " + refresh(app_context()))


@beacon_cli.command("genes")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--assembly", default="GRCh38", show_default=True)
@with_appcontext
def genes_command(path: Path, assembly: str) -> None:
    """Load the gene table for geneId queries from GFF3 or GTF (gene features; symbol from
    gene_name, Name or gene) or BED (chrom, 0-based start, end, symbol), plain or gzipped.
    Replaces the table of that assembly."""
    try:
        assembly = normalise_assembly(assembly)
        n = load_genes(app_context().engine, path, assembly)
    except GenomseqError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"loaded {n} genes for {assembly}")


DEMO_DATASET = "beacon-demo"


def seed_demo(ctx: AppContext) -> list[str]:
    """Index a small synthetic VCF (dataset ``beacon-demo``) for `serve --demo`."""
    import random

    import pysam

    directory = ctx.settings.data_dir / "beacon-demo"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "demo.vcf.gz"
    header = pysam.VariantHeader()
    header.add_line("##reference=GRCh38")
    header.contigs.add("chr1", length=248956422)
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"),
                                     ("Description", "Genotype")])
    donors = [f"demo-donor-{i}" for i in range(1, 9)]
    for d in donors:
        header.add_sample(d)
    rng = random.Random(7)
    with pysam.VariantFile(str(path), "wz", header=header) as out:
        for pos in range(10_000, 60_000, 500):
            ref, alt = rng.sample("ACGT", 2)
            rec = out.new_record(contig="chr1", start=pos - 1, alleles=(ref, alt))
            for d in donors:
                rec.samples[d]["GT"] = rng.choice([(0, 0), (0, 0), (0, 1), (1, 1)])
            out.write(rec)
    build_index(ctx.engine, [VariantFile("beacon-demo.vcf.gz", DEMO_DATASET, str(path))],
                ctx.settings.beacon.default_assembly, rebuild=False)
    # Synthetic donors have no consent in the trust center; the demo marks them as consenting
    # with no scheduled re-evaluation (only these rows; the trust center's change feed never
    # names them). `genomseq beacon refresh` puts the real consent state back.
    table = _live_table(ctx)
    if table is not None:
        table.evaluate_all()  # start the feed here, so the first query does not redo it all
    with write_transaction(ctx.engine) as conn:
        conn.execute(text(
            "UPDATE beacon_individual SET research_consent = :yes, consent_until_us = NULL "
            "WHERE dataset_pk = (SELECT pk FROM beacon_dataset WHERE id = :d)"),
            {"yes": True, "d": DEMO_DATASET})
    return [
        f"curl '{{base}}{PREFIX}/g_variants?referenceName=1&start=9999&end=60000"
        "&requestedGranularity=count'",
        f"curl '{{base}}{PREFIX}/datasets/{DEMO_DATASET}/individuals?requestedGranularity=count'",
    ]


COMPONENT = Component(name="beacon", wire=wire, migrations=MIGRATIONS, commands=(beacon_cli,),
                      seed_demo=seed_demo)
