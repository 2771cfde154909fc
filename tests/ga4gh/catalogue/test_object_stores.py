"""Contract tests of the ObjectStore adapters: local files and S3 (moto's in-process S3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import InvalidInput
from ga4gh.catalogue.ports import ObjectStore
from ga4gh.catalogue.storage.local import LocalObjectStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    moto = pytest.importorskip("moto")
    import boto3

    from ga4gh.catalogue.storage.s3 import S3ObjectStore

    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-central-1")
        client.create_bucket(Bucket="genomics",
                             CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        yield S3ObjectStore("genomics", prefix="dc1/", client=client)


def test_put_read_delete(store: ObjectStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    store.put_file("obj/file.bin", src)
    assert not src.exists()  # the source is consumed
    assert store.exists("obj/file.bin")
    assert store.size("obj/file.bin") == len(data)
    assert store.mtime_ns("obj/file.bin") > 0
    assert store.read_range("obj/file.bin", 1000, 2000) == data[1000:2000]
    assert store.read_range("obj/file.bin", 5, 5) == b""
    assert b"".join(store.iter_range("obj/file.bin", 10, 700_000, chunk=65536)) == data[10:700_000]
    with store.open("obj/file.bin") as fh:
        fh.seek(300)
        assert fh.read(10) == data[300:310]
    store.delete("obj/file.bin")
    assert not store.exists("obj/file.bin")
    with pytest.raises(FileNotFoundError):
        store.size("obj/file.bin")
    store.delete("obj/file.bin")  # deleting twice is fine


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_keys_cannot_escape(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.exists(key)


def test_catalogue_and_htsget_on_s3(ctx, genomic_files, tmp_path: Path) -> None:
    """Ingest into S3 and compute an htsget ticket whose ranges are read back from S3."""
    moto = pytest.importorskip("moto")
    import boto3
    import pysam

    from ga4gh.catalogue.service import CatalogueService
    from ga4gh.catalogue.storage.s3 import S3ObjectStore
    from ga4gh.catalogue.storage.sql import SqlCatalogueRecords
    from ga4gh.htsget.core.request import parse_get
    from ga4gh.htsget.core.tickets import ByteRange, Inline
    from ga4gh.htsget.service import HtsgetService

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="genomics")
        store = S3ObjectStore("genomics", client=client)
        catalogue = CatalogueService(SqlCatalogueRecords(ctx.engine), store, tmp_path / "stage")
        obj = catalogue.add("s3-bam", genomic_files.bam, dataset="d")
        assert catalogue.local_path(obj) is None
        query = parse_get("reads", {"referenceName": "chr1", "start": "7000", "end": "9000"}, set())
        ticket = HtsgetService(catalogue, store).ticket(obj, query)
        blob = b"".join(
            p.data if isinstance(p, Inline) else store.read_range(obj.storage_key, p.start, p.end)
            for p in ticket.parts
        )
        assert any(isinstance(p, ByteRange) for p in ticket.parts)
        out = tmp_path / "slice.bam"
        out.write_bytes(blob)
        with pysam.AlignmentFile(str(out), check_sq=False) as got, pysam.AlignmentFile(
            str(genomic_files.bam)
        ) as local:
            assert [r.to_string() for r in got.fetch(until_eof=True)] == [
                r.to_string() for r in local.fetch("chr1", 7000, 9000)
            ]
        assert catalogue.remove("s3-bam")
        assert not store.exists(obj.storage_key)
