"""The SequenceRegistry port: digests, indexing, idempotence and refusals."""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
from pathlib import Path

import pysam
import pytest
import sqlalchemy as sa
from refget.utils import seqcol_digest

from common.errors import InvalidInput, NotFound
from config.context import AppContext
from ga4gh.refget.ports import SequenceRegistry
from ga4gh.refget.storage.sql import SqlRefgetRepository
from tests.ga4gh.refget.conftest import write_fasta


def _ga4gh(seq: str) -> str:
    digest = hashlib.sha512(seq.upper().encode()).digest()[:24]
    return "SQ." + base64.urlsafe_b64encode(digest).decode()


def _count(ctx: AppContext, table: str) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_digests_are_refget_and_seqcol_digests(
    registry: SequenceRegistry, genome_fasta: Path, genome: dict[str, str]
) -> None:
    digest = registry.add_fasta(genome_fasta)
    names = list(genome)
    expected = seqcol_digest(
        {
            "names": names,
            "lengths": [len(genome[n]) for n in names],
            "sequences": [_ga4gh(genome[n]) for n in names],
        }
    )
    assert digest == expected
    seqs = registry.collection_sequences(digest)
    assert [s.name for s in seqs] == names
    assert [s.length for s in seqs] == [len(genome[n]) for n in names]
    assert [s.md5 for s in seqs] == [
        hashlib.md5(genome[n].upper().encode()).hexdigest() for n in names
    ]
    assert [s.ga4gh for s in seqs] == [_ga4gh(genome[n]) for n in names]


def test_known_answer_acgt(registry: SequenceRegistry, tmp_path: Path) -> None:
    # refget 2.0.0: "A ga4gh digest of ACGT MUST result in SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2".
    digest = registry.add_fasta(write_fasta(tmp_path / "acgt.fa", {"s": "acgt"}))
    (seq,) = registry.collection_sequences(digest)
    assert seq.ga4gh == "SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2"
    assert seq.md5 == "f1f8f4bf413b16ad135722aa4591043e"


def test_registering_twice_changes_nothing(
    ctx: AppContext, registry: SequenceRegistry, genome_fasta: Path
) -> None:
    first = registry.add_fasta(genome_fasta)
    counts = [_count(ctx, t) for t in ("refget_sequence", "refget_collection", "refget_attribute")]
    assert registry.add_fasta(genome_fasta) == first
    assert (
        [_count(ctx, t) for t in ("refget_sequence", "refget_collection", "refget_attribute")]
        == counts
        == [3, 1, 5]
    )


def test_missing_index_is_built(registry: SequenceRegistry, tmp_path: Path) -> None:
    path = tmp_path / "noindex.fa"
    path.write_text(">a\nACGTN\n>b\nGGCC\n")
    registry.add_fasta(path)
    assert Path(str(path) + ".fai").exists()


def test_bgzip_fasta(registry: SequenceRegistry, tmp_path: Path) -> None:
    plain = tmp_path / "x.fa"
    plain.write_text(">a\nACGTACGT\n")
    pysam.tabix_compress(str(plain), str(tmp_path / "x.fa.gz"))
    assert registry.add_fasta(tmp_path / "x.fa.gz") == registry.add_fasta(plain)


def test_shared_sequence_moves_to_a_readable_file(
    ctx: AppContext, registry: SequenceRegistry, tmp_path: Path
) -> None:
    first = write_fasta(tmp_path / "one.fa", {"a": "ACGTTT"})
    registry.add_fasta(first)
    shutil.move(str(first), tmp_path / "moved.fa")
    second = write_fasta(tmp_path / "two.fa", {"b": "ACGTTT"})
    registry.add_fasta(second)
    record = SqlRefgetRepository(ctx.engine).sequence_by_ga4gh(_ga4gh("ACGTTT"))
    assert record is not None
    assert (record.fasta_path, record.fasta_name) == (str(second.resolve()), "b")


@pytest.mark.parametrize("case", ["missing", "garbage", "gzip", "circular", "authority", "empty"])
def test_refusals_leave_nothing_behind(
    ctx: AppContext, registry: SequenceRegistry, tmp_path: Path, case: str
) -> None:
    path = tmp_path / "in.fa"
    kwargs: dict[str, object] = {}
    if case == "garbage":
        path.write_bytes(b"\x00\x01 not a fasta\n")
    elif case == "gzip":
        path = tmp_path / "in.fa.gz"
        path.write_bytes(gzip.compress(b">a\nACGT\n"))
    elif case == "empty":
        path.write_text("")
    elif case in ("circular", "authority"):
        write_fasta(path, {"a": "ACGT"})
        kwargs = {"circular": ["chrM"]} if case == "circular" else {"naming_authority": "UCSC!"}
    with pytest.raises(InvalidInput) as info:
        registry.add_fasta(path, **kwargs)  # type: ignore[arg-type]
    if case == "gzip":
        assert "bgzip" in info.value.message
    assert _count(ctx, "refget_sequence") == 0
    assert _count(ctx, "refget_collection") == 0


def test_unknown_collection(registry: SequenceRegistry) -> None:
    with pytest.raises(NotFound):
        registry.collection_sequences("nope")
