"""GA4GH DRS 1.4 over HTTP for catalogued files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from config.app import create_app
from config.context import AppContext
from config.settings import Settings
from ga4gh.catalogue.ports import GenomicCatalogue
from tests.ga4gh.genomic_data import GenomicFiles

BASE = "/ga4gh/drs/v1"
FILES = {"bam": "d-bam", "cram": "d-cram", "vcf": "d-vcf", "bcf": "d-bcf", "fasta": "d-ref"}


@pytest.fixture()
def objects(ctx: AppContext, genomic_files: GenomicFiles) -> Iterator[dict[str, str]]:
    catalogue = ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    for attr, object_id in FILES.items():
        catalogue.add(object_id, getattr(genomic_files, attr),
                      dataset="ds1" if attr != "fasta" else "refs")
    yield FILES
    for object_id in FILES.values():
        catalogue.remove(object_id, force=True)


def _error(resp: Any, status: int) -> None:
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["status_code"] == status and body["msg"]


@pytest.mark.parametrize("attr", list(FILES))
def test_object_and_https_access(
    client: FlaskClient, objects: dict, genomic_files: GenomicFiles, attr: str
) -> None:
    object_id = FILES[attr]
    data = getattr(genomic_files, attr).read_bytes()
    resp = client.get(f"{BASE}/objects/{object_id}")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["id"] == object_id
    assert doc["self_uri"] == f"drs://localhost/{object_id}"
    assert doc["size"] == len(data)
    assert {c["type"]: c["checksum"] for c in doc["checksums"]} == {
        "md5": hashlib.md5(data).hexdigest(), "sha-256": hashlib.sha256(data).hexdigest()}
    assert doc["created_time"].endswith("Z")
    types = [m["type"] for m in doc["access_methods"]]
    assert types == (["https"] if attr == "fasta" else ["https", "htsget"])
    resp = client.get(f"{BASE}/objects/{object_id}/access/https")
    assert resp.status_code == 200
    access = resp.get_json()
    url = urlsplit(access["url"])
    got = client.get(url.path + "?" + url.query)
    assert got.status_code == 200 and got.data == data
    part = client.get(url.path + "?" + url.query, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.data == data[10:100]


def test_htsget_access_method_points_at_the_ticket(client: FlaskClient, objects: dict) -> None:
    doc = client.get(f"{BASE}/objects/d-vcf").get_json()
    method = next(m for m in doc["access_methods"] if m["type"] == "htsget")
    url = urlsplit(method["access_url"]["url"])
    assert url.path == "/ga4gh/htsget/v1/variants/d-vcf"
    ticket = client.get(url.path)
    assert ticket.status_code == 200 and "htsget" in ticket.get_json(force=True)


def test_errors(client: FlaskClient, objects: dict) -> None:
    _error(client.get(f"{BASE}/objects/nope"), 404)
    _error(client.get(f"{BASE}/objects/nope/access/https"), 404)
    _error(client.get(f"{BASE}/objects/d-bam/access/s3"), 404)
    _error(client.get(f"{BASE}/objects/d-bam?expand=maybe"), 400)
    _error(client.delete(f"{BASE}/objects/d-bam"), 405)
    _error(client.get(f"{BASE}/nothing-here"), 404)
    _error(client.post(f"{BASE}/objects", json={"bulk_object_ids": []}), 400)
    _error(client.post(f"{BASE}/objects", json={"bulk_object_ids": ["x"] * 1001}), 413)


def test_bulk(client: FlaskClient, objects: dict) -> None:
    resp = client.post(f"{BASE}/objects", json={"bulk_object_ids": ["d-bam", "nope", "d-vcf"]})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["summary"] == {"requested": 3, "resolved": 2, "unresolved": 1}
    assert [o["id"] for o in body["resolved_drs_object"]] == ["d-bam", "d-vcf"]
    assert body["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": ["nope"]}]


def test_service_info(client: FlaskClient) -> None:
    doc = client.get(f"{BASE}/service-info").get_json()
    assert doc["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.4.0"}
    assert doc["drs"]["maxBulkRequestLength"] == doc["maxBulkRequestLength"]


def test_authorization(base_settings: Settings, tmp_path: Path, objects: dict) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{hashlib.sha256(b'ds1-reader').hexdigest()} genomics:read:ds1\n")
    client = create_app(
        base_settings.replace(authorization="on", api_tokens_file=str(tokens))
    ).test_client()
    _error(client.get(f"{BASE}/objects/d-bam"), 401)
    auth = {"Authorization": "Bearer ds1-reader"}
    assert client.get(f"{BASE}/objects/d-bam", headers=auth).status_code == 200
    _error(client.get(f"{BASE}/objects/d-ref", headers=auth), 403)
    _error(client.get(f"{BASE}/objects/d-ref/access/https", headers=auth), 403)
    body = client.post(f"{BASE}/objects", headers=auth,
                       json={"bulk_object_ids": ["d-bam", "d-ref"]}).get_json()
    assert body["unresolved_drs_objects"] == [{"error_code": 403, "object_ids": ["d-ref"]}]
