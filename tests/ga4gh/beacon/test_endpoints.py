"""Every Beacon v2 endpoint answers with a document valid against the framework and
default-model schemas (authorization off)."""

from __future__ import annotations

import pytest

from ga4gh.beacon.core.entries import ENTRY_TYPES
from tests.ga4gh.beacon.schema import (
    assert_valid_entry_response,
    assert_valid_error,
    framework_errors,
)

B = "/ga4gh/beacon/v2"


@pytest.mark.parametrize(("path", "schema"), [
    ("", "responses/beaconInfoResponse.json"),
    ("/", "responses/beaconInfoResponse.json"),
    ("/info", "responses/beaconInfoResponse.json"),
    ("/service-info", "responses/ga4gh-service-info-1-0-0-schema.json"),
    ("/map", "responses/beaconMapResponse.json"),
    ("/configuration", "responses/beaconConfigurationResponse.json"),
    ("/entry_types", "responses/beaconEntryTypesResponse.json"),
    ("/filtering_terms", "responses/beaconFilteringTermsResponse.json"),
])
def test_informational_endpoints(indexed, client, path, schema) -> None:
    resp = client.get(B + path)
    assert resp.status_code == 200
    doc = resp.get_json()
    assert not framework_errors(doc, schema), framework_errors(doc, schema)


def test_service_info_is_a_beacon(client) -> None:
    doc = client.get(B + "/service-info").get_json()
    assert doc["type"] == {"group": "org.ga4gh", "artifact": "beacon", "version": "v2.0.0"}


def test_map_names_every_entry_type_and_route(client) -> None:
    doc = client.get(B + "/map").get_json()
    sets = doc["response"]["endpointSets"]
    assert {s["entryType"] for s in sets.values()} == {e.id for e in ENTRY_TYPES}
    variant = sets["genomicVariantEndpoints"]
    assert variant["rootUrl"] == "http://localhost" + B + "/g_variants"
    # every advertised cross-entry route answers
    for s in sets.values():
        for e in s["endpoints"].values():
            url = e["url"].replace("http://localhost", "").replace("{id}", "x")
            resp = client.get(url)
            # routed: an answer, a malformed-id 400 or "no dataset x", never "no route"
            assert resp.status_code in (200, 400, 404), url
            if resp.status_code != 200:
                assert "no route" not in resp.get_json()["error"]["errorMessage"], url
                assert "not found" not in resp.get_json()["error"]["errorMessage"].lower(), url


@pytest.mark.parametrize("entry", [e.path for e in ENTRY_TYPES])
@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_entry_endpoints(indexed, client, entry, granularity, method) -> None:
    if method == "GET":
        resp = client.get(f"{B}/{entry}", query_string={"requestedGranularity": granularity})
    else:
        resp = client.post(f"{B}/{entry}", json={"meta": {"apiVersion": "v2.0.0"}, "query": {
            "requestedGranularity": granularity}})
    assert resp.status_code == 200
    doc = resp.get_json()
    assert_valid_entry_response(doc, entry)
    if entry in ("datasets", "cohorts"):
        assert doc["responseSummary"]["numTotalResults"] == 3
    else:
        assert doc["responseSummary"]["exists"] is True


def _first_id(client, entry: str) -> str:
    doc = client.post(f"{B}/{entry}", json={"query": {"requestedGranularity": "record"}})
    body = doc.get_json()
    if "collections" in body["response"]:
        return body["response"]["collections"][0]["id"]
    return body["response"]["resultSets"][0]["results"][0].get("id") or \
        body["response"]["resultSets"][0]["results"][0]["variantInternalId"]


@pytest.mark.parametrize("entry", ["g_variants", "individuals", "biosamples", "analyses",
                                   "runs", "datasets", "cohorts"])
def test_entry_by_id_and_cross_routes(indexed, client, entry) -> None:
    from ga4gh.beacon.core.entries import BY_PATH

    entry_id = _first_id(client, entry)
    resp = client.get(f"{B}/{entry}/{entry_id}", query_string={"requestedGranularity": "record"})
    assert resp.status_code == 200
    doc = resp.get_json()
    assert_valid_entry_response(doc, entry)
    if "collections" in doc["response"]:
        assert doc["responseSummary"]["numTotalResults"] == 1
    else:
        # one entry per dataset that holds it (a variant may be in several)
        assert all(rs["resultsCount"] == 1 for rs in doc["response"]["resultSets"])
        assert doc["response"]["resultSets"]
    for related in BY_PATH[entry].related:
        resp = client.post(f"{B}/{entry}/{entry_id}/{related}",
                           json={"query": {"requestedGranularity": "record"}})
        assert resp.status_code == 200, (entry, related)
        assert_valid_entry_response(resp.get_json(), related)


