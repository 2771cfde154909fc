"""fields, tags and notags on BAM: served by transcoding with pysam, only when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pysam
import pytest
from flask.testing import FlaskClient

from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.htsget.helpers import BASE, resolve


def _segments(client: FlaskClient, ticket: dict, tmp_path: Path) -> list[Any]:
    out = tmp_path / "t.bam"
    out.write_bytes(resolve(client, ticket))
    with pysam.AlignmentFile(str(out), check_sq=False) as f:
        return list(f.fetch(until_eof=True))


def _local(genomic_files: GenomicFiles, contig: str, start: int, end: int) -> list[Any]:
    with pysam.AlignmentFile(str(genomic_files.bam)) as f:
        return list(f.fetch(contig, start, end))


def test_no_filter_means_no_transcoding(client: FlaskClient, catalogued: dict) -> None:
    every = "QNAME,FLAG,RNAME,POS,MAPQ,CIGAR,RNEXT,PNEXT,TLEN,SEQ,QUAL"
    ticket = client.get(f"{BASE}/reads/reads-bam?fields={every}").get_json(force=True)
    assert all("/transcode" not in u["url"] for u in ticket["htsget"]["urls"])


def test_fields(client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles,
                tmp_path: Path) -> None:
    ticket = client.get(
        f"{BASE}/reads/reads-bam?referenceName=chr1&start=2000&end=6000&fields=QNAME,POS,MAPQ"
    ).get_json(force=True)
    assert len(ticket["htsget"]["urls"]) == 1 and "/transcode" in ticket["htsget"]["urls"][0]["url"]
    got = _segments(client, ticket, tmp_path)
    expected = _local(genomic_files, "chr1", 2000, 6000)
    assert len(got) == len(expected) > 0
    for g, e in zip(got, expected, strict=True):
        assert (g.query_name, g.reference_start, g.mapping_quality, g.flag, g.cigarstring) == (
            e.query_name, e.reference_start, e.mapping_quality, e.flag, e.cigarstring)
        assert g.query_sequence is None and g.query_qualities is None
        assert g.get_tags() == e.get_tags()


@pytest.mark.parametrize(
    ("params", "kept"),
    [("tags=RG", {"RG"}), ("notags=NM", {"RG", "AS"}), ("tags=", set()),
     ("tags=RG,NM&notags=AS", {"RG", "NM"})],
)
def test_tags(client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles,
              tmp_path: Path, params: str, kept: set[str]) -> None:
    ticket = client.get(
        f"{BASE}/reads/reads-bam?referenceName=chr2&start=0&end=3000&{params}"
    ).get_json(force=True)
    got = _segments(client, ticket, tmp_path)
    expected = _local(genomic_files, "chr2", 0, 3000)
    assert [g.to_string().split("\t")[:11] for g in got] == [
        e.to_string().split("\t")[:11] for e in expected]
    assert all({t for t, _ in g.get_tags()} == kept for g in got)


def test_post_filters_several_regions(client: FlaskClient, catalogued: dict,
                                      genomic_files: GenomicFiles, tmp_path: Path) -> None:
    body = {"fields": ["QNAME"], "notags": ["AS"],
            "regions": [{"referenceName": "chr2", "start": 100, "end": 900},
                        {"referenceName": "chr1", "start": 100, "end": 900}]}
    ticket = client.post(f"{BASE}/reads/reads-bam", json=body).get_json(force=True)
    got = _segments(client, ticket, tmp_path)
    expected = _local(genomic_files, "chr1", 100, 900) + _local(genomic_files, "chr2", 100, 900)
    assert [g.query_name for g in got] == [e.query_name for e in expected]


def test_tampered_transcode_url(client: FlaskClient, catalogued: dict) -> None:
    ticket = client.get(f"{BASE}/reads/reads-bam?tags=RG").get_json(force=True)
    url = urlsplit(ticket["htsget"]["urls"][0]["url"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    params["spec"] = params["spec"][:-2] + "AA"
    resp = client.get(f"{url.path}?{urlencode(params)}")
    assert resp.status_code == 403
    assert resp.get_json()["htsget"]["error"] == "PermissionDenied"
    resp = client.get(url.path)
    assert resp.status_code == 403
