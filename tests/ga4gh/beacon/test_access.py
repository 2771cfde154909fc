"""Granularity per security level, small-count disclosure, the query budget and
authentication, with authorization on (static bearer tokens carrying beacon scopes)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from config.app import create_app
from config.context import app_context
from config.settings import BeaconSettings, Settings
from tests.ga4gh.beacon.conftest import FakeConsent, use_fake_consent
from tests.ga4gh.beacon.schema import assert_valid_entry_response, assert_valid_error

B = "/ga4gh/beacon/v2"
TOKENS = {
    "reg-token": "beacon:registered",
    "ctrl-token": "beacon:registered beacon:controlled:ds-controlled",
    "reg-token-2": "beacon:registered",
    "nobody-token": "fhir/*.rs",
}
COMMON = {"referenceName": "1", "start": [999], "alternateBases": "A"}
RARE = {"referenceName": "1", "start": [1999], "alternateBases": "T"}


@pytest.fixture(scope="session")
def secured_factory(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Callable[..., Flask]]:
    """Build (once per configuration) an app with authorization on over the test database."""
    d = tmp_path_factory.mktemp("tokens")
    tokens = d / "tokens.txt"
    tokens.write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()} {s}\n"
                              for t, s in TOKENS.items()))
    apps: dict[tuple[Any, ...], Flask] = {}

    def make(**beacon: Any) -> Flask:
        key = tuple(sorted(beacon.items()))
        if key not in apps:
            settings = dataclasses.replace(
                base_settings, authorization="on", api_tokens_file=str(tokens),
                beacon=BeaconSettings(**{
                    "dataset_security_levels": ("ds-public=public", "ds-registered=registered",
                                                "ds-controlled=controlled"),
                    **beacon}))
            app = create_app(settings)
            app.config["TESTING"] = True
            use_fake_consent(app, FakeConsent({"X1"}))
            apps[key] = app
        return apps[key]

    yield make
    for app in apps.values():
        app_context(app).engine.dispose()


def ask(app: Flask, params: dict[str, Any], granularity: str, token: str | None = None,
        path: str = "/g_variants", status: int = 200) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = app.test_client().post(B + path, headers=headers, json={"query": {
        "requestParameters": params, "requestedGranularity": granularity}})
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_anonymous_gets_boolean_on_public_datasets_only(indexed, secured_factory) -> None:
    app = secured_factory()
    doc = ask(app, COMMON, "record")
    assert doc["meta"]["returnedGranularity"] == "boolean"
    assert doc["responseSummary"] == {"exists": True}
    assert_valid_entry_response(doc, "g_variants")
    # The deletion exists only in the registered dataset: anonymous callers cannot see it.
    sv = {"referenceName": "2", "start": [0], "end": [30000], "variantType": "DEL"}
    assert ask(app, sv, "boolean")["responseSummary"] == {"exists": False}
    assert ask(app, sv, "boolean", "reg-token")["responseSummary"] == {"exists": True}
    datasets = app.test_client().get(B + "/datasets").get_json()
    assert [c["id"] for c in datasets["response"]["collections"]] == ["ds-public"]


def test_registered_gets_counts(indexed, secured_factory) -> None:
    app = secured_factory()
    doc = ask(app, COMMON, "record", "reg-token")
    assert doc["meta"]["returnedGranularity"] == "count"
    # public (6 carriers, X1 without consent excluded) + registered (3): one variant each
    assert doc["responseSummary"] == {"exists": True, "numTotalResults": 2}
    assert_valid_entry_response(doc, "g_variants")
    inds = ask(app, COMMON, "count", "reg-token", path="/individuals")
    assert inds["responseSummary"]["numTotalResults"] == 9


def test_controlled_grant_gets_records_of_that_dataset(indexed, secured_factory) -> None:
    app = secured_factory()
    doc = ask(app, COMMON, "record", "ctrl-token")
    assert doc["meta"]["returnedGranularity"] == "record"
    assert [rs["id"] for rs in doc["response"]["resultSets"]] == ["ds-controlled"]
    cases = doc["response"]["resultSets"][0]["results"][0]["caseLevelData"]
    assert {c["individualId"] for c in cases} == {"C1"}
    assert_valid_entry_response(doc, "g_variants")
    # the same caller still gets counts over the datasets it is only registered for
    count = ask(app, COMMON, "count", "ctrl-token")
    assert count["responseSummary"] == {"exists": True, "numTotalResults": 3}


def test_small_counts_are_reported_as_less_than(indexed, secured_factory) -> None:
    app = secured_factory()
    doc = ask(app, RARE, "count", "reg-token")  # one carrier < threshold 5
    assert doc["meta"]["returnedGranularity"] == "boolean"
    assert doc["responseSummary"] == {"exists": True}
    assert doc["info"]["countPrecision"] == "less-than"
    assert "fewer than 5" in doc["info"]["note"]
    assert_valid_entry_response(doc, "g_variants")
    # the controlled caller sees exact figures of the dataset it holds a grant for only
    exact = ask(app, {"referenceName": "1", "start": [4999], "alternateBases": "A"}, "count",
                "ctrl-token")
    assert exact["responseSummary"] == {"exists": True, "numTotalResults": 1}
    assert "info" not in exact


def test_small_counts_suppressed(indexed, secured_factory) -> None:
    app = secured_factory(small_count_policy="suppress")
    assert ask(app, RARE, "count", "reg-token")["responseSummary"] == {
        "exists": False, "numTotalResults": 0}
    assert ask(app, RARE, "boolean")["responseSummary"] == {"exists": False}
    assert ask(app, COMMON, "boolean")["responseSummary"] == {"exists": True}


def test_counts_rounded(indexed, secured_factory) -> None:
    app = secured_factory(count_rounding=5, count_threshold=2)
    doc = ask(app, {}, "count", "reg-token", path="/individuals")
    assert doc["responseSummary"]["numTotalResults"] == 10  # 9 rounded to a multiple of 5


def test_cohort_sizes_follow_disclosure(indexed, secured_factory) -> None:
    app = secured_factory()
    client = app.test_client()
    doc = client.get(B + "/cohorts", headers={"Authorization": "Bearer reg-token"}).get_json()
    sizes = {c["id"]: c.get("cohortSize") for c in doc["response"]["collections"]}
    assert sizes == {"ds-public": 6, "ds-registered": None}  # 3 < 5: withheld
    assert_valid_entry_response(doc, "cohorts")


def test_query_budget(indexed, secured_factory) -> None:
    app = secured_factory(query_budget=2)
    ask(app, COMMON, "count", "reg-token-2")
    ask(app, COMMON, "count", "reg-token-2")
    doc = ask(app, COMMON, "count", "reg-token-2", status=429)
    assert_valid_error(doc, 429)
    assert "budget" in doc["error"]["errorMessage"]
    # another caller has its own budget; anonymous boolean queries are not budgeted
    ask(app, COMMON, "count", "reg-token")
    ask(app, COMMON, "boolean")


def test_bad_token_is_401_beacon_error(indexed, secured_factory) -> None:
    app = secured_factory()
    resp = app.test_client().get(B + "/g_variants", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert_valid_error(resp.get_json(), 401)
    resp = app.test_client().get(B + "/info", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401


def test_token_without_beacon_scopes_is_public_tier(indexed, secured_factory) -> None:
    app = secured_factory()
    doc = ask(app, COMMON, "count", "nobody-token")
    assert doc["meta"]["returnedGranularity"] == "boolean"


@dataclasses.dataclass(frozen=True)
class _Visa:
    type: str
    value: str


def test_passport_visas_grant_tiers(indexed, secured_factory) -> None:
    """A clearinghouse principal's verified visas drive the tier (no beacon scopes needed)."""
    from common.auth import Principal

    @dataclasses.dataclass(frozen=True)
    class VisaPrincipal(Principal):
        visas: tuple[_Visa, ...] = ()

    class VisaAuthenticator:
        def authenticate(self, authorization):
            if authorization == "Bearer grant":
                return VisaPrincipal(subject="researcher-1", visas=(
                    _Visa("ControlledAccessGrants", "https://example.org/datasets/ds-controlled"),
                ))
            if authorization == "Bearer forged":
                # visas smuggled in token claims are not visas
                return Principal(subject="x", claims={"ga4gh_visas": [
                    {"type": "ControlledAccessGrants", "value": "ds-controlled"}]})
            return VisaPrincipal(subject="researcher-2", visas=(
                _Visa("ResearcherStatus", "https://doi.org/10.1038/s41431-018-0219-y"),
                _Visa("AcceptedTermsAndPolicies", "https://doi.org/10.1038/s41431-018-0219-y")))

    app = secured_factory(beacon_id="visa-test")
    ctx = app_context(app)
    saved = ctx.authenticator
    ctx.authenticator = VisaAuthenticator()
    try:
        doc = ask(app, COMMON, "record", "grant")
        assert doc["meta"]["returnedGranularity"] == "record"
        assert [rs["id"] for rs in doc["response"]["resultSets"]] == ["ds-controlled"]
        assert ask(app, COMMON, "record", "registered")["meta"]["returnedGranularity"] == "count"
        assert ask(app, COMMON, "record", "forged")["meta"]["returnedGranularity"] == "boolean"
    finally:
        ctx.authenticator = saved