def test_cross_routes_select_the_right_entries(indexed, client) -> None:
    doc = client.get(f"{B}/individuals/P3/g_variants",
                     query_string={"requestedGranularity": "record"}).get_json()
    ids = {r["variantInternalId"] for rs in doc["response"]["resultSets"] for r in rs["results"]}
    assert ids == {"GRCh38:1:999:G:A", "GRCh38:1:3999:A:T"}
    zyg = [c["zygosity"]["label"] for rs in doc["response"]["resultSets"] for r in rs["results"]
           for c in r["caseLevelData"] if r["variantInternalId"] == "GRCh38:1:999:G:A"]
    assert zyg == ["homozygous"]
    doc = client.get(f"{B}/g_variants/GRCh38:1:1999:C:T/individuals",
                     query_string={"requestedGranularity": "record"}).get_json()
    assert [r["id"] for rs in doc["response"]["resultSets"] for r in rs["results"]] == ["P1"]
    individual = doc["response"]["resultSets"][0]["results"][0]
    assert individual["sex"]["id"] == "NCIT:C16576"
    assert {"diseaseCode": {"id": "ICD10GM:E11.9"}} in individual["diseases"]
    doc = client.get(f"{B}/datasets/ds-controlled/individuals",
                     query_string={"requestedGranularity": "count"}).get_json()
    # tumour and normal sample of one donor: one individual, two biosamples
    assert doc["responseSummary"]["numTotalResults"] == 1
    doc = client.get(f"{B}/datasets/ds-controlled/biosamples",
                     query_string={"requestedGranularity": "count"}).get_json()
    assert doc["responseSummary"]["numTotalResults"] == 2
    doc = client.get(f"{B}/analyses/obj-registered/g_variants",
                     query_string={"requestedGranularity": "count"}).get_json()
    assert doc["responseSummary"]["numTotalResults"] == 2


def test_unknown_dataset_is_404(indexed, client) -> None:
    resp = client.get(f"{B}/datasets/nope/g_variants")
    assert resp.status_code == 404
    assert_valid_error(resp.get_json(), 404)


def test_malformed_variant_id_is_400(indexed, client) -> None:
    resp = client.get(f"{B}/g_variants/not-a-variant")
    assert resp.status_code == 400
    assert_valid_error(resp.get_json(), 400)


def test_pagination_and_resultset_inclusion(indexed, client) -> None:
    def page(skip: int, limit: int, include: str = "HIT") -> dict:
        return client.post(f"{B}/g_variants", json={"query": {
            "requestParameters": {"referenceName": "1", "start": [0], "end": [10000]},
            "requestedGranularity": "record", "includeResultsetResponses": include,
            "pagination": {"skip": skip, "limit": limit}}}).get_json()

    public = [rs for rs in page(0, 2)["response"]["resultSets"] if rs["id"] == "ds-public"][0]
    assert public["resultsCount"] == 4 and len(public["results"]) == 2
    second = [rs for rs in page(1, 2)["response"]["resultSets"] if rs["id"] == "ds-public"][0]
    assert {r["variantInternalId"] for r in public["results"]}.isdisjoint(
        {r["variantInternalId"] for r in second["results"]})
    assert page(0, 2, "NONE")["response"]["resultSets"] == []
    assert page(0, 2, "MISS")["response"]["resultSets"] == []
    all_sets = page(0, 2, "ALL")["response"]["resultSets"]
    assert {rs["id"] for rs in all_sets} == {"ds-public", "ds-registered", "ds-controlled"}


