"""Native clients against a live server: samtools, bcftools (htslib's htsget support),
pysam and the PyPI ``htsget`` client read exactly what a local view of the region gives."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import htsget
import pysam
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.htsget.helpers import BASE, reads_of

pytestmark = pytest.mark.slow
needs_tools = pytest.mark.skipif(
    shutil.which("samtools") is None or shutil.which("bcftools") is None,
    reason="samtools/bcftools not installed (apt-get install samtools bcftools tabix)",
)


@pytest.fixture()
def live(app: Flask, catalogued: dict) -> Iterator[str]:
    """The app served on a free loopback port (authorization off); yields the htsget base."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{BASE}"
    finally:
        server.shutdown()
        thread.join(5)


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "REF_PATH": "/nonexistent",
                               "HTS_CACHE_DIR": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    return done.stdout


REGIONS = [
    ("referenceName=chr1&start=12345&end=23456", "chr1:12346-23456"),
    ("referenceName=chr2", "chr2"),
    ("referenceName=chr2&start=100&end=101", "chr2:101-101"),
    ("", None),
]


@needs_tools
@pytest.mark.parametrize(("query", "region"), REGIONS + [("referenceName=*", "*")])
def test_samtools_view_of_bam_ticket(
    live: str, genomic_files: GenomicFiles, query: str, region: str | None
) -> None:
    url = f"{live}/reads/reads-bam?{query}"
    local = [str(genomic_files.bam)] + ([region] if region else [])
    assert _run("samtools", "view", url) == _run("samtools", "view", *local)
    count = int(_run("samtools", "view", "-c", url))
    assert count == int(_run("samtools", "view", "-c", *local))
    assert count > 0


@needs_tools
def test_samtools_view_of_cram_ticket(live: str, genomic_files: GenomicFiles) -> None:
    url = f"{live}/reads/reads-cram?format=CRAM&referenceName=chr1&start=12345&end=23456"
    got = _run("samtools", "view", "-T", str(genomic_files.fasta), url).splitlines()
    local = _run("samtools", "view", "-T", str(genomic_files.fasta), str(genomic_files.cram),
                 "chr1:12346-23456").splitlines()
    # Whole containers: every record of the region, in order, plus neighbours.
    assert set(local) <= set(got)
    assert [line for line in got if line in set(local)] == local
    whole = f"{live}/reads/reads-cram?format=CRAM"
    assert int(_run("samtools", "view", "-c", "-T", str(genomic_files.fasta), whole)) == len(
        reads_of(genomic_files.cram, genomic_files.fasta))


@needs_tools
@pytest.mark.parametrize(("object_id", "fmt"), [("vars-vcf", "VCF"), ("vars-bcf", "BCF")])
@pytest.mark.parametrize(("query", "region"), REGIONS)
def test_bcftools_view_of_variant_tickets(
    live: str, genomic_files: GenomicFiles, object_id: str, fmt: str, query: str,
    region: str | None,
) -> None:
    url = f"{live}/variants/{object_id}?format={fmt}&{query}"
    path = genomic_files.vcf if fmt == "VCF" else genomic_files.bcf
    local = [str(path)] + (["-r", region] if region else [])
    assert _run("bcftools", "view", "--no-version", url) == _run(
        "bcftools", "view", "--no-version", *local)


def test_pysam_reads_a_ticket_url(live: str, genomic_files: GenomicFiles) -> None:
    url = f"{live}/reads/reads-bam?referenceName=chr2&start=5000&end=9000"
    with pysam.AlignmentFile(url) as remote:
        got = [r.to_string() for r in remote.fetch(until_eof=True)]
    with pysam.AlignmentFile(str(genomic_files.bam)) as local:
        expected = [r.to_string() for r in local.fetch("chr2", 5000, 9000)]
    assert got == expected and expected
    url = f"{live}/variants/vars-bcf?format=BCF&referenceName=chr1&start=0&end=30000"
    with pysam.VariantFile(url) as remote:
        got = [str(r) for r in remote]
    with pysam.VariantFile(str(genomic_files.bcf)) as local:
        assert got == [str(r) for r in local.fetch("chr1", 0, 30000)]


def test_pypi_htsget_client(live: str, genomic_files: GenomicFiles, tmp_path: Path) -> None:
    out = tmp_path / "slice.bam"
    with out.open("wb") as fh:
        htsget.get(f"{live}/reads/reads-bam", fh, reference_name="chr1", start=30000,
                   end=41000)
    with pysam.AlignmentFile(str(genomic_files.bam)) as local:
        expected = [r.to_string() for r in local.fetch("chr1", 30000, 41000)]
    assert reads_of(out) == expected and expected
    vcf = tmp_path / "slice.vcf.gz"
    with vcf.open("wb") as fh:
        htsget.get(f"{live}/variants/vars-vcf", fh, reference_name="chr2", data_format="VCF")
    with pysam.VariantFile(str(vcf)) as got, pysam.VariantFile(str(genomic_files.vcf)) as local:
        assert [str(r) for r in got] == [str(r) for r in local.fetch("chr2")]


@needs_tools
def test_samtools_view_of_a_filtered_ticket(live: str, genomic_files: GenomicFiles) -> None:
    url = f"{live}/reads/reads-bam?referenceName=chr1&start=12345&end=23456&notags=NM,AS"
    got = _run("samtools", "view", url).splitlines()
    local = _run("samtools", "view", str(genomic_files.bam), "chr1:12346-23456").splitlines()
    assert len(got) == len(local) > 0
    assert all(line.endswith("RG:Z:rg1") for line in got)
    assert [g.split("\t")[:11] for g in got] == [x.split("\t")[:11] for x in local]


@needs_tools
def test_cram_ticket_decodes_with_refget_as_reference_source(
    live: str, app: Flask, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    """htslib fetches the CRAM's reference from this server's refget (REF_PATH) by MD5."""
    from config.context import app_context
    from ga4gh.catalogue.ports import GenomicCatalogue

    catalogue = app_context(app).get(GenomicCatalogue)  # type: ignore[type-abstract]
    catalogue.add("cram-ref", genomic_files.fasta)
    try:
        server = live.split("/ga4gh/")[0]
        url = f"{live}/reads/reads-cram?format=CRAM&referenceName=chr2&start=1000&end=5000"
        done = subprocess.run(
            ["samtools", "view", url], capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "REF_PATH": f"{server}/ga4gh/refget/sequence/%s",
                 "REF_CACHE": str(tmp_path / "cache" / "%s")},
        )
        assert done.returncode == 0, done.stderr
        local = _run("samtools", "view", "-T", str(genomic_files.fasta),
                     str(genomic_files.cram), "chr2:1001-5000").splitlines()
        got = done.stdout.splitlines()
        assert local and set(local) <= set(got)
    finally:
        catalogue.remove("cram-ref", force=True)
