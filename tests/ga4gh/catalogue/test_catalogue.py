"""The genomic catalogue: ingest (validation, indexing, checksums), lookup, removal, CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pysam
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo

from common.errors import Conflict, InvalidInput
from config.cli import cli
from config.context import AppContext
from ga4gh.catalogue.core.formats import BadFile
from ga4gh.catalogue.core.model import FileFormat, IndexFormat, Kind
from ga4gh.catalogue.ports import GenomicCatalogue, ObjectStore
from tests.ga4gh.genomic_data import GenomicFiles


@pytest.fixture()
def catalogue(ctx: AppContext) -> GenomicCatalogue:
    cat = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    yield cat
    for obj in cat.list():
        cat.remove(obj.id, force=True)


def _stored_files(ctx: AppContext) -> list[str]:
    root = ctx.settings.data_dir / "genomics"
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
    )


def _copy_without_index(src: Path, tmp_path: Path) -> Path:
    target = tmp_path / src.name
    shutil.copyfile(src, target)
    return target


@pytest.mark.parametrize(
    ("attr", "kind", "fmt", "index_format"),
    [
        ("bam", Kind.READS, FileFormat.BAM, IndexFormat.BAI),
        ("cram", Kind.READS, FileFormat.CRAM, IndexFormat.CRAI),
        ("vcf", Kind.VARIANTS, FileFormat.VCF, IndexFormat.TBI),
        ("bcf", Kind.VARIANTS, FileFormat.BCF, IndexFormat.CSI),
        ("fasta", Kind.REFERENCE, FileFormat.FASTA, IndexFormat.FAI),
    ],
)
def test_add_builds_missing_index_and_checksums(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path,
    attr: str, kind: Kind, fmt: FileFormat, index_format: IndexFormat,
) -> None:
    source = _copy_without_index(getattr(genomic_files, attr), tmp_path)
    data = source.read_bytes()
    obj = catalogue.add("obj-1", source, kind=kind, dataset="ds1")
    assert (obj.kind, obj.format, obj.index_format) == (kind, fmt, index_format)
    assert obj.size == len(data)
    assert obj.md5 == hashlib.md5(data).hexdigest()
    assert obj.sha256 == hashlib.sha256(data).hexdigest()
    assert obj.dataset == "ds1"
    assert catalogue.get("obj-1") == obj
    path = catalogue.local_path(obj)
    assert path is not None and path.read_bytes() == data
    index = path.with_name(path.name + "." + index_format.value.lower())
    assert index.is_file()
    store = ctx.get(ObjectStore)  # type: ignore[type-abstract]
    assert store.exists(obj.index_key)
    # The source is left untouched (copied, not moved).
    assert source.read_bytes() == data


def test_existing_index_is_reused(
    catalogue: GenomicCatalogue, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    src = genomic_files.bam
    shutil.copyfile(src, tmp_path / "x.bam")
    # A CSI index beside the file (samtools index -c) is used as is, not rebuilt as BAI.
    pysam.index("-c", str(tmp_path / "x.bam"))
    obj = catalogue.add("with-csi", tmp_path / "x.bam")
    assert obj.index_format is IndexFormat.CSI


def test_stale_index_is_rebuilt(
    catalogue: GenomicCatalogue, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    shutil.copyfile(genomic_files.vcf, tmp_path / "v.vcf.gz")
    pysam.tabix_index(str(tmp_path / "v.vcf.gz"), preset="vcf", csi=True, force=True)
    os.utime(tmp_path / "v.vcf.gz.csi", (1_000_000, 1_000_000))  # older than the data
    obj = catalogue.add("stale", tmp_path / "v.vcf.gz")
    assert obj.index_format is IndexFormat.TBI


@pytest.mark.parametrize("attr", ["bam", "cram", "vcf", "bcf"])
def test_truncated_file_is_refused_leaving_nothing(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path,
    attr: str,
) -> None:
    data = getattr(genomic_files, attr).read_bytes()
    bad = tmp_path / getattr(genomic_files, attr).name
    bad.write_bytes(data[: len(data) // 2])
    before = _stored_files(ctx)
    with pytest.raises(BadFile, match="truncated"):
        catalogue.add("trunc", bad)
    assert catalogue.get("trunc") is None
    assert _stored_files(ctx) == before


def test_corrupt_block_chain_is_refused(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    data = bytearray(genomic_files.bam.read_bytes())
    # Cut a piece out of the middle but keep the EOF marker: the block chain breaks.
    bad = tmp_path / "cut.bam"
    bad.write_bytes(bytes(data[:70_000] + data[90_000:]))
    with pytest.raises(BadFile):
        catalogue.add("cut", bad)
    assert catalogue.get("cut") is None
    assert _stored_files(ctx) == []


def test_corrupt_payload_is_refused_by_pysam(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    data = bytearray(genomic_files.bam.read_bytes())
    # Flip bytes inside the deflate payload of the second block: structure intact, data not.
    second = 18 + int.from_bytes(data[16:18], "little") + 1
    for i in range(second + 40, second + 60):
        data[i] ^= 0xFF
    bad = tmp_path / "flipped.bam"
    bad.write_bytes(bytes(data))
    with pytest.raises(BadFile, match="not a valid BAM file"):
        catalogue.add("flipped", bad)
    assert _stored_files(ctx) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello world\n", "unrecognised file format"),
        (b"##fileformat=VCFv4.3\n", "bgzip"),
        (b"@HD\tVN:1.6\n", "SAM text"),
    ],
)
def test_unrecognised_files_are_refused(
    catalogue: GenomicCatalogue, tmp_path: Path, content: bytes, message: str
) -> None:
    f = tmp_path / "junk.bin"
    f.write_bytes(content)
    with pytest.raises(BadFile, match=message):
        catalogue.add("junk", f)


def test_plain_gzip_is_refused(catalogue: GenomicCatalogue, tmp_path: Path) -> None:
    import gzip

    f = tmp_path / "v.vcf.gz"
    f.write_bytes(gzip.compress(b"##fileformat=VCFv4.3\n"))
    with pytest.raises(BadFile, match="not BGZF"):
        catalogue.add("gz", f)


def test_kind_mismatch_and_bad_id_and_conflict(
    catalogue: GenomicCatalogue, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="not variants"):
        catalogue.add("x", genomic_files.bam, kind=Kind.VARIANTS)
    with pytest.raises(InvalidInput, match="object id"):
        catalogue.add("../etc", genomic_files.bam)
    catalogue.add("dup", genomic_files.bam)
    with pytest.raises(Conflict):
        catalogue.add("dup", genomic_files.bam)


def test_list_filter_annotate_remove(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles
) -> None:
    catalogue.add("a", genomic_files.bam, dataset="d1")
    catalogue.add("b", genomic_files.vcf, dataset="d2")
    catalogue.add("c", genomic_files.bcf, dataset="d2")
    assert [o.id for o in catalogue.list()] == ["a", "b", "c"]
    assert [o.id for o in catalogue.list(kind=Kind.VARIANTS)] == ["b", "c"]
    assert [o.id for o in catalogue.list(dataset="d2", limit=1, offset=1)] == ["c"]
    obj = catalogue.annotate("b", donor_pseudonym="PSN-1", reference_digest="dig")
    assert (obj.donor_pseudonym, obj.reference_digest, obj.dataset) == ("PSN-1", "dig", "d2")
    assert catalogue.get("b") == obj
    assert [o.id for o in catalogue.list(donor_pseudonym="PSN-1")] == ["b"]
    assert catalogue.remove("a") is True
    assert catalogue.remove("a") is False
    assert catalogue.get("a") is None
    assert not any(f.startswith("a/") for f in _stored_files(ctx))


def test_reference_is_registered_with_refget_when_available(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Path] = []

    class FakeRegistry:
        def add_fasta(self, path: Path) -> str:
            seen.append(Path(path))
            with pysam.FastaFile(str(path)) as fa:
                assert fa.references == ["chr1", "chr2"]
            return "digest-of-collection"

    import config.wiring.genomics as wiring

    monkeypatch.setattr(wiring, "_sequence_registry", lambda _ctx: FakeRegistry())
    obj = catalogue.add("ref", genomic_files.fasta)
    assert obj.reference_digest == "digest-of-collection"
    assert seen == [catalogue.local_path(obj)]


def test_cli_add_list_remove(
    app: Flask, catalogue: GenomicCatalogue, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    bam = _copy_without_index(genomic_files.bam, tmp_path)
    result = runner.invoke(cli, ["genomics", "add-reads", "s1", str(bam), "--dataset", "d"],
                           obj=info)
    assert result.exit_code == 0, result.output
    assert "s1: BAM reads" in result.output
    result = runner.invoke(cli, ["genomics", "add-variants", "v1", str(genomic_files.vcf)],
                           obj=info)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["genomics", "add-reference", str(genomic_files.fasta)], obj=info)
    assert result.exit_code == 0, result.output
    assert catalogue.get("ref") is not None
    result = runner.invoke(cli, ["genomics", "add-variants", "v2", str(genomic_files.bam)],
                           obj=info)
    assert result.exit_code != 0
    assert "refused:" in result.output and "not variants" in result.output
    result = runner.invoke(cli, ["genomics", "remove", "ref"], obj=info)
    assert result.exit_code != 0 and "refget" in result.output
    result = runner.invoke(cli, ["genomics", "remove", "ref", "--force"], obj=info)
    assert result.exit_code == 0
    result = runner.invoke(cli, ["genomics", "list"], obj=info)
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["s1", "v1"]
    result = runner.invoke(cli, ["genomics", "remove", "s1"], obj=info)
    assert result.exit_code == 0 and catalogue.get("s1") is None
    result = runner.invoke(cli, ["genomics", "remove", "s1"], obj=info)
    assert result.exit_code != 0 and "no genomic object" in result.output


def test_leftover_files_never_block_an_id(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles
) -> None:
    # Files of an interrupted ingest (no record) stay where they are; the id is still free.
    first = catalogue.add("again", genomic_files.vcf)
    ctx.get(GenomicCatalogue).records.delete("again")  # type: ignore[attr-defined]
    second = catalogue.add("again", genomic_files.vcf)
    assert second.storage_key != first.storage_key
    catalogue.remove("again")
    store = ctx.get(ObjectStore)  # type: ignore[type-abstract]
    assert not store.exists(second.storage_key) and store.exists(first.storage_key)
    store.delete(first.storage_key)
    store.delete(first.index_key)


def test_reference_is_registered_with_the_real_refget(
    catalogue: GenomicCatalogue, client, genomic_files: GenomicFiles
) -> None:
    """add-reference registers the sequences: refget and seqcol serve them from the store."""
    obj = catalogue.add("ref-real", genomic_files.fasta)
    assert obj.reference_digest
    with pysam.FastaFile(str(genomic_files.fasta)) as fa:
        chr2 = fa.fetch("chr2")
    import hashlib as _h

    md5 = _h.md5(chr2.encode()).hexdigest()
    resp = client.get(f"/ga4gh/refget/sequence/{md5}?start=100&end=160",
                      headers={"Accept": "text/plain"})
    assert resp.status_code == 200 and resp.data.decode() == chr2[100:160]
    level2 = client.get(f"/ga4gh/seqcol/collection/{obj.reference_digest}?level=2").get_json()
    assert level2["names"] == ["chr1", "chr2"]
    # Its file serves refget: removal needs force.
    with pytest.raises(Conflict, match="refget"):
        catalogue.remove("ref-real")
    assert catalogue.remove("ref-real", force=True)


def test_bgzipped_fasta_keeps_its_gzi(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    bgz = tmp_path / "ref.fa.gz"
    pysam.tabix_compress(str(genomic_files.fasta), str(bgz))
    obj = catalogue.add("ref-bgz", bgz)
    assert obj.format is FileFormat.FASTA and obj.name == "ref-bgz.fa.gz"
    assert obj.index_format is IndexFormat.FAI
    assert [k.rsplit("/", 1)[1] for k in obj.aux_keys] == ["ref-bgz.fa.gz.gzi"]
    path = catalogue.local_path(obj)
    with pysam.FastaFile(str(path)) as fa, pysam.FastaFile(str(genomic_files.fasta)) as plain:
        assert fa.fetch("chr2", 100, 200) == plain.fetch("chr2", 100, 200)
    store = ctx.get(ObjectStore)  # type: ignore[type-abstract]
    assert catalogue.remove("ref-bgz", force=True)
    assert not any(store.exists(k) for k in (obj.storage_key, obj.index_key, *obj.aux_keys))


def test_unsorted_bam_is_refused(
    catalogue: GenomicCatalogue, ctx: AppContext, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    """An index cannot be built for a BAM that is not coordinate-sorted: refused, clearly."""
    unsorted = tmp_path / "unsorted.bam"
    with pysam.AlignmentFile(str(genomic_files.bam)) as src:
        records = list(src.fetch("chr1"))[:200]
        with pysam.AlignmentFile(str(unsorted), "wb", template=src) as out:
            for rec in reversed(records):
                out.write(rec)
    with pytest.raises(BadFile, match="not a valid BAM file"):
        catalogue.add("unsorted", unsorted)
    assert catalogue.get("unsorted") is None
    assert _stored_files(ctx) == []
