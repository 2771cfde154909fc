"""Beacon fixtures: VCFs written with pysam, fake consent and clinical-facts ports, and an
index built into the test database (SQLite and PostgreSQL via the shared fixtures)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pysam
import pytest
from flask import Flask

from config.context import AppContext, app_context
from ga4gh.beacon.core.ports import (
    ClinicalFact,
    ClinicalFacts,
    ConsentFeedPage,
    ConsentState,
    LiveConsent,
    ReadFile,
    ResearchConsent,
    VariantFile,
)
from ga4gh.beacon.core.service import BeaconService
from ga4gh.beacon.storage.consent import LiveConsentTable
from ga4gh.beacon.storage.hpo import bundled_hpo
from ga4gh.beacon.storage.loader import build_index, index_runs
from ga4gh.beacon.storage.refresh import refresh_individuals
from ga4gh.beacon.storage.sql import SqlBeaconIndex

GRCH38_CHR1 = 248956422
GRCH38_CHR2 = 242193529

# dataset -> (samples, records: (chrom, pos 1-based, ref, alts, info, genotypes per sample))
PUBLIC_SAMPLES = ["P1", "P2", "P3", "P4", "P5", "P6", "X1"]
HET, HOM, REF, NOCALL = (0, 1), (1, 1), (0, 0), (None, None)


def write_vcf(path: Path, samples: Sequence[str], records: list[tuple], *,
              reference: str = "GRCh38") -> Path:
    """Write a bgzipped VCF with pysam and return its path."""
    header = pysam.VariantHeader()
    header.add_line(f"##reference={reference}")
    header.add_line("##source=genomseq-test-caller 1.0")
    header.add_line("##fileDate=20260101")
    header.contigs.add("chr1", length=GRCH38_CHR1)
    header.contigs.add("chr2", length=GRCH38_CHR2)
    header.add_meta("INFO", items=[("ID", "END"), ("Number", "1"), ("Type", "Integer"),
                                   ("Description", "End position")])
    header.add_meta("INFO", items=[("ID", "SVTYPE"), ("Number", "1"), ("Type", "String"),
                                   ("Description", "SV type")])
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"),
                                     ("Description", "Genotype")])
    for s in samples:
        header.add_sample(s)
    with pysam.VariantFile(str(path), "wz", header=header) as out:
        for chrom, pos, ref, alts, info, gts in records:
            rec = out.new_record(contig=chrom, start=pos - 1, alleles=(ref, *alts))
            for k, v in info.items():
                if k == "END":
                    rec.stop = v
                else:
                    rec.info[k] = v
            for s, gt in zip(samples, gts, strict=True):
                rec.samples[s]["GT"] = gt
            out.write(rec)
    return path


@pytest.fixture(scope="session")
def vcfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vcf")
    public = write_vcf(d / "public.vcf.gz", PUBLIC_SAMPLES, [
        # common SNV: six consented carriers (>= threshold 5) plus the non-consented X1
        ("chr1", 1000, "G", ("A",), {}, [HET, HET, HOM, HET, HET, HET, HET]),
        # rare SNV: one carrier
        ("chr1", 2000, "C", ("T",), {}, [HET, REF, REF, REF, REF, REF, REF]),
        # only the donor without research consent carries it
        ("chr1", 3000, "T", ("G",), {}, [REF, REF, REF, REF, REF, REF, HOM]),
        # multi-allelic: P2 carries C, P3 carries T
        ("chr1", 4000, "A", ("C", "T"), {}, [REF, HET, (0, 2), REF, REF, REF, NOCALL]),
    ])
    registered = write_vcf(d / "registered.vcf.gz", ["R1", "R2", "R3"], [
        ("chr1", 1000, "G", ("A",), {}, [HET, HET, HET]),
        ("chr2", 10001, "N", ("<DEL>",), {"END": 20000, "SVTYPE": "DEL"}, [HET, REF, REF]),
    ])
    controlled = write_vcf(d / "controlled.vcf.gz", ["tumor", "normal"], [
        ("chr1", 1000, "G", ("A",), {}, [HET, HET]),
        ("chr1", 5000, "AT", ("A",), {}, [HET, REF]),
    ])
    return {"ds-public": public, "ds-registered": registered, "ds-controlled": controlled}


def write_bam(path: Path, read_groups: list[dict[str, str]], paired: bool = True) -> Path:
    """Write a coordinate-sorted, indexed BAM with the given @RG lines and a few reads."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": "chr1", "LN": GRCH38_CHR1}], "RG": read_groups}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for n, rg in enumerate(read_groups):
            for k in range(2):
                a = pysam.AlignedSegment(out.header)
                a.query_name = f"r{n}-{k}"
                a.query_sequence = "ACGTACGTAC"
                a.flag = (1 | 2 | (64 if k == 0 else 128)) if paired else 0
                a.reference_id = 0
                a.reference_start = 990 + 2 * n + k
                a.mapping_quality = 60
                a.cigartuples = [(0, 10)]
                a.query_qualities = pysam.qualitystring_to_array("IIIIIIIIII")
                a.set_tag("RG", rg["ID"])
                out.write(a)
    pysam.index(str(path))
    return path


