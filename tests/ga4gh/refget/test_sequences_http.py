"""Refget 2.0.0 HTTP API: identifiers, sub-sequences, Range, circular, negotiation, errors."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ga4gh.refget.ports import SequenceRegistry
from tests.ga4gh.refget.conftest import write_fasta

BASE = "/ga4gh/refget/sequence"
PLAIN_V2 = "text/vnd.ga4gh.refget.v2.0.0+plain; charset=us-ascii"
JSON_V2 = "application/vnd.ga4gh.refget.v2.0.0+json; charset=us-ascii"


def md5(seq: str) -> str:
    return hashlib.md5(seq.upper().encode()).hexdigest()


def ga4gh(seq: str) -> str:
    digest = hashlib.sha512(seq.upper().encode()).digest()[:24]
    return "SQ." + base64.urlsafe_b64encode(digest).decode()


@pytest.fixture()
def loaded(
    registry: SequenceRegistry, genome_fasta: Path, genome: dict[str, str]
) -> dict[str, str]:
    registry.add_fasta(genome_fasta, circular=["chrM"], naming_authority="ucsc")
    return genome


def assert_error(resp, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == JSON_V2
    body = resp.get_json(force=True)
    assert body["status_code"] == status
    assert body["error"] == error
    assert body["message"]


def test_whole_sequence_by_every_identifier_form(
    client: FlaskClient, loaded: dict[str, str]
) -> None:
    seq = loaded["chr2"]
    sq = ga4gh(seq)
    trunc512 = base64.urlsafe_b64decode(sq[3:]).hex()
    for ident in (
        md5(seq),
        md5(seq).upper(),
        f"md5:{md5(seq)}",
        sq,
        f"ga4gh:{sq}",
        trunc512,
        f"trunc512:{trunc512}",
        "ucsc:chr2",
    ):
        resp = client.get(f"{BASE}/{ident}")
        assert resp.status_code == 200, ident
        assert resp.headers["Content-Type"] == PLAIN_V2
        assert resp.headers["Content-Length"] == str(len(seq))
        assert resp.headers["Accept-Ranges"] == "bytes"
        # Soft-masked bases are served upper-case, as they were digested.
        assert resp.data == seq.upper().encode()


def test_large_sequence_is_streamed_exactly(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chr1"]
    resp = client.get(f"{BASE}/{md5(seq)}")
    assert resp.status_code == 200
    assert resp.is_streamed
    assert resp.data == seq.encode()


@pytest.mark.parametrize(
    "ident", ["0" * 32, "SQ." + "A" * 32, "ucsc:chrUn", "nonsense", "md5:xyz", "ga4gh:SQ.x"]
)
def test_unknown_identifier_is_404(client: FlaskClient, loaded: dict[str, str], ident: str) -> None:
    resp = client.get(f"{BASE}/{ident}")
    assert_error(resp, 404, "NotFound")
    assert_error(client.get(f"{BASE}/{ident}/metadata"), 404, "NotFound")


def test_start_end(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chr1"]
    url = f"{BASE}/{md5(seq)}"
    resp = client.get(url + "?start=1000&end=2000")
    assert resp.status_code == 200
    assert resp.data == seq[1000:2000].encode()
    assert resp.headers["Accept-Ranges"] == "none"
    assert resp.headers["Content-Length"] == "1000"
    assert client.get(url + "?start=149990").data == seq[149990:].encode()
    assert client.get(url + "?end=5").data == seq[:5].encode()
    empty = client.get(url + "?start=10&end=10")
    assert empty.status_code == 200 and empty.data == b""


def test_soft_masked_slice_is_upper_case(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chr2"]
    resp = client.get(f"{BASE}/{md5(seq)}?start=990&end=1010")
    assert resp.data == seq[990:1010].upper().encode()


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("start=abc&end=10", 400, "BadRequest"),
        ("start=-1", 400, "BadRequest"),
        ("end=1.5", 400, "BadRequest"),
        ("start=4294967296", 400, "BadRequest"),
        ("start=150000", 416, "RangeNotSatisfiable"),
        ("start=0&end=150001", 416, "RangeNotSatisfiable"),
        ("start=100&end=10", 416, "RangeNotSatisfiable"),  # chr1 is not circular
    ],
)
def test_start_end_errors(
    client: FlaskClient, loaded: dict[str, str], query: str, status: int, error: str
) -> None:
    assert_error(client.get(f"{BASE}/{md5(loaded['chr1'])}?{query}"), status, error)


def test_circular_sequence_wraps_the_origin(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chrM"]
    resp = client.get(f"{BASE}/{md5(seq)}?start=1650&end=7")
    assert resp.status_code == 200
    assert resp.data == (seq[1650:] + seq[:7]).encode()
    assert resp.headers["Content-Length"] == "16"


def test_range_header(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chr1"]
    url = f"{BASE}/{md5(seq)}"
    resp = client.get(url, headers={"Range": "bytes=5-14"})
    assert resp.status_code == 206
    assert resp.data == seq[5:15].encode()
    assert resp.headers["Content-Range"] == f"bytes 5-14/{len(seq)}"
    assert resp.headers["Content-Length"] == "10"
    tail = client.get(url, headers={"Range": "bytes=149990-"})
    assert tail.status_code == 206 and tail.data == seq[149990:].encode()
    suffix = client.get(url, headers={"Range": "bytes=-7"})
    assert suffix.status_code == 206 and suffix.data == seq[-7:].encode()
    clamped = client.get(url, headers={"Range": "bytes=149999-999999"})
    assert clamped.status_code == 206
    assert clamped.headers["Content-Range"] == f"bytes 149999-149999/{len(seq)}"


@pytest.mark.parametrize(
    ("header", "status", "error"),
    [
        ("units=1-2", 400, "BadRequest"),
        ("bytes=1-2,5-6", 400, "BadRequest"),
        ("bytes=ab-19", 400, "BadRequest"),
        ("bytes=-10-", 400, "BadRequest"),
        ("bytes=20-10", 416, "RangeNotSatisfiable"),
        ("bytes=150000-150010", 416, "RangeNotSatisfiable"),
    ],
)
def test_range_errors(
    client: FlaskClient, loaded: dict[str, str], header: str, status: int, error: str
) -> None:
    resp = client.get(f"{BASE}/{md5(loaded['chr1'])}", headers={"Range": header})
    assert_error(resp, status, error)
    if status == 416:
        assert resp.headers["Content-Range"] == "bytes */150000"


def test_range_and_start_together_is_400(client: FlaskClient, loaded: dict[str, str]) -> None:
    resp = client.get(f"{BASE}/{md5(loaded['chr1'])}?start=1", headers={"Range": "bytes=1-2"})
    assert_error(resp, 400, "BadRequest")


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/plain", PLAIN_V2),
        ("text/vnd.ga4gh.refget.v2.0.0+plain", PLAIN_V2),
        ("text/vnd.ga4gh.refget.v2.0.0+plain; charset=us-ascii", PLAIN_V2),
        ("*/*", PLAIN_V2),
        ("text/*", PLAIN_V2),
        ("application/json;q=0.9, text/plain;q=0.5", PLAIN_V2),
        (
            "text/vnd.ga4gh.refget.v1.0.0+plain",
            "text/vnd.ga4gh.refget.v1.0.0+plain; charset=us-ascii",
        ),
    ],
)
def test_accept_negotiation(
    client: FlaskClient, loaded: dict[str, str], accept: str, content_type: str
) -> None:
    resp = client.get(f"{BASE}/{md5(loaded['chr2'])}?start=0&end=4", headers={"Accept": accept})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == content_type


@pytest.mark.parametrize("accept", ["application/json", "embl/some_json", "text/plain;q=0"])
def test_unsupported_accept_is_406(
    client: FlaskClient, loaded: dict[str, str], accept: str
) -> None:
    resp = client.get(f"{BASE}/{md5(loaded['chr2'])}", headers={"Accept": accept})
    assert_error(resp, 406, "NotAcceptable")


def test_metadata(client: FlaskClient, loaded: dict[str, str]) -> None:
    seq = loaded["chrM"]
    resp = client.get(f"{BASE}/{ga4gh(seq)}/metadata")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_V2
    assert resp.get_json(force=True) == {
        "metadata": {
            "md5": md5(seq),
            "ga4gh": ga4gh(seq),
            "length": len(seq),
            "aliases": [{"alias": "chrM", "naming_authority": "ucsc"}],
        }
    }
    assert (
        client.get(
            f"{BASE}/{md5(seq)}/metadata", headers={"Accept": "application/json"}
        ).status_code
        == 200
    )
    v1 = client.get(
        f"{BASE}/{md5(seq)}/metadata",
        headers={"Accept": "application/vnd.ga4gh.refget.v1.0.0+json"},
    )
    assert v1.headers["Content-Type"].startswith("application/vnd.ga4gh.refget.v1.0.0+json")
    assert (
        v1.get_json(force=True)["metadata"]["trunc512"]
        == base64.urlsafe_b64decode(ga4gh(seq)[3:]).hex()
    )
    assert_error(
        client.get(f"{BASE}/{md5(seq)}/metadata", headers={"Accept": "text/plain"}),
        406,
        "NotAcceptable",
    )


def test_service_info(client: FlaskClient, loaded: dict[str, str]) -> None:
    resp = client.get(f"{BASE}/service-info")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_V2
    doc = resp.get_json(force=True)
    assert doc["type"] == {"group": "org.ga4gh", "artifact": "refget-sequence", "version": "2.0.0"}
    assert doc["refget"] == {
        "circular_supported": True,
        "subsequence_limit": None,
        "algorithms": ["md5", "ga4gh", "trunc512"],
        "identifier_types": ["ucsc"],
    }
    for key in ("id", "name", "organization", "version"):
        assert key in doc
    v1 = client.get(
        f"{BASE}/service-info", headers={"Accept": "application/vnd.ga4gh.refget.v1.0.0+json"}
    ).get_json(force=True)
    assert v1["service"]["circular_supported"] is True


def test_ambiguous_alias_is_409(
    client: FlaskClient, registry: SequenceRegistry, tmp_path: Path
) -> None:
    registry.add_fasta(
        write_fasta(tmp_path / "a.fa", {"chr1": "ACGTACGT"}), naming_authority="ucsc"
    )
    registry.add_fasta(
        write_fasta(tmp_path / "b.fa", {"chr1": "TTTTCCCC"}), naming_authority="ucsc"
    )
    assert_error(client.get(f"{BASE}/ucsc:chr1"), 409, "Conflict")


def test_routing_errors_use_refget_json(client: FlaskClient) -> None:
    assert_error(client.get("/ga4gh/refget/nothing/here"), 404, "NotFound")
    resp = client.post(f"{BASE}/{'0' * 32}")
    assert_error(resp, 405, "MethodNotAllowed")
    assert "GET" in resp.headers["Allow"]


def test_missing_fasta_file_is_503(
    client: FlaskClient, registry: SequenceRegistry, tmp_path: Path
) -> None:
    seq = "GATTACAGATTACA"
    path = write_fasta(tmp_path / "gone.fa", {"x": seq})
    registry.add_fasta(path)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(str(path), moved / "gone.fa")
    assert_error(client.get(f"{BASE}/{md5(seq)}"), 503, "ServiceUnavailable")


def test_public_sequences_allow_any_origin(client: FlaskClient, loaded: dict[str, str]) -> None:
    resp = client.get(f"{BASE}/{md5(loaded['chr2'])}?start=0&end=1")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("layout", ["bgzip", "crlf", "ragged-last-line"])
def test_fasta_layouts_serve_the_digested_bases(
    client: FlaskClient, registry: SequenceRegistry, tmp_path: Path, layout: str
) -> None:
    import random

    import pysam

    rng = random.Random(layout)
    seq = "".join(rng.choice("ACGTacgtN") for _ in range(1003))
    lines = [seq[i : i + 70] for i in range(0, len(seq), 70)]
    path = tmp_path / "x.fa"
    newline = "\r\n" if layout == "crlf" else "\n"
    path.write_bytes((newline.join([">x", *lines]) + newline).encode())
    if layout == "bgzip":
        pysam.tabix_compress(str(path), str(tmp_path / "x.fa.gz"))
        path = tmp_path / "x.fa.gz"
    registry.add_fasta(path)
    url = f"{BASE}/{md5(seq)}"
    assert client.get(url).data == seq.upper().encode()
    for start, end in ((0, 1), (69, 71), (139, 141), (1000, 1003), (5, 905)):
        resp = client.get(f"{url}?start={start}&end={end}")
        assert resp.data == seq[start:end].upper().encode(), (start, end)
