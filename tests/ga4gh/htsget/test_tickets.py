"""htsget 1.3 tickets over HTTP for BAM, CRAM, VCF and BCF: every ticket is resolved through
the data endpoint and the decoded records are compared with pysam on the original file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pysam
import pytest
from flask.testing import FlaskClient

from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.htsget.helpers import BASE, TICKET_TYPE, resolve

# (endpoint, format, attribute of GenomicFiles, catalogue id)
FORMATS = [
    ("reads", "BAM", "bam", "reads-bam"),
    ("reads", "CRAM", "cram", "reads-cram"),
    ("variants", "VCF", "vcf", "vars-vcf"),
    ("variants", "BCF", "bcf", "vars-bcf"),
]
Region = tuple[str, int | None, int | None]


def _ticket(client: FlaskClient, endpoint: str, object_id: str, **params: Any) -> dict:
    resp = client.get(f"{BASE}/{endpoint}/{object_id}", query_string=params)
    assert resp.status_code == 200, resp.data
    assert resp.headers["Content-Type"].startswith(TICKET_TYPE)
    body = resp.get_json(force=True)
    assert set(body) == {"htsget"}
    urls = body["htsget"]["urls"]
    # Either all or none of the URLs carry a class.
    assert all(u.get("class") in ("header", "body") for u in urls) or not any(
        "class" in u for u in urls)
    return body


def _post(client: FlaskClient, endpoint: str, object_id: str, body: dict) -> dict:
    resp = client.post(f"{BASE}/{endpoint}/{object_id}", json=body)
    assert resp.status_code == 200, resp.data
    assert resp.headers["Content-Type"].startswith(TICKET_TYPE)
    return resp.get_json(force=True)


def _decode(data: bytes, fmt: str, files: GenomicFiles, tmp_path: Path) -> tuple[str, list[str]]:
    """(header text, records as text) of the concatenated ticket blob."""
    path = tmp_path / f"blob.{fmt.lower()}"
    path.write_bytes(data)
    if fmt in ("BAM", "CRAM"):
        kwargs: dict[str, Any] = {"check_sq": False}
        if fmt == "CRAM":
            kwargs["reference_filename"] = str(files.fasta)
        with pysam.AlignmentFile(str(path), **kwargs) as f:
            return str(f.header), [r.to_string() for r in f.fetch(until_eof=True)]
    with pysam.VariantFile(str(path)) as f:
        return str(f.header), [str(r) for r in f]


def _original(fmt: str, attr: str, files: GenomicFiles) -> tuple[str, list[Any]]:
    """(header text, records) of the original file in file order."""
    path = getattr(files, attr)
    if fmt in ("BAM", "CRAM"):
        kwargs: dict[str, Any] = {"check_sq": False}
        if fmt == "CRAM":
            kwargs["reference_filename"] = str(files.fasta)
        with pysam.AlignmentFile(str(path), **kwargs) as f:
            return str(f.header), list(f.fetch(until_eof=True))
    with pysam.VariantFile(str(path)) as f:
        return str(f.header), list(f)


def _overlaps(rec: Any, fmt: str, region: Region) -> bool:
    name, start, end = region
    if fmt in ("BAM", "CRAM"):
        if name == "*":
            return rec.reference_id == -1
        if rec.reference_name != name or rec.reference_id == -1:
            return False
        r_start = rec.reference_start
        r_end = rec.reference_end if rec.reference_end is not None else r_start + 1
    else:
        if rec.contig != name:
            return False
        r_start, r_end = rec.start, rec.stop
    lo = start or 0
    hi = end if end is not None else 1 << 40
    return r_start < hi and r_end > lo and lo < hi


def _text(rec: Any, fmt: str) -> str:
    return rec.to_string() if fmt in ("BAM", "CRAM") else str(rec)


def _expected(fmt: str, attr: str, files: GenomicFiles, regions: list[Region] | None) -> list[str]:
    _, records = _original(fmt, attr, files)
    if regions is None:
        return [_text(r, fmt) for r in records]
    return [_text(r, fmt) for r in records if any(_overlaps(r, fmt, g) for g in regions)]


def _check(
    got: list[str], expected: list[str], fmt: str, regions: list[Region] | None,
    files: GenomicFiles, attr: str,
) -> None:
    if fmt != "CRAM":
        assert got == expected
        return
    # CRAM tickets hold whole containers: a superset, in file order, without duplicates.
    assert len(got) == len(set(got))
    _, records = _original(fmt, attr, files)
    by_text = {_text(r, fmt): r for r in records}
    kept = [t for t in got if regions is None or any(_overlaps(by_text[t], fmt, g)
                                                     for g in regions)]
    assert kept == expected


@pytest.mark.parametrize(("endpoint", "fmt", "attr", "object_id"), FORMATS)
@pytest.mark.parametrize(
    "regions",
    [
        None,
        [("chr1", 10_000, 20_000)],
        [("chr2", 5_123, 17_777)],
        [("chr1", None, None)],
        [("chr2", 39_000, None)],
        [("chr1", 150, 151)],
        [("chr1", 59_950, 60_000)],
    ],
    ids=["whole", "chr1-region", "chr2-region", "chr1-all", "chr2-tail", "first-base",
         "contig-end"],
)
def test_get_ticket_gives_exactly_the_records(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path,
    endpoint: str, fmt: str, attr: str, object_id: str, regions: list[Region] | None,
) -> None:
    params: dict[str, Any] = {"format": fmt}
    if regions:
        name, start, end = regions[0]
        params["referenceName"] = name
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end
    ticket = _ticket(client, endpoint, object_id, **params)
    assert ticket["htsget"]["format"] == fmt
    header, got = _decode(resolve(client, ticket), fmt, genomic_files, tmp_path)
    original_header, _ = _original(fmt, attr, genomic_files)
    assert header == original_header
    expected = _expected(fmt, attr, genomic_files, regions)
    if regions and regions[0][1] is not None and (endpoint == "reads" or regions[0][1] > 200):
        assert expected, "the region should hold records (else the test is vacuous)"
    _check(got, expected, fmt, regions, genomic_files, attr)


@pytest.mark.parametrize(("endpoint", "fmt", "attr", "object_id"), FORMATS)
def test_header_only(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path,
    endpoint: str, fmt: str, attr: str, object_id: str,
) -> None:
    ticket = _ticket(client, endpoint, object_id, format=fmt, **{"class": "header"})
    assert all(u["class"] == "header" for u in ticket["htsget"]["urls"])
    header, got = _decode(resolve(client, ticket), fmt, genomic_files, tmp_path)
    assert header == _original(fmt, attr, genomic_files)[0]
    assert got == []


@pytest.mark.parametrize(("endpoint", "fmt", "attr", "object_id"), FORMATS)
def test_empty_region_is_a_valid_empty_file(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path,
    endpoint: str, fmt: str, attr: str, object_id: str,
) -> None:
    # GET allows start == end: an empty range, answered with header and EOF only.
    ticket = _ticket(client, endpoint, object_id, format=fmt, referenceName="chr1",
                     start=5000, end=5000)
    data = resolve(client, ticket)
    header, got = _decode(data, fmt, genomic_files, tmp_path)
    assert got == []
    assert header == _original(fmt, attr, genomic_files)[0]


@pytest.mark.parametrize(("endpoint", "fmt", "attr", "object_id"), FORMATS[:2])
def test_unplaced_unmapped_reads(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path,
    endpoint: str, fmt: str, attr: str, object_id: str,
) -> None:
    ticket = _ticket(client, endpoint, object_id, format=fmt, referenceName="*")
    _, got = _decode(resolve(client, ticket), fmt, genomic_files, tmp_path)
    expected = _expected(fmt, attr, genomic_files, [("*", None, None)])
    assert len(expected) == 40
    _check(got, expected, fmt, [("*", None, None)], genomic_files, attr)


@pytest.mark.parametrize(("endpoint", "fmt", "attr", "object_id"), FORMATS)
def test_post_several_regions_in_file_order_without_duplicates(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path,
    endpoint: str, fmt: str, attr: str, object_id: str,
) -> None:
    regions: list[Region] = [
        ("chr2", 30_000, 31_000),
        ("chr1", 40_000, 45_000),
        ("chr1", 44_000, 46_000),  # overlaps the previous one
        ("chr1", 100, 900),
    ]
    body: dict[str, Any] = {
        "format": fmt.lower(),  # format is case-insensitive
        "regions": [{"referenceName": n, "start": s, "end": e} for n, s, e in regions],
    }
    if endpoint == "reads":
        body["regions"].append({"referenceName": "*"})
        regions.append(("*", None, None))
    ticket = _post(client, endpoint, object_id, body)
    _, got = _decode(resolve(client, ticket), fmt, genomic_files, tmp_path)
    expected = _expected(fmt, attr, genomic_files, regions)
    assert len(expected) > 50
    _check(got, expected, fmt, regions, genomic_files, attr)


def test_bgzf_ticket_bytes_stay_within_the_blocks_of_the_region(
    client: FlaskClient, catalogued: dict, genomic_files: GenomicFiles
) -> None:
    """The byte ranges of a BAM ticket never reach beyond the blocks of wanted records."""
    data = genomic_files.bam.read_bytes()
    ticket = _ticket(client, "reads", "reads-bam", referenceName="chr1", start=20_000,
                     end=21_000)
    ranged = sum(
        int(u["headers"]["Range"].split("-")[1]) + 1 - int(u["headers"]["Range"][6:].split("-")[0])
        for u in ticket["htsget"]["urls"] if "headers" in u
    )
    # ~300 of 8000 reads overlap 1 kb: far less than half the file.
    assert ranged < len(data) / 8


def test_service_info(client: FlaskClient) -> None:
    for path, datatype, formats in [
        ("/service-info", None, ["BAM", "CRAM", "VCF", "BCF"]),
        ("/reads/service-info", "reads", ["BAM", "CRAM"]),
        ("/variants/service-info", "variants", ["VCF", "BCF"]),
    ]:
        resp = client.get(BASE + path)
        assert resp.status_code == 200
        doc = resp.get_json()
        assert doc["type"] == {"group": "org.ga4gh", "artifact": "htsget", "version": "1.3.0"}
        assert doc["htsget"]["formats"] == formats
        assert doc["htsget"].get("datatype") == datatype
        assert doc["htsget"]["fieldsParameterEffective"] is (datatype == "reads")
        assert doc["htsget"]["tagsParametersEffective"] is (datatype == "reads")


def test_cors(client: FlaskClient, catalogued: dict) -> None:
    resp = client.get(f"{BASE}/reads/reads-bam", headers={"Origin": "https://igv.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://igv.example"
    resp = client.options(
        f"{BASE}/reads/reads-bam",
        headers={"Origin": "https://igv.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "Authorization"},
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Headers"] == "Authorization"
    assert resp.headers["Access-Control-Max-Age"] == str(30 * 24 * 3600)


def test_ticket_json_is_plain_json(client: FlaskClient, catalogued: dict) -> None:
    resp = client.get(f"{BASE}/variants/vars-vcf?referenceName=chr1&start=0&end=100")
    json.loads(resp.data)


def test_long_ranges_are_split(
    app, catalogued: dict, genomic_files: GenomicFiles, tmp_path: Path
) -> None:
    """Ranges longer than htsget_url_max_bytes become several URLs that concatenate."""
    from config.context import app_context
    from ga4gh.catalogue.ports import GenomicCatalogue
    from ga4gh.htsget.core.request import parse_get
    from ga4gh.htsget.http import ticket_json
    from ga4gh.htsget.service import HtsgetService

    ctx = app_context(app)
    obj = ctx.get(GenomicCatalogue).get("reads-bam")  # type: ignore[type-abstract]
    service = ctx.get(HtsgetService)
    ticket = service.ticket(obj, parse_get("reads", {}, set()))
    with app.test_request_context("/"):
        doc = ticket_json(ticket, service.store, obj.storage_key, b"k" * 32, 60, 10_000)
    ranged = [u for u in doc["htsget"]["urls"] if "headers" in u]
    assert len(ranged) > 10
    spans = [tuple(int(x) for x in u["headers"]["Range"][6:].split("-")) for u in ranged]
    assert all(b - a + 1 <= 10_000 for a, b in spans)
    assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(len(spans) - 1))