@pytest.fixture(scope="session")
def bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bam")
    return {
        # One run of P1 (a biosample of the public VCF), Illumina WGS, paired.
        "run-p1": write_bam(d / "p1.bam", [
            {"ID": "L1", "SM": "P1", "PL": "ILLUMINA", "DT": "2025-03-04T10:00:00+01:00",
             "DS": "WGS library", "LB": "lib1"},
            {"ID": "L2", "SM": "P1", "PL": "ILLUMINA", "DT": "2025-03-05", "LB": "lib1"}]),
        # Tumour and normal of the catalogued donor C1 in one file: two runs.
        "run-c1": write_bam(d / "c1.bam", [
            {"ID": "T", "SM": "tumor", "PL": "ONT"}, {"ID": "N", "SM": "normal", "PL": "ONT"}],
            paired=False),
        # The non-consented donor X1: its run must never be shown.
        "run-x1": write_bam(d / "x1.bam", [{"ID": "X", "SM": "X1", "PL": "ILLUMINA",
                                            "DT": "2025-01-02"}]),
    }


def read_files(bams: dict[str, Path]) -> list[ReadFile]:
    return [
        ReadFile("run-p1", "ds-public", str(bams["run-p1"]), catalogued_on="2026-01-01"),
        ReadFile("run-c1", "ds-controlled", str(bams["run-c1"]), donor_pseudonym="C1",
                 catalogued_on="2026-02-03"),
        ReadFile("run-x1", "ds-public", str(bams["run-x1"]), catalogued_on="2026-01-01"),
    ]


def variant_files(vcfs: dict[str, Path]) -> list[VariantFile]:
    return [
        VariantFile("obj-public", "ds-public", str(vcfs["ds-public"])),
        VariantFile("obj-registered", "ds-registered", str(vcfs["ds-registered"])),
        # A tumour/normal file of one catalogued donor: both samples belong to C1.
        VariantFile("obj-controlled", "ds-controlled", str(vcfs["ds-controlled"]),
                    donor_pseudonym="C1"),
    ]


class FakeConsent:
    """Research consent for everybody except the listed pseudonyms (snapshot and live port,
    with a change feed of the pseudonyms passed to :meth:`refuse`)."""

    domain = "grz:TEST"

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.asked_on: list[dt.date] = []
        self.asked: list[str] = []
        self.feed: list[str] = []

    def permitted(self, pseudonyms: Sequence[str], on: dt.date) -> set[str]:
        self.asked_on.append(on)
        return {p for p in pseudonyms if p not in self.refused}

    def status(self, pseudonyms: Sequence[str]) -> dict[str, ConsentState]:
        self.asked += pseudonyms
        return {p: ConsentState(p not in self.refused) for p in pseudonyms}

    def changes(self, since: int, limit: int = 1000) -> ConsentFeedPage:
        if limit == 0:
            return ConsentFeedPage(len(self.feed), frozenset(), len(self.feed) > since)
        page = self.feed[since:since + limit]
        if not page:  # a restarted feed answers a position below the caller's
            return ConsentFeedPage(min(since, len(self.feed)), frozenset())
        return ConsentFeedPage(since + len(page), frozenset(page),
                               since + len(page) < len(self.feed))

    def refuse(self, pseudonym: str) -> None:
        """Withdraw a pseudonym's consent and record the change in the feed."""
        self.refused.add(pseudonym)
        self.feed.append(pseudonym)


FACTS = {
    "P1": ClinicalFact("NCIT:C16576", dt.date(1960, 5, 1), ("ICD10GM:E11.9",), ("HP:0001250",)),
    "P2": ClinicalFact("NCIT:C20197", dt.date(1990, 1, 1), ("ICD10GM:E11.0",), ()),
    "P3": ClinicalFact("NCIT:C16576", dt.date(1985, 1, 1), ("ICD10GM:I10",), ("HP:0001250",)),
    "P4": ClinicalFact("NCIT:C20197", None, (), ()),
    "P5": ClinicalFact("NCIT:C16576", None, (), ()),
    "P6": ClinicalFact("NCIT:C16576", None, (), ()),
    "X1": ClinicalFact("NCIT:C16576", None, ("ICD10GM:E11.9",), ()),
}


class FakeFacts:
    def facts(self, pseudonyms: Sequence[str]) -> dict[str, ClinicalFact]:
        return {p: FACTS[p] for p in pseudonyms if p in FACTS}


def load(ctx: AppContext, vcfs: dict[str, Path], bams: dict[str, Path] | None = None
         ) -> FakeConsent:
    """Index the three datasets (and the runs of ``bams``) and take the facts snapshot;
    consent (X1 refused) is the wired Beacon service's live consent, answered by the
    returned fake."""
    consent = FakeConsent({"X1"})
    build_index(ctx.engine, variant_files(vcfs), "GRCh38")
    if bams:
        index_runs(ctx.engine, read_files(bams))
    refresh_individuals(ctx.engine, consent, FakeFacts(),
                        today=dt.date(2026, 11, 24), hpo=bundled_hpo())
    use_fake_consent(ctx, consent)
    return consent


def use_fake_consent(where: Flask | AppContext, consent: FakeConsent) -> None:
    """Answer the wired Beacon service's live consent with the fake."""
    ctx = where if isinstance(where, AppContext) else app_context(where)
    service = ctx.find(BeaconService)
    if service is not None:
        assert isinstance(service.index, SqlBeaconIndex)
        service.index.consent = LiveConsentTable(ctx.engine, consent)


@pytest.fixture()
def indexed(app: Flask, vcfs: dict[str, Path], bams: dict[str, Path]) -> Iterator[Flask]:
    service = app_context(app).find(BeaconService)
    wired = service.index.consent if service is not None else None  # type: ignore[attr-defined]
    load(app_context(app), vcfs, bams)
    yield app
    if service is not None:  # the app outlives the test: give back the trust center's
        service.index.consent = wired  # type: ignore[attr-defined]


# Protocol conformance of the fakes (checked by mypy where the fixtures are used).
_consent: ResearchConsent = FakeConsent(set())
_live: LiveConsent = FakeConsent(set())
_facts: ClinicalFacts = FakeFacts()
