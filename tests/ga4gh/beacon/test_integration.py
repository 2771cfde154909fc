"""The Beacon with the real neighbours: the genomics catalogue as the source of VCF/BCF files
(`genomseq beacon index` without --file) and the trust center's ConsentService."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from ga4gh.beacon.core.ports import ResearchConsent, VariantFileSource
from ga4gh.beacon.storage.adapters import TrustCenterConsent
from ga4gh.beacon.storage.refresh import refresh_individuals
from ga4gh.catalogue.ports import GenomicCatalogue
from tests.ga4gh.beacon.conftest import FakeFacts
from tests.ga4gh.beacon.test_queries import run_cli

B = "/ga4gh/beacon/v2"


@pytest.fixture()
def catalogue(ctx) -> Iterator[GenomicCatalogue]:
    """The real catalogue; objects a test adds are removed again (their files live in the
    session's data directory, which the catalogue tests expect to find empty)."""
    cat = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    before = {o.id for o in cat.list()}
    yield cat
    for obj in cat.list():
        if obj.id not in before:
            cat.remove(obj.id)


class RecordingConsentService:
    """Stands in for trust_center.ports.ConsentService.permitted (default deny for 'P2')."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dt.date]] = []

    def permitted(self, domain, pseudonyms, purpose, on=None):
        self.calls += [(domain, p, str(purpose), on) for p in pseudonyms]
        return frozenset(p for p in pseudonyms if p != "P2")


def test_index_from_catalogue_and_trust_center_consent(app, ctx, client, vcfs, bams,
                                                       tmp_path, catalogue) -> None:
    source = tmp_path / "donor.vcf.gz"
    shutil.copy(vcfs["ds-public"], source)
    catalogue.add("beacon-obj-1", source, dataset="ds-cat")
    reads = tmp_path / "p1.bam"
    shutil.copy(bams["run-p1"], reads)
    catalogue.add("beacon-run-1", reads, dataset="ds-cat")
    assert ctx.find(VariantFileSource) is not None  # type: ignore[type-abstract]
    result = run_cli(app, "beacon", "index")
    assert result.exit_code == 0, result.output
    assert "indexed 1 files: 4 records" in result.output
    assert "indexed 1 runs from 1 read files" in result.output
    # The in-process trust center knows none of these pseudonyms: default deny, nobody counts.
    assert isinstance(ctx.find(ResearchConsent), TrustCenterConsent)  # type: ignore[type-abstract]
    assert "0 with research consent" in result.output
    body = {"query": {"requestedGranularity": "count"}}
    assert client.post(B + "/individuals", json=body).get_json()["responseSummary"] == {
        "exists": False, "numTotalResults": 0}
    # With a consent service that allows everybody but P2, the snapshot follows it.
    service = RecordingConsentService()
    stats = refresh_individuals(ctx.engine, TrustCenterConsent(service, "grz:GRZXXX001"),
                                FakeFacts(), today=dt.date(2026, 11, 24))
    assert (stats.individuals, stats.consented) == (7, 6)
    assert {c[0] for c in service.calls} == {"grz:GRZXXX001"}
    assert {c[2] for c in service.calls} == {"research"}
    assert {c[3] for c in service.calls} == {dt.date(2026, 11, 24)}
    doc = client.post(B + "/individuals", json=body).get_json()
    assert doc["responseSummary"] == {"exists": True, "numTotalResults": 6}
    doc = client.post(B + "/datasets/ds-cat/g_variants", json={"query": {
        "requestParameters": {"referenceName": "1", "start": [3999], "alternateBases": "C"},
        "requestedGranularity": "boolean"}}).get_json()
    assert doc["responseSummary"] == {"exists": False}  # only P2 carries it
    doc = client.post(B + "/datasets/ds-cat/runs", json={"query": {
        "requestedGranularity": "record"}}).get_json()
    runs = [r for rs in doc["response"]["resultSets"] for r in rs["results"]]
    assert [(r["id"], r["individualId"], r["runDate"]) for r in runs] == [
        ("beacon-run-1", "P1", "2025-03-04")]


def test_seed_demo(ctx, client) -> None:
    from config.wiring.beacon import seed_demo

    examples = seed_demo(ctx)
    assert examples and all("{base}/ga4gh/beacon/v2/" in e for e in examples)
    doc = client.get(B + "/datasets/beacon-demo/individuals",
                     query_string={"requestedGranularity": "count"}).get_json()
    assert doc["responseSummary"]["numTotalResults"] >= 5


def test_digests_from_the_refget_collection_of_the_reference(app, ctx, client, tmp_path,
                                                              catalogue) -> None:
    import pysam

    from ga4gh.refget.ports import SequenceRegistry

    fasta = tmp_path / "mini.fa"
    fasta.write_text(">chr1\n" + "ACGTTGCA" * 40 + "\n>chr2\n" + "GGCC" * 50 + "\n")
    pysam.faidx(str(fasta))
    registry = ctx.get(SequenceRegistry)  # type: ignore[type-abstract]
    digest = registry.add_fasta(fasta)
    seqs = {s.name: s for s in registry.collection_sequences(digest)}
    header = pysam.VariantHeader()
    header.contigs.add("chr1", length=320)
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"),
                                     ("Description", "Genotype")])
    header.add_sample("D1")
    vcf = tmp_path / "mini.vcf.gz"
    with pysam.VariantFile(str(vcf), "wz", header=header) as out:
        rec = out.new_record(contig="chr1", start=9, alleles=("T", "C"))
        rec.samples["D1"]["GT"] = (0, 1)
        out.write(rec)
    catalogue.add("beacon-mini", vcf, dataset="ds-mini", reference_digest=digest)
    result = run_cli(app, "beacon", "index")
    assert result.exit_code == 0, result.output
    assert "digests of 1 contigs taken from registered sequence collections" in result.output
    with ctx.engine.begin() as conn:
        from sqlalchemy import text
        conn.execute(text("UPDATE beacon_individual SET research_consent = :y"), {"y": True})
    for name in (seqs["chr1"].ga4gh, "ga4gh:" + seqs["chr1"].ga4gh, seqs["chr1"].md5):
        doc = client.get(B + "/g_variants", query_string={
            "referenceName": name, "start": "9", "alternateBases": "C"}).get_json()
        assert doc["responseSummary"] == {"exists": True}, name
    # chr2 is in the collection but in no indexed file: its digest names nothing here
    resp = client.get(B + "/g_variants", query_string={
        "referenceName": seqs["chr2"].ga4gh, "start": "9", "alternateBases": "C"})
    assert resp.status_code == 400


def test_bcf_indexes_like_vcf(ctx, vcfs, tmp_path) -> None:
    import pysam

    from ga4gh.beacon.core.ports import VariantFile
    from ga4gh.beacon.storage.loader import build_index

    bcf = tmp_path / "public.bcf"
    with pysam.VariantFile(str(vcfs["ds-public"])) as src, \
            pysam.VariantFile(str(bcf), "wb", header=src.header) as out:
        for rec in src:
            out.write(rec)
    from_vcf = build_index(ctx.engine, [VariantFile("v", "ds", str(vcfs["ds-public"]))],
                           "GRCh38")
    from_bcf = build_index(ctx.engine, [VariantFile("b", "ds", str(bcf), format="BCF")],
                           "GRCh38")
    assert (from_bcf.records, from_bcf.rows) == (from_vcf.records, from_vcf.rows) == (4, 11)


def test_index_command_with_reads(app, ctx, client, vcfs, bams) -> None:
    result = run_cli(app, "beacon", "index", "--file", str(vcfs["ds-public"]), "--reads",
                     str(bams["run-p1"]), "--reads", str(bams["run-c1"]), "--dataset", "ds-f")
    assert result.exit_code == 0, result.output
    assert "indexed 3 runs from 2 read files" in result.output
    with ctx.engine.connect() as conn:
        runs = conn.execute(text("SELECT r.id, i.pseudonym, r.sample FROM beacon_run r JOIN "
                                 "beacon_individual i ON i.pk = r.individual_pk "
                                 "ORDER BY r.id")).all()
    # Without --donor the @RG sample names are the donors (as VCF sample names are); a file
    # of one sample is one run with the file's id, one of two samples two runs.
    assert sorted((r[1], r[2]) for r in runs) == [("P1", "P1"), ("normal", "normal"),
                                                  ("tumor", "tumor")]
    ids = {r[0] for r in runs}
    assert "p1.bam" in ids and sum(i.startswith("c1.bam:") for i in ids) == 2
