"""Live research consent: the index asks the trust center at query time (change feed and
consent horizon), so a withdrawal or an expiry takes effect on the next query without any
CLI command. Runs against the real in-process trust center on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import grz_pydantic_models_testing.example_research_consent as fx
import pytest
from sqlalchemy import text

from config.context import AppContext
from ga4gh.beacon.core.ports import VariantFile
from ga4gh.beacon.core.service import BeaconService
from ga4gh.beacon.storage.consent import LiveConsentTable
from ga4gh.beacon.storage.loader import build_index
from ga4gh.beacon.storage.sql import SqlBeaconIndex
from tests.ga4gh.beacon.conftest import HET, REF, FakeConsent, write_vcf
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.ports import ParticipationDeclaration
from trust_center.service import TrustCenterService

B = "/ga4gh/beacon/v2"
IK = "260326822"
KVNRS = ["A123456780", "X110411675", "B987654326"]


def _consent(name: str) -> dict[str, Any]:
    return json.loads((resources.files(fx) / name).read_text())


@pytest.fixture()
def clock(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """One moment for the trust center and the Beacon's consent table (tests move it)."""
    now = [datetime(2025, 8, 30, 12, tzinfo=UTC)]

    def us() -> int:
        return int(now[0].timestamp() * 1_000_000)

    monkeypatch.setattr(ctx.get(TrustCenterService), "_clock_us", us)
    index: Any = ctx.get(BeaconService).index
    assert isinstance(index, SqlBeaconIndex) and isinstance(index.consent, LiveConsentTable)
    monkeypatch.setattr(index.consent, "clock_us", us)
    yield now


def _donors(ctx: AppContext, consents: list[str]) -> list[str]:
    """Register one case per consent document; their genomic pseudonyms in the GRZ domain,
    each with mvSequencing permitted and the given broad consent."""
    tc: TrustCenterService = ctx.get(TrustCenterService)
    grz = "grz:" + ctx.settings.trust_center.genome_data_center_id
    out = []
    for n, (kvnr, doc) in enumerate(zip(KVNRS, consents, strict=False)):
        reg = tc.register_case(ik=IK, arbeitsnummer=f"LIVE-{n}", kvnr=kvnr, actor="le")
        p = tc.exchange(reg.vorgangsnummer_genomic, grz).pseudonym
        tc.record_participation(grz, p, [ParticipationDeclaration(
            ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2020, 9, 1))])
        tc.record_broad_consent(grz, p, _consent(doc))
        out.append(p)
    return out


def _index(ctx: AppContext, tmp_path: Path, donors: list[str]) -> None:
    vcf = write_vcf(tmp_path / "live.vcf.gz", donors, [
        ("chr1", 1000, "G", ("A",), {}, [HET] * len(donors)),
        ("chr1", 2000, "C", ("T",), {}, [HET] + [REF] * (len(donors) - 1)),
    ])
    build_index(ctx.engine, [VariantFile("obj-live", "ds-live", str(vcf))], "GRCh38")


def _individuals(client: Any) -> set[str]:
    doc = client.post(B + "/individuals", json={"query": {"requestedGranularity": "record"}})
    assert doc.status_code == 200, doc.get_json()
    return {r["id"] for rs in doc.get_json()["response"]["resultSets"]
            for r in rs.get("results", [])}


def _carriers(client: Any) -> bool:
    doc = client.post(B + "/g_variants", json={"query": {
        "requestParameters": {"referenceName": "1", "start": [1999], "alternateBases": "T"},
        "requestedGranularity": "boolean"}}).get_json()
    return bool(doc["responseSummary"]["exists"])


def test_withdrawal_takes_effect_on_the_next_query(ctx, client, clock, tmp_path) -> None:
    p, q = _donors(ctx, ["minimal_consented_open_ended.json", "minimal_consented_open_ended.json"])
    _index(ctx, tmp_path, [p, q])
    # New rows are evaluated by the first query; no refresh command ran.
    assert _individuals(client) == {p, q}
    assert _carriers(client)  # only p carries chr1:2000
    table = ctx.get(BeaconService).index.consent
    assert table.sync() == 0  # nothing changed: nothing re-evaluated
    grz = "grz:" + ctx.settings.trust_center.genome_data_center_id
    tc: TrustCenterService = ctx.get(TrustCenterService)
    tc.record_participation(grz, p, [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.CANCELLED, clock[0].date())])
    assert not tc.may_use(grz, p, Purpose.RESEARCH).allowed
    assert _individuals(client) == {q}
    assert not _carriers(client)
    # A broad consent withdrawal of q (a new document) counts the same way.
    tc.record_broad_consent(grz, q, _consent("withdrawal_complete.json"))
    assert _individuals(client) == set()
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM beacon_individual WHERE "
                                 "research_consent = :y"), {"y": True}).scalar_one() == 0


