"""Streaming decryption: checksums, plaintext handling and the index built while decrypting."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pysam
import pytest

from ga4gh.grz.core.errors import DecryptionFailed
from ga4gh.grz.storage.crypt4gh_files import Crypt4GHFileProcessor
from tests.ga4gh.grz.builders import Keys, bam_bytes, encrypt, fastq_bytes, make_keys, vcf_bytes


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(params=["samtools", "pysam"])
def indexer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both index builders: samtools (if installed) and pysam."""
    from ga4gh.grz.storage import crypt4gh_files

    if request.param == "samtools" and crypt4gh_files.samtools() is None:
        pytest.skip("samtools is not installed")
    if request.param == "pysam":
        monkeypatch.setattr(crypt4gh_files, "samtools", lambda: None)
    return str(request.param)


def test_build_index_matches_pysam(tmp_path: Path, indexer: str) -> None:
    from ga4gh.grz.storage.crypt4gh_files import build_index

    bam_bytes(tmp_path / "a.bam", 3000)
    build_index(tmp_path / "a.bam")
    pysam.index(str(tmp_path / "a.bam"), str(tmp_path / "ref.bai"))
    assert (tmp_path / "a.bam.bai").read_bytes() == (tmp_path / "ref.bai").read_bytes()


def test_bam_is_indexed_while_decrypting(tmp_path: Path, keys: Keys, indexer: str) -> None:
    plain = bam_bytes(tmp_path / "a.bam", 3000)
    encrypt(plain, tmp_path / "in" / "a.bam.c4gh", keys)
    work = tmp_path / "w"
    work.mkdir()
    out = Crypt4GHFileProcessor(keys.grz_secret, index_while_decrypting=True).process(
        tmp_path / "in" / "a.bam.c4gh", "bam", work
    )
    assert out.sha256 == hashlib.sha256(plain).hexdigest() and out.size == len(plain)
    assert out.plaintext is not None and out.plaintext.read_bytes() == plain
    built = out.plaintext.with_name(out.plaintext.name + ".bai")
    assert built.is_file()
    pysam.index(str(tmp_path / "a.bam"), str(tmp_path / "ref.bai"))
    assert built.read_bytes() == (tmp_path / "ref.bai").read_bytes()
    assert sorted(p.name for p in work.iterdir()) == sorted([out.plaintext.name, built.name])


def test_declared_bam_with_other_content_leaves_no_index(
    tmp_path: Path, keys: Keys, indexer: str
) -> None:
    encrypt(vcf_bytes(tmp_path / "a.vcf.gz"), tmp_path / "in" / "x.bam.c4gh", keys)
    work = tmp_path / "w"
    work.mkdir()
    out = Crypt4GHFileProcessor(keys.grz_secret, index_while_decrypting=True).process(
        tmp_path / "in" / "x.bam.c4gh", "bam", work
    )
    assert out.detected_format == "VCF"
    assert not list(work.glob("*.bai")) and not list(work.glob("*.fifo"))


def test_fastq_is_never_written_in_plaintext(tmp_path: Path, keys: Keys) -> None:
    data = fastq_bytes(321, 3) + fastq_bytes(4, 4)  # two gzip members
    encrypt(data, tmp_path / "in" / "r.fastq.gz.c4gh", keys)
    work = tmp_path / "w"
    work.mkdir()
    out = Crypt4GHFileProcessor(keys.grz_secret).process(
        tmp_path / "in" / "r.fastq.gz.c4gh", "fastq", work
    )
    assert out.read_count == 325 and out.plaintext is None
    assert list(work.iterdir()) == []


def test_truncated_file_is_refused_and_cleaned_up(tmp_path: Path, keys: Keys, indexer: str) -> None:
    plain = bam_bytes(tmp_path / "a.bam", 3000)
    enc = tmp_path / "in" / "a.bam.c4gh"
    encrypt(plain, enc, keys)
    enc.write_bytes(enc.read_bytes()[:-7])
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(DecryptionFailed):
        Crypt4GHFileProcessor(keys.grz_secret, index_while_decrypting=True).process(
            enc, "bam", work
        )
    assert list(work.iterdir()) == []


def test_unsorted_bam_cannot_be_indexed(tmp_path: Path, keys: Keys, indexer: str) -> None:
    from ga4gh.grz.core.errors import FileUnusable

    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chr1", "LN": 5000}]}
    path = tmp_path / "u.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, start in enumerate([3000, 100]):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.query_sequence, a.flag = f"r{i}", "A" * 50, 0
            a.reference_id, a.reference_start, a.cigartuples = 0, start, [(0, 50)]
            out.write(a)
    with pytest.raises(FileUnusable):
        Crypt4GHFileProcessor(keys.grz_secret).alignment_stats(path)


@pytest.mark.parametrize("while_decrypting", [False, True])
def test_index_with_inflate_threads_is_the_same_index(
    tmp_path: Path, keys: Keys, indexer: str, while_decrypting: bool
) -> None:
    plain = bam_bytes(tmp_path / "a.bam", 3000)
    encrypt(plain, tmp_path / "in" / "a.bam.c4gh", keys)
    work = tmp_path / "w"
    work.mkdir()
    proc = Crypt4GHFileProcessor(
        keys.grz_secret, index_while_decrypting=while_decrypting, index_threads=2
    )
    out = proc.process(tmp_path / "in" / "a.bam.c4gh", "bam", work)
    assert out.plaintext is not None
    assert proc.alignment_stats(out.plaintext)[0] == 3000
    pysam.index(str(tmp_path / "a.bam"), str(tmp_path / "ref.bai"))
    built = out.plaintext.with_name(out.plaintext.name + ".bai")
    assert built.read_bytes() == (tmp_path / "ref.bai").read_bytes()
