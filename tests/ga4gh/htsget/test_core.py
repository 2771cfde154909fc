"""Pure htsget core: index parsers, binning arithmetic, BGZF helpers, CRAM header."""

from __future__ import annotations

import gzip

import pysam
import pytest

from ga4gh.catalogue.core.formats import BGZF_EOF, BadFile, BgzfChainChecker
from ga4gh.htsget.core.bgzf import BlockReader, compress, compress_block
from ga4gh.htsget.core.cram import read_cram_header
from ga4gh.htsget.core.errors import NotFound, UnsupportedFormat, htsget_error_type
from ga4gh.htsget.core.indexes import IndexError_, parse_bai, parse_crai, parse_csi, parse_tbi
from ga4gh.htsget.core.records import bam_records, read_bam_header
from tests.ga4gh.genomic_data import GenomicFiles


class BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def test_bai_binning_arithmetic(genomic_files: GenomicFiles) -> None:
    index = parse_bai(genomic_files.bam.with_name("reads.bam.bai").read_bytes())
    assert (index.min_shift, index.depth, index.meta_bin) == (14, 5, 37450)
    assert index.reg2bins(0, 1) == [0, 1, 9, 73, 585, 4681]
    assert index.bin_range(4681) == (0, 16384)
    assert index.bin_range(585) == (0, 131072)
    assert index.bin_range(0) == (0, 1 << 29)
    assert index.parent(4681) == 585
    assert len(index.refs) == 2 and index.n_no_coor == 40
    assert all(ref.meta is not None for ref in index.refs)


def test_index_parsers_agree_on_record_counts(genomic_files: GenomicFiles) -> None:
    tbi = parse_tbi(genomic_files.vcf.with_name("variants.vcf.gz.tbi").read_bytes())
    assert tbi.names == ["chr1", "chr2"]
    assert [r.meta[2] for r in tbi.refs] == [3000, 3000]
    csi = parse_csi(genomic_files.bcf.with_name("variants.bcf.csi").read_bytes())
    assert [r.meta[2] for r in csi.refs] == [3000, 3000]
    crai = parse_crai(genomic_files.cram.with_name("reads.cram.crai").read_bytes())
    assert {e.seq_id for e in crai} == {-1, 0, 1}


@pytest.mark.parametrize("cut", [3, 20, 100, 150])
def test_truncated_indexes_are_refused(genomic_files: GenomicFiles, cut: int) -> None:
    bai = genomic_files.bam.with_name("reads.bam.bai").read_bytes()
    with pytest.raises(IndexError_):
        parse_bai(bai[:cut] if cut > 3 else b"BAX\x01")
    with pytest.raises(IndexError_):
        parse_tbi(b"not gzip at all")
    with pytest.raises(IndexError_):
        parse_csi(gzip.compress(b"CSI\x01\x0e\x00"))
    with pytest.raises(IndexError_):
        parse_crai(gzip.compress(b"1\t2\t3\n"))


def test_bgzf_blocks_round_trip() -> None:
    data = bytes(range(256)) * 1000
    blob = compress(data) + BGZF_EOF
    assert gzip.decompress(blob) == data
    checker = BgzfChainChecker()
    checker.feed(blob)
    checker.finish()
    assert checker.blocks == 5
    with pytest.raises(ValueError):
        compress_block(b"x" * 70000)
    checker = BgzfChainChecker()
    checker.feed(blob[:-1])
    with pytest.raises(BadFile):
        checker.finish()


def test_bam_header_and_records(genomic_files: GenomicFiles) -> None:
    reader = BlockReader(BytesSource(genomic_files.bam.read_bytes()))
    header = read_bam_header(reader)
    assert header.names == ["chr1", "chr2"]
    assert header.lengths == {"chr1": 60_000, "chr2": 40_000}
    records = list(bam_records(reader, header.end, 1 << 40))
    with pysam.AlignmentFile(str(genomic_files.bam)) as f:
        expected = [(r.reference_id, r.reference_start,
                     r.reference_end if r.reference_end is not None else r.reference_start + 1)
                    for r in f.fetch(until_eof=True)]
    got = [(tid, start, end) for _, tid, start, end in records]
    # Unplaced reads: pysam gives start -1 and no end.
    assert got[: len(got) - 40] == expected[: len(expected) - 40]
    assert all(tid == -1 for tid, _, _ in got[-40:])


def test_cram_header(genomic_files: GenomicFiles) -> None:
    header = read_cram_header(BytesSource(genomic_files.cram.read_bytes()))
    assert header.names == ["chr1", "chr2"]
    crai = parse_crai(genomic_files.cram.with_name("reads.cram.crai").read_bytes())
    assert header.end == min(e.container for e in crai)


def test_error_types() -> None:
    from common.errors import InvalidInput, PayloadTooLarge, PermissionDenied, Unauthenticated

    assert htsget_error_type(NotFound("x")) == "NotFound"
    assert htsget_error_type(UnsupportedFormat("x")) == "UnsupportedFormat"
    assert htsget_error_type(Unauthenticated("x")) == "InvalidAuthentication"
    assert htsget_error_type(PermissionDenied("x")) == "PermissionDenied"
    assert htsget_error_type(PayloadTooLarge("x")) == "PayloadTooLarge"
    assert htsget_error_type(InvalidInput("x")) == "InvalidInput"
