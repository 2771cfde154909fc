"""Search index rows extracted before the write transaction (FhirRepository.prepare) are used
only while the search parameter set they were extracted under still holds (FHIR R4 4.0.1
search.html 3.1.1.4: a custom SearchParameter applies to resources stored after it)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from config.context import app_context
from fhir_server.core.service import FhirService
from fhir_server.storage.search_sql import PreparedRows, SqlSearcher

FHIR_JSON = "application/fhir+json"
NICKNAME = "http://example.org/nickname"


def _search_parameter(code: str) -> dict[str, Any]:
    return {
        "resourceType": "SearchParameter",
        "url": f"http://example.org/SearchParameter/{code}",
        "name": code,
        "status": "active",
        "description": code,
        "code": code,
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension('{NICKNAME}').value",
    }


def _ids(client: FlaskClient, query: str) -> list[str]:
    resp = client.get(f"/fhir/Patient?{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return sorted(e["resource"]["id"] for e in resp.get_json().get("entry", []))


def test_transaction_prepares_index_rows_before_the_lock(plain_client: FlaskClient) -> None:
    client = plain_client
    service = app_context(client.application).get(FhirService)
    prepared: list[Any] = []
    original = service.repo.prepare

    def spy(writes: Any) -> None:
        original(writes)
        prepared.extend(w.derived.get("search_index") for w in writes)

    service.repo.prepare = spy  # type: ignore[method-assign]
    try:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:1", "request": {"method": "POST", "url": "Patient"},
             "resource": {"resourceType": "Patient", "name": [{"family": "Vorab"}]}}]}
        resp = client.post("/fhir", json=bundle, headers={"Content-Type": FHIR_JSON})
    finally:
        del service.repo.prepare
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(prepared) == 1 and isinstance(prepared[0], PreparedRows)
    assert prepared[0].rows["fhir_idx_string"]
    assert len(_ids(client, "family=vorab")) == 1


def test_search_parameter_in_the_same_transaction_applies(plain_client: FlaskClient) -> None:
    client = plain_client
    # The Patient's rows are extracted before the transaction, when "nickname" is unknown;
    # the SearchParameter registered inside it makes them stale, so they are extracted again.
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:sp", "request": {"method": "POST", "url": "SearchParameter"},
         "resource": _search_parameter("nickname")},
        {"fullUrl": "urn:uuid:p", "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient",
                      "extension": [{"url": NICKNAME, "valueString": "Hansi"}]}},
    ]}
    resp = client.post("/fhir", json=bundle, headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    created = resp.get_json()["entry"][1]["response"]["location"].split("/")[1]
    assert _ids(client, "nickname=hans") == [created]


def test_parameter_set_changed_after_prepare(plain_client: FlaskClient) -> None:
    # Another request stores a SearchParameter between prepare and the transaction: the
    # prepared rows are not used.
    client = plain_client
    ctx = app_context(client.application)
    service = ctx.get(FhirService)
    registry = ctx.get(SqlSearcher).registry
    write = service._new_version(
        {"resourceType": "Patient", "extension": [{"url": NICKNAME, "valueString": "Lotte"}]},
        "Patient", "late-param", None, "POST")
    service.repo.prepare([write])
    stale = write.derived["search_index"]
    assert isinstance(stale, PreparedRows) and stale.generation == registry.generation
    resp = client.post("/fhir/SearchParameter", json=_search_parameter("alias"),
                       headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert stale.generation != registry.generation
    service.repo.atomic(lambda uow: uow.write([write]))
    assert _ids(client, "alias=lotte") == ["late-param"]
