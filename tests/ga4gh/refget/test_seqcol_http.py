"""Sequence Collections 1.0.0 HTTP API: collection levels, comparison, list, attribute."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from refget.utils import compare_seqcols

from ga4gh.refget.ports import SequenceRegistry

BASE = "/ga4gh/seqcol"
# Expected digests as published with the refget package (not computed by this server).
EXPECTED: dict[str, Any] = json.loads(
    (resources.files("refget") / "compliance_data" / "test_fasta_digests.json").read_text()
)
BASE_FA = EXPECTED["base.fa"]


@pytest.fixture()
def loaded(registry: SequenceRegistry, seqcol_fastas: dict[str, Path]) -> dict[str, str]:
    return {name: registry.add_fasta(path) for name, path in seqcol_fastas.items()}


def assert_error(resp, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.get_json()
    assert body["status_code"] == status and body["error"] == error and body["message"]


def test_registered_digests_are_the_published_ones(loaded: dict[str, str]) -> None:
    assert loaded == {name: EXPECTED[name]["top_level_digest"] for name in loaded}


def test_collection_levels(client: FlaskClient, loaded: dict[str, str]) -> None:
    digest = BASE_FA["top_level_digest"]
    level1 = client.get(f"{BASE}/collection/{digest}?level=1")
    assert level1.status_code == 200
    assert level1.get_json() == BASE_FA["level1"]
    level2 = client.get(f"{BASE}/collection/{digest}?level=2")
    assert level2.status_code == 200
    assert level2.headers["Content-Type"] == "application/json"
    assert level2.get_json() == BASE_FA["level2"]
    assert client.get(f"{BASE}/collection/{digest}").get_json() == BASE_FA["level2"]


def test_collection_errors(client: FlaskClient, loaded: dict[str, str]) -> None:
    assert_error(client.get(f"{BASE}/collection/nope"), 404, "NotFound")
    digest = BASE_FA["top_level_digest"]
    assert_error(client.get(f"{BASE}/collection/{digest}?level=3"), 400, "BadRequest")
    assert_error(client.get(f"{BASE}/collection/{digest}?level=x"), 400, "BadRequest")


def test_comparison_matches_reference_implementation(
    client: FlaskClient, loaded: dict[str, str]
) -> None:
    a, b = loaded["base.fa"], loaded["pair_swap.fa"]
    resp = client.get(f"{BASE}/comparison/{a}/{b}")
    assert resp.status_code == 200
    level2_a = client.get(f"{BASE}/collection/{a}").get_json()
    level2_b = client.get(f"{BASE}/collection/{b}").get_json()
    assert resp.get_json() == {"digests": {"a": a, "b": b}, **compare_seqcols(level2_a, level2_b)}
    assert_error(client.get(f"{BASE}/comparison/{a}/unknown"), 404, "NotFound")


def test_post_comparison(client: FlaskClient, loaded: dict[str, str]) -> None:
    a = loaded["base.fa"]
    local = {
        "names": ["chrX", "chr1"],
        "lengths": [8, 4],
        "sequences": BASE_FA["level2"]["sequences"][:2],
    }
    resp = client.post(f"{BASE}/comparison/{a}", json=local)
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["digests"] == {"a": a, "b": EXPECTED["subset.fa"]["top_level_digest"]}
    assert doc["attributes"]["a_and_b"] == ["lengths", "names", "sequences"]
    assert doc["array_elements"]["a_and_b_count"] == {"lengths": 2, "names": 2, "sequences": 2}
    assert doc["array_elements"]["a_and_b_same_order"]["names"] is True


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        (
            {"data": "names=chr1", "content_type": "application/x-www-form-urlencoded"},
            415,
            "UnsupportedMediaType",
        ),
        ({"data": "{not json", "content_type": "application/json"}, 400, "BadRequest"),
        ({"json": [1, 2]}, 400, "BadRequest"),
        ({"json": {"names": ["a"], "lengths": [1]}}, 400, "BadRequest"),
        ({"json": {"names": "a", "lengths": [1], "sequences": ["SQ.x"]}}, 400, "BadRequest"),
        ({"json": {"names": ["a"], "lengths": ["1"], "sequences": ["SQ.x"]}}, 400, "BadRequest"),
    ],
)
def test_post_comparison_refusals(
    client: FlaskClient, loaded: dict[str, str], kwargs: dict[str, Any], status: int, error: str
) -> None:
    assert_error(client.post(f"{BASE}/comparison/{loaded['base.fa']}", **kwargs), status, error)


def test_post_comparison_unknown_collection_is_404(client: FlaskClient) -> None:
    body = {"names": ["a"], "lengths": [1], "sequences": ["SQ.x"]}
    assert_error(client.post(f"{BASE}/comparison/unknown", json=body), 404, "NotFound")


def test_list_paging_and_filters(client: FlaskClient, loaded: dict[str, str]) -> None:
    everything = client.get(f"{BASE}/list/collection").get_json()
    assert sorted(everything["results"]) == sorted(loaded.values())
    assert everything["pagination"] == {"page": 0, "page_size": 100, "total": 6}
    page1 = client.get(f"{BASE}/list/collection?page=1&page_size=4").get_json()
    assert page1["pagination"] == {"page": 1, "page_size": 4, "total": 6}
    assert page1["results"] == sorted(loaded.values())[4:]
    # Same lengths digest: base, different_names, pair_swap and swap_wo_coords.
    by_lengths = client.get(
        f"{BASE}/list/collection?lengths={BASE_FA['level1']['lengths']}"
    ).get_json()
    assert by_lengths["pagination"]["total"] == 4
    both = client.get(
        f"{BASE}/list/collection?lengths={BASE_FA['level1']['lengths']}"
        f"&names={BASE_FA['level1']['names']}"
    ).get_json()
    assert both["results"] == [BASE_FA["top_level_digest"]]
    snlp = client.get(
        f"{BASE}/list/collection?sorted_name_length_pairs="
        f"{BASE_FA['sorted_name_length_pairs_digest']}"
    ).get_json()
    assert sorted(snlp["results"]) == sorted(
        # Same coordinate system in another order, or with same-length sequences swapped.
        [loaded["base.fa"], loaded["different_order.fa"], loaded["swap_wo_coords.fa"]]
    )


@pytest.mark.parametrize(
    "query", ["page=-1", "page_size=0", "page_size=1001", "page=x", "colour=abc", "names=a&names=b"]
)
def test_list_refusals(client: FlaskClient, loaded: dict[str, str], query: str) -> None:
    assert_error(client.get(f"{BASE}/list/collection?{query}"), 400, "BadRequest")


def test_list_other_object_type_is_404(client: FlaskClient) -> None:
    assert_error(client.get(f"{BASE}/list/pangenome"), 404, "NotFound")


def test_attribute(client: FlaskClient, loaded: dict[str, str]) -> None:
    for attr in ("lengths", "names", "sequences", "sorted_sequences", "name_length_pairs"):
        resp = client.get(f"{BASE}/attribute/collection/{attr}/{BASE_FA['level1'][attr]}")
        assert resp.status_code == 200
        assert resp.get_json() == BASE_FA["level2"][attr]
    snlp = BASE_FA["level1"]["sorted_name_length_pairs"]
    assert_error(
        client.get(f"{BASE}/attribute/collection/sorted_name_length_pairs/{snlp}"), 404, "NotFound"
    )
    assert_error(client.get(f"{BASE}/attribute/collection/names/unknown"), 404, "NotFound")
    assert_error(client.get(f"{BASE}/attribute/collection/colour/abc"), 404, "NotFound")
    assert_error(
        client.get(f"{BASE}/attribute/pangenome/names/{BASE_FA['level1']['names']}"),
        404,
        "NotFound",
    )


def test_list_attributes(client: FlaskClient, loaded: dict[str, str]) -> None:
    doc = client.get(f"{BASE}/list/attributes/lengths").get_json()
    assert sorted(doc["results"]) == sorted({e["level1"]["lengths"] for e in EXPECTED.values()})
    assert_error(client.get(f"{BASE}/list/attributes/sorted_name_length_pairs"), 404, "NotFound")


def test_service_info_and_openapi(client: FlaskClient) -> None:
    info = client.get(f"{BASE}/service-info").get_json()
    assert info["type"] == {"group": "org.ga4gh", "artifact": "refget-seqcol", "version": "1.0.0"}
    schema = info["seqcol"]["schema"]
    assert schema["ga4gh"]["inherent"] == ["names", "sequences"]
    assert schema["ga4gh"]["transient"] == ["sorted_name_length_pairs"]
    assert {"lengths", "names", "sequences"} <= set(schema["properties"])
    spec = client.get(f"{BASE}/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/collection/{digest}" in spec["paths"]


def test_routing_errors_use_seqcol_json(client: FlaskClient) -> None:
    assert_error(client.get(f"{BASE}/nothing"), 404, "NotFound")
    assert_error(client.delete(f"{BASE}/collection/x"), 405, "MethodNotAllowed")
