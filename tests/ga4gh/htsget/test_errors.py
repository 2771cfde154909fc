"""Every htsget error: the spec's JSON body, error type and HTTP status."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient

from config.app import create_app
from config.settings import Settings
from tests.ga4gh.htsget.helpers import BASE


def _error(resp: Any, status: int, error: str) -> str:
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/json"
    body = resp.get_json(force=True)
    assert set(body) == {"htsget"}
    assert set(body["htsget"]) == {"error", "message"}
    assert body["htsget"]["error"] == error
    assert body["htsget"]["message"]
    return str(body["htsget"]["message"])


@pytest.mark.parametrize(
    ("path", "query", "status", "error"),
    [
        ("/reads/nope", "", 404, "NotFound"),
        ("/variants/reads-bam", "", 404, "NotFound"),  # a reads object is no variants
        ("/reads/vars-vcf", "", 404, "NotFound"),
        ("/reads/reads-bam", "referenceName=chrX", 404, "NotFound"),
        ("/variants/vars-vcf", "referenceName=*", 404, "NotFound"),
        ("/reads/reads-bam", "format=CRAM", 400, "UnsupportedFormat"),
        ("/reads/reads-bam", "format=VCF", 400, "UnsupportedFormat"),
        ("/variants/vars-vcf", "format=BAM", 400, "UnsupportedFormat"),
        ("/variants/vars-vcf", "format=BCF", 400, "UnsupportedFormat"),
        ("/reads/reads-bam", "class=body", 400, "InvalidInput"),
        ("/reads/reads-bam", "class=header&referenceName=chr1", 400, "InvalidInput"),
        ("/reads/reads-bam", "start=5", 400, "InvalidInput"),
        ("/reads/reads-bam", "end=5", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=*&start=5", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=chr1&start=-1", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=chr1&start=abc", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=chr1&end=4294967296", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=chr1&start=10&end=9", 400, "InvalidRange"),
        ("/reads/reads-bam", "fields=QNAME,BOGUS", 400, "InvalidInput"),
        ("/reads/reads-bam", "tags=NM,AS&notags=AS", 400, "InvalidInput"),
        ("/reads/reads-bam", "tags=N", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceMD5=abc", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=chr1&referenceName=chr2", 400, "InvalidInput"),
        ("/reads/reads-bam", "referenceName=", 400, "InvalidInput"),
        ("/nonsense/reads-bam", "", 404, "NotFound"),
    ],
)
def test_get_errors(
    client: FlaskClient, catalogued: dict, path: str, query: str, status: int, error: str
) -> None:
    _error(client.get(f"{BASE}{path}?{query}"), status, error)


def test_get_start_equal_end_is_valid_but_post_is_not(
    client: FlaskClient, catalogued: dict
) -> None:
    ok = client.get(f"{BASE}/reads/reads-bam?referenceName=chr1&start=10&end=10")
    assert ok.status_code == 200
    resp = client.post(f"{BASE}/reads/reads-bam",
                       json={"regions": [{"referenceName": "chr1", "start": 10, "end": 10}]})
    _error(resp, 400, "InvalidRange")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"regions": []}, 400, "InvalidInput"),
        ({"regions": {}}, 400, "InvalidInput"),
        ({"regions": [{"start": 1, "end": 2}]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": 7}]}, 400, "InvalidInput"),
        ({"regions": ["chr1"]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": "chr1", "start": 5, "end": 4}]}, 400, "InvalidRange"),
        ({"regions": [{"referenceName": "chr1", "start": "5"}]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": "chr1", "start": -5}]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": "chr1", "start": 1.5}]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": "chr1", "bogus": 1}]}, 400, "InvalidInput"),
        ({"regions": [{"referenceName": "chrZ"}]}, 404, "NotFound"),
        ({"regions": [{"referenceName": "*", "start": 1}]}, 400, "InvalidInput"),
        ({"class": "header", "regions": [{"referenceName": "chr1"}]}, 400, "InvalidInput"),
        ({"format": "CRAM"}, 400, "UnsupportedFormat"),
        ({"format": "SAM"}, 400, "UnsupportedFormat"),
        ({"tags": ["NM"], "notags": ["NM"]}, 400, "InvalidInput"),
        ({"fields": "QNAME"}, 400, "InvalidInput"),
        ({"referenceName": "chr1"}, 400, "InvalidInput"),
        ([1, 2], 400, "InvalidInput"),
    ],
)
def test_post_errors(
    client: FlaskClient, catalogued: dict, body: Any, status: int, error: str
) -> None:
    _error(client.post(f"{BASE}/reads/reads-bam", json=body), status, error)


def test_post_errors_of_the_transport(client: FlaskClient, catalogued: dict) -> None:
    _error(client.post(f"{BASE}/reads/reads-bam", data=b"{not json",
                       content_type="application/json"), 400, "InvalidInput")
    _error(client.post(f"{BASE}/reads/reads-bam?format=BAM", json={}), 400, "InvalidInput")
    too_many = {"regions": [{"referenceName": "chr1", "start": i, "end": i + 1}
                            for i in range(600)]}
    _error(client.post(f"{BASE}/reads/reads-bam", json=too_many), 413, "PayloadTooLarge")
    huge = b'{"regions": [' + b" " * (2 * 1024 * 1024) + b"]}"
    _error(client.post(f"{BASE}/reads/reads-bam", data=huge, content_type="application/json"),
           413, "PayloadTooLarge")
    # POST with an empty body means the whole file.
    assert client.post(f"{BASE}/reads/reads-bam").status_code == 200


def test_method_not_allowed_is_htsget_json(client: FlaskClient) -> None:
    resp = client.delete(f"{BASE}/reads/reads-bam")
    _error(resp, 405, "InvalidInput")
    assert "GET" in resp.headers["Allow"]


def _data_url(client: FlaskClient) -> tuple[str, dict[str, str]]:
    ticket = client.get(f"{BASE}/reads/reads-bam?referenceName=chr1&start=1000&end=30000")
    entry = next(u for u in ticket.get_json(force=True)["htsget"]["urls"] if "headers" in u)
    parts = urlsplit(entry["url"])
    return parts.path + "?" + parts.query, entry["headers"]


def test_data_endpoint_ranges(client: FlaskClient, catalogued: dict, genomic_files) -> None:
    url, headers = _data_url(client)
    data = genomic_files.bam.read_bytes()
    first, last = (int(x) for x in headers["Range"][6:].split("-"))
    resp = client.get(url, headers=headers)
    assert resp.status_code == 206
    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    assert resp.headers["Content-Length"] == str(last - first + 1)
    assert resp.data == data[first : last + 1]
    # A sub-range (clients may split a range into parallel requests).
    resp = client.get(url, headers={"Range": f"bytes={first + 10}-{first + 19}"})
    assert resp.status_code == 206 and resp.data == data[first + 10 : first + 20]
    # No Range: the granted bytes.
    resp = client.get(url)
    assert resp.status_code == 200 and resp.data == data[first : last + 1]
    # Outside the grant.
    _error(client.get(url, headers={"Range": f"bytes={first}-{last + 1}"}), 403,
           "PermissionDenied")
    _error(client.get(url, headers={"Range": "bytes=0-10"}), 403, "PermissionDenied")
    # Beyond the end of the object.
    resp = client.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"


def test_data_endpoint_refuses_tampered_or_expired_urls(
    client: FlaskClient, catalogued: dict
) -> None:
    url, headers = _data_url(client)
    path, query = url.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    for change in ({"end": str(int(params["end"]) + 1000)}, {"start": "0"},
                   {"expires": str(int(params["expires"]) + 10)},
                   # another first character (an "A" replaced by "A" would be no change)
                   {"signature": ("B" if params["signature"][0] == "A" else "A")
                    + params["signature"][1:]}):
        _error(client.get(f"{path}?{urlencode({**params, **change})}", headers=headers),
               403, "PermissionDenied")
    assert "/reads-bam/" in path
    other = f"{BASE}/data/vars-vcf/{path.split('/')[-2]}/vars-vcf.vcf.gz"
    _error(client.get(f"{other}?{query}", headers=headers), 403, "PermissionDenied")
    _error(client.get(path), 403, "PermissionDenied")
    expired = {**params, "expires": str(int(time.time()) - 1)}
    _error(client.get(f"{path}?{urlencode(expired)}"), 403, "PermissionDenied")


@pytest.fixture()
def secured_client(base_settings: Settings, tmp_path: Path, catalogued: dict) -> FlaskClient:
    tokens = tmp_path / "tokens"
    lines = [
        f"{hashlib.sha256(b'reader-all').hexdigest()} genomics:read",
        f"{hashlib.sha256(b'reader-ds1').hexdigest()} genomics:read:ds1",
        f"{hashlib.sha256(b'reader-ds2').hexdigest()} genomics:read:ds2",
    ]
    tokens.write_text("\n".join(lines) + "\n")
    app = create_app(base_settings.replace(authorization="on", api_tokens_file=str(tokens)))
    return app.test_client()


def test_authentication_and_permission(secured_client: FlaskClient) -> None:
    url = f"{BASE}/reads/reads-bam"
    resp = secured_client.get(url)
    _error(resp, 401, "InvalidAuthentication")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    _error(secured_client.get(url, headers={"Authorization": "Bearer wrong"}), 401,
           "InvalidAuthentication")
    _error(secured_client.get(url, headers={"Authorization": "Bearer reader-ds2"}), 403,
           "PermissionDenied")
    for token in ("reader-all", "reader-ds1"):
        resp = secured_client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200
    # Unknown ids are 404 only for callers who may know: an authenticated caller here.
    _error(secured_client.get(f"{BASE}/reads/nope",
                              headers={"Authorization": "Bearer reader-all"}), 404, "NotFound")
    # service-info is public.
    assert secured_client.get(f"{BASE}/service-info").status_code == 200