def test_test_mode_answers_without_data(indexed, client) -> None:
    doc = client.post(f"{B}/g_variants", json={"query": {
        "requestParameters": {"referenceName": "1", "start": [999], "alternateBases": "A"},
        "requestedGranularity": "count", "testMode": True}}).get_json()
    assert doc["meta"]["testMode"] is True
    assert doc["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert_valid_entry_response(doc, "g_variants")


@pytest.mark.parametrize("entry", ["individuals", "g_variants", "cohorts"])
def test_entry_filtering_terms(indexed, client, entry) -> None:
    resp = client.get(f"{B}/{entry}/filtering_terms")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert not framework_errors(doc, "responses/beaconFilteringTermsResponse.json")
    assert any(t["id"] == "HP:0001250" for t in doc["response"]["filteringTerms"])


def test_bad_security_level_setting_is_a_settings_error(base_settings) -> None:
    import dataclasses

    from config.app import create_app
    from config.settings import BeaconSettings, SettingsError

    for beacon in (BeaconSettings(dataset_security_levels=("ds=secret",)),
                   BeaconSettings(dataset_security_levels=("nodataset",)),
                   BeaconSettings(default_assembly="hg17")):
        with pytest.raises(SettingsError):
            create_app(dataclasses.replace(base_settings, beacon=beacon))


def test_dataset_ids_restrict_the_query(indexed, client) -> None:
    body = {"meta": {"apiVersion": "v2.0.0"}, "query": {
        "requestParameters": {"referenceName": "1", "start": [999], "alternateBases": "A",
                              "datasets": {"datasetIds": ["ds-registered", "no-such"]}},
        "requestedGranularity": "record", "includeResultsetResponses": "ALL"}}
    doc = client.post(f"{B}/g_variants", json=body).get_json()
    assert_valid_entry_response(doc, "g_variants")
    assert [rs["id"] for rs in doc["response"]["resultSets"]] == ["ds-registered"]
    assert doc["meta"]["receivedRequestSummary"]["requestParameters"]["datasets"] == {
        "datasetIds": ["ds-registered", "no-such"]}
    body["query"]["requestParameters"]["datasets"] = {"datasetIds": "ds-registered"}
    resp = client.post(f"{B}/g_variants", json=body)
    assert resp.status_code == 400
    assert_valid_error(resp.get_json(), 400)


def _records(client, path: str, **params) -> list[dict]:
    resp = client.get(f"{B}/{path}", query_string={"requestedGranularity": "record", **params})
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    parts = path.split("/")
    assert_valid_entry_response(doc, parts[-1] if len(parts) != 2 else parts[0])
    return [r for rs in doc["response"]["resultSets"] for r in rs["results"]]


def test_runs_from_catalogued_read_files(indexed, client) -> None:
    runs = {r["id"]: r for r in _records(client, "runs")}
    # X1 has no research consent: its run is not shown.
    assert "run-x1" not in runs
    p1 = runs["run-p1"]
    assert p1 == {"id": "run-p1", "biosampleId": p1["biosampleId"], "individualId": "P1",
                  "runDate": "2025-03-04", "libraryStrategy": "WGS",
                  "libraryLayout": "PAIRED", "platform": "Illumina"}
    # The run links to the biosample of P1 that the public VCF holds.
    biosamples = {b["id"]: b for b in _records(client, "individuals/P1/biosamples")}
    assert p1["biosampleId"] in biosamples
    # Two samples in one file of the catalogued donor C1: two runs, linked to the tumour and
    # normal biosamples of the controlled VCF; no DT, so the catalogue's date.
    c1 = [r for r in runs.values() if r["id"].startswith("run-c1:")]
    assert len(c1) == 2
    assert {r["individualId"] for r in c1} == {"C1"}
    assert {r["runDate"] for r in c1} == {"2026-02-03"}
    assert {r["platform"] for r in c1} == {"Oxford Nanopore"}
    assert all(r["libraryLayout"] == "SINGLE" and "libraryStrategy" not in r for r in c1)
    c1_biosamples = {b["id"] for b in _records(client, "datasets/ds-controlled/biosamples")}
    assert {r["biosampleId"] for r in c1} == c1_biosamples
    # Entry by id, and what a run reaches.
    assert [r["id"] for r in _records(client, "runs/run-p1")] == ["run-p1"]
    variants = {v["variantInternalId"] for v in _records(client, "runs/run-p1/g_variants")}
    assert variants == {"GRCh38:1:999:G:A", "GRCh38:1:1999:C:T"}
    assert [a["id"] for a in _records(client, "runs/run-p1/analyses")] == ["obj-public"]
    assert [r["id"] for r in _records(client, f"biosamples/{p1['biosampleId']}/runs")] == \
        ["run-p1"]
    assert {r["id"] for r in _records(client, "datasets/ds-controlled/runs")} == \
        {r["id"] for r in c1}
    # Runs of biosamples that carry a variant.
    found = _records(client, "runs", referenceName="1", start="1999", alternateBases="T")
    assert [r["id"] for r in found] == ["run-p1"]
    # Unknown and non-consented runs are not found; their cross routes find nothing.
    for unknown in ("run-x1", "no-such-run"):
        doc = client.get(f"{B}/runs/{unknown}", query_string={
            "requestedGranularity": "count"}).get_json()
        assert doc["responseSummary"]["exists"] is False
        assert _records(client, f"runs/{unknown}/g_variants") == []


def test_runs_filtered_by_individual_terms(indexed, client) -> None:
    doc = client.post(f"{B}/runs", json={"query": {
        "filters": [{"id": "NCIT:C16576"}], "requestedGranularity": "count"}}).get_json()
    # P1 (male) has one run; C1 has no clinical facts, X1 no consent.
    assert doc["responseSummary"] == {"exists": True, "numTotalResults": 1}
