"""Format recognition from the first plaintext bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from ga4gh.grz.core.formats import FileFormat, detect_format, format_matches
from tests.ga4gh.grz.builders import bam_bytes, fastq_bytes, vcf_bytes


def test_bam(tmp_path: Path) -> None:
    assert detect_format(bam_bytes(tmp_path / "a.bam", 10)) is FileFormat.bam


def test_cram(tmp_path: Path) -> None:
    fa = tmp_path / "ref.fa"
    fa.write_text(">chr1\n" + "A" * 5000 + "\n")
    pysam.faidx(str(fa))
    bam = tmp_path / "a.bam"
    bam_bytes(bam, 10)
    cram = tmp_path / "a.cram"
    pysam.view("-C", "-T", str(fa), "-o", str(cram), str(bam), catch_stdout=False)
    assert detect_format(cram.read_bytes()) is FileFormat.cram
    assert not format_matches("bam", FileFormat.cram)


def test_vcf_plain_and_bgzipped(tmp_path: Path) -> None:
    data = vcf_bytes(tmp_path / "a.vcf.gz")
    assert detect_format(data) is FileFormat.vcf
    assert detect_format(gzip.decompress(data)) is FileFormat.vcf


def test_fastq() -> None:
    assert detect_format(fastq_bytes(10, 1)) is FileFormat.fastq
    assert detect_format(b"@r1\nACGT\n+\nII\n") is FileFormat.unknown  # quality length differs


@pytest.mark.parametrize(
    "text, expected",
    [
        (b"track name=x\nchr1\t0\t100\nchr1\t200\t300\n", FileFormat.bed),
        (b"chr1\t100\t50\n", FileFormat.unknown),
        (b"hello world\n", FileFormat.unknown),
        (b"", FileFormat.unknown),
    ],
)
def test_bed(text: bytes, expected: FileFormat) -> None:
    assert detect_format(text) is expected
    assert detect_format(gzip.compress(text)) is expected


def test_declared_types() -> None:
    assert format_matches("fastq", FileFormat.fastq)
    assert format_matches("vcf", FileFormat.vcf)
    assert not format_matches("vcf", FileFormat.bcf)
    assert not format_matches("bed", FileFormat.vcf)