def test_consent_that_expires_by_date(ctx, client, clock, tmp_path) -> None:
    # minimal_consented permits research up to and including 2025-08-31.
    p, q = _donors(ctx, ["minimal_consented.json", "minimal_consented_open_ended.json"])
    _index(ctx, tmp_path, [p, q])
    assert _individuals(client) == {p, q}
    with ctx.engine.connect() as conn:
        until = dict(conn.execute(text(
            "SELECT pseudonym, consent_until_us FROM beacon_individual")).all())
    assert until[p] == int(datetime(2025, 9, 1, tzinfo=UTC).timestamp() * 1_000_000)
    assert until[q] is None
    clock[0] = datetime(2025, 8, 31, 23, 59, tzinfo=UTC)
    assert _individuals(client) == {p, q}
    clock[0] = datetime(2025, 9, 1, tzinfo=UTC)  # no consent change recorded: the date did it
    assert _individuals(client) == {q}
    assert not _carriers(client)


def test_only_changed_pseudonyms_are_asked_again(ctx, client, tmp_path) -> None:
    index: Any = ctx.get(BeaconService).index
    wired = index.consent
    fake = FakeConsent(set())
    index.consent = LiveConsentTable(ctx.engine, fake)
    try:
        _index(ctx, tmp_path, ["A1", "A2", "A3"])
        assert _individuals(client) == {"A1", "A2", "A3"}
        assert sorted(fake.asked) == ["A1", "A2", "A3"]
        fake.asked.clear()
        _individuals(client)
        assert fake.asked == []
        fake.refuse("A2")
        fake.feed.append("not-indexed")
        assert _individuals(client) == {"A1", "A3"}
        assert fake.asked == ["A2"]
        # The trust center's feed restarted (a restored database): everything is asked again.
        fake.asked.clear()
        fake.feed.clear()
        assert _individuals(client) == {"A1", "A3"}
        assert sorted(fake.asked) == ["A1", "A2", "A3"]
        fake.asked.clear()
        _individuals(client)
        assert fake.asked == []
        # Another pseudonym domain's position means nothing here: everything is asked again.
        fake.asked.clear()
        fake.domain = "grz:OTHER"
        assert _individuals(client) == {"A1", "A3"}
        assert sorted(fake.asked) == ["A1", "A2", "A3"]
    finally:
        index.consent = wired


def test_unreachable_trust_center_fails_the_query(ctx, client, tmp_path) -> None:
    from trust_center.core.errors import TrustCenterUnavailable

    class Down(FakeConsent):
        def changes(self, since: int, limit: int = 1000):  # type: ignore[no-untyped-def]
            raise TrustCenterUnavailable("the trust center did not answer")

    index: Any = ctx.get(BeaconService).index
    wired = index.consent
    fake = FakeConsent(set())
    index.consent = LiveConsentTable(ctx.engine, fake)
    try:
        _index(ctx, tmp_path, ["A1"])
        assert _individuals(client) == {"A1"}
        index.consent = LiveConsentTable(ctx.engine, Down(set()))
        resp = client.post(B + "/individuals", json={"query": {"requestedGranularity": "count"}})
        assert resp.status_code == 503
        assert resp.get_json()["error"]["errorCode"] == 503
    finally:
        index.consent = wired


def test_clinical_filters_find_patients_of_the_clinical_domain(app, ctx, client, clock,
                                                               tmp_path) -> None:
    """The FHIR node stores Patients under clinical-domain pseudonyms (the person's, from
    the KVNR, or the case's clinical dataset pseudonym); the index holds genome-data-center
    pseudonyms. The trust center links them, so filters match after `beacon refresh`."""
    from tests.ga4gh.beacon.test_fhir_facts import ICD, put
    from tests.ga4gh.beacon.test_queries import run_cli

    p, q = _donors(ctx, ["minimal_consented_open_ended.json",
                         "minimal_consented_open_ended.json"])
    tc: TrustCenterService = ctx.get(TrustCenterService)
    kdk = "kdk:" + ctx.settings.trust_center.clinical_data_node_id
    person_p = tc.derive(kdk, "http://fhir.de/sid/gkv/kvid-10", [KVNRS[0]])[0]
    reg = tc.register_case(ik=IK, arbeitsnummer="LIVE-1", kvnr=KVNRS[1], actor="le")
    clinical_q = tc.exchange(reg.vorgangsnummer_clinical, kdk).pseudonym  # q's case: follow-up
    with ctx.engine.begin() as conn:
        put(conn, "Patient", "pat-p", {"gender": "female",
                                       "identifier": [{"system": "urn:psn", "value": person_p}]})
        put(conn, "Condition", "cp", {"subject": {"reference": "Patient/pat-p"},
                                      "code": {"coding": [{"system": ICD, "code": "E11.9"}]}})
        put(conn, "Patient", clinical_q, {"gender": "male"})
        put(conn, "Condition", "cq", {"subject": {"reference": f"Patient/{clinical_q}"},
                                      "code": {"coding": [{"system": ICD, "code": "I10"}]}})
    _index(ctx, tmp_path, [p, q])
    result = run_cli(app, "beacon", "refresh")
    assert result.exit_code == 0, result.output
    assert "2 individuals, 2 with research consent, 2 with clinical data" in result.output

    def matching(filters: list[dict[str, str]]) -> set[str]:
        doc = client.post(B + "/individuals", json={"query": {
            "filters": filters, "requestedGranularity": "record"}}).get_json()
        return {r["id"] for rs in doc["response"]["resultSets"] for r in rs["results"]}

    assert matching([{"id": "ICD10GM:E11.9"}]) == {p}
    assert matching([{"id": "ICD10GM:I10"}]) == {q}
    assert matching([{"id": "NCIT:C16576"}]) == {p}  # female
