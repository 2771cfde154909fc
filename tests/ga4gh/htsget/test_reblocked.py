"""Files whose BGZF blocks do not start at record boundaries (other writers than htslib,
or ``bgzip`` of text): tickets must still give exactly the records of the region."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pysam
import pytest
from flask.testing import FlaskClient

from config.context import AppContext
from ga4gh.catalogue.ports import GenomicCatalogue
from tests.ga4gh.htsget.helpers import BASE, region_reads, resolve


@pytest.fixture()
def odd(ctx: AppContext, reblocked: tuple[Path, Path]) -> Iterator[None]:
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    catalogue.add("odd-bam", reblocked[0])
    catalogue.add("odd-bcf", reblocked[1])
    yield
    catalogue.remove("odd-bam")
    catalogue.remove("odd-bcf")


@pytest.mark.parametrize(
    "region",
    [("chr1", 10_000, 12_000), ("chr2", 0, 40_000), ("chr1", 33_333, 33_334), ("*", None, None),
     (None, None, None)],
)
def test_reblocked_bam(
    client: FlaskClient, odd: None, reblocked: tuple[Path, Path], tmp_path: Path,
    region: tuple,
) -> None:
    name, start, end = region
    params = {k: v for k, v in (("referenceName", name), ("start", start), ("end", end))
              if v is not None}
    ticket = client.get(f"{BASE}/reads/odd-bam", query_string=params).get_json(force=True)
    out = tmp_path / "out.bam"
    out.write_bytes(resolve(client, ticket))
    with pysam.AlignmentFile(str(out), check_sq=False) as f:
        got = [r.to_string() for r in f.fetch(until_eof=True)]
    expected = region_reads(reblocked[0], name, start, end)
    assert got == expected and expected


def test_reblocked_bcf(client: FlaskClient, odd: None, reblocked: tuple[Path, Path],
                       tmp_path: Path) -> None:
    body = {"format": "BCF", "regions": [{"referenceName": "chr2", "start": 1000, "end": 9000},
                                         {"referenceName": "chr1", "start": 50_000}]}
    ticket = client.post(f"{BASE}/variants/odd-bcf", json=body).get_json(force=True)
    out = tmp_path / "out.bcf"
    out.write_bytes(resolve(client, ticket))
    with pysam.VariantFile(str(out)) as f:
        got = [str(r) for r in f]
    with pysam.VariantFile(str(reblocked[1])) as f:
        expected = [str(r) for r in f.fetch("chr1", 50_000)] + [
            str(r) for r in f.fetch("chr2", 1000, 9000)]
    assert got == expected and expected