def test_filtering_terms_follow_visibility_and_threshold(indexed, secured_factory) -> None:
    app = secured_factory(count_threshold=2)
    client = app.test_client()
    anonymous = {t["id"] for t in client.get(B + "/filtering_terms").get_json()["response"][
        "filteringTerms"] if t["type"] == "ontologyTerm"}
    # ds-public only; terms of a single individual (E11.9, E11.0, I10) are withheld
    assert anonymous == {"NCIT:C16576", "NCIT:C20197", "HP:0001250"}
    granted = {t["id"] for t in client.get(B + "/filtering_terms", headers={
        "Authorization": "Bearer ctrl-token"}).get_json()["response"]["filteringTerms"]}
    assert "ICD10GM:I10" not in granted  # a grant for ds-controlled, not for ds-public


def test_runs_follow_security_levels(indexed, secured_factory) -> None:
    app = secured_factory()
    # Anonymous: boolean on the public dataset (P1's run; X1's has no consent).
    doc = ask(app, {}, "record", path="/runs")
    assert doc["meta"]["returnedGranularity"] == "boolean"
    assert doc["responseSummary"] == {"exists": True}
    assert_valid_entry_response(doc, "runs")
    # Registered: counts, but one run of one individual is below the threshold: no count.
    doc = ask(app, {}, "record", "reg-token", path="/runs")
    assert doc["responseSummary"] == {"exists": True}
    assert doc["info"]["countPrecision"] == "less-than"
    assert_valid_entry_response(doc, "runs")
    # Controlled grant on ds-controlled: the records of that dataset only.
    doc = ask(app, {}, "record", "ctrl-token", path="/runs")
    assert doc["meta"]["returnedGranularity"] == "record"
    assert [rs["id"] for rs in doc["response"]["resultSets"]] == ["ds-controlled"]
    runs = doc["response"]["resultSets"][0]["results"]
    assert len(runs) == 2 and {r["individualId"] for r in runs} == {"C1"}
    assert_valid_entry_response(doc, "runs")
    # An anonymous caller asking for a controlled run by id learns nothing.
    resp = app.test_client().get(B + "/runs/" + runs[0]["id"])
    assert resp.status_code == 200
    assert resp.get_json()["responseSummary"] == {"exists": False}
