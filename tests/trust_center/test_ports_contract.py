"""Contract of the PseudonymService and ConsentService ports, run against both adapters:
the in-process service and the HTTP adapter talking to the real /trust-center API."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import grz_pydantic_models_testing.example_research_consent as fx
import pytest
import requests
from flask import Flask

from common.errors import InvalidInput
from config.context import app_context
from trust_center.client import HttpTrustCenterClient
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.core.errors import (
    InvalidConsent,
    InvalidIdentifier,
    UnknownPseudonym,
    UnknownVorgangsnummer,
    VorgangsnummerUsed,
    WrongNodeKind,
)
from trust_center.ports import ConsentStatus, ParticipationDeclaration
from trust_center.service import TrustCenterService

from .conftest import GRZ, IK, KDK, KVNR, KVNR2
from .test_client import WsgiAdapter


@pytest.fixture(params=["in-process", "http"])
def port(request: pytest.FixtureRequest, app: Flask) -> Any:
    if request.param == "in-process":
        return app_context(app).get(TrustCenterService)
    session = requests.Session()
    session.mount("http://tc.test/", WsgiAdapter(app))
    return HttpTrustCenterClient("http://tc.test/trust-center", session=session)


@pytest.fixture()
def tc(app: Flask) -> TrustCenterService:
    return app_context(app).get(TrustCenterService)


def _consent(name: str) -> dict[str, Any]:
    return json.loads((resources.files(fx) / name).read_text())


def test_exchange_contract(port: Any, tc: TrustCenterService) -> None:
    reg = tc.register_case(ik=IK, arbeitsnummer="C-1", kvnr=KVNR, actor="le")
    clinical = port.exchange(reg.vorgangsnummer_clinical, KDK)
    genomic = port.exchange(reg.vorgangsnummer_genomic, GRZ)
    assert (clinical.kind.value, genomic.kind.value) == ("clinical", "genomic")
    assert clinical.key_id == "k1" and clinical.pseudonym.startswith("k1.")
    for number, domain, error in [(reg.vorgangsnummer_clinical, KDK, VorgangsnummerUsed),
                                  ("b" * 64, KDK, UnknownVorgangsnummer),
                                  ("x", KDK, InvalidIdentifier)]:
        with pytest.raises(error):
            port.exchange(number, domain)
    other = tc.register_case(ik=IK, arbeitsnummer="C-2", kvnr=KVNR, actor="le")
    with pytest.raises(WrongNodeKind):
        port.exchange(other.vorgangsnummer_genomic, KDK)


def test_derive_lookup_translate_contract(port: Any, tc: TrustCenterService) -> None:
    a = port.derive(KDK, "urn:mrn", ["1", "2"])
    assert a == port.derive(KDK, "urn:mrn", ["1", "2"]) == tc.derive(KDK, "urn:mrn", ["1", "2"])
    assert port.derive(GRZ, "urn:mrn", ["1"])[0] != a[0]
    both = port.pseudonymize_identifiers(KDK, [("urn:mrn", "1"), ("urn:other", "1")])
    assert both[0] == a[0] and both[1] != a[0]
    assert port.lookup(KDK, a[0]).subject_type == "identifier"
    with pytest.raises(UnknownPseudonym):
        port.lookup(KDK, "k1." + "3" * 32)
    tc.rotate_key(KDK, actor="op")
    moved = port.translate(KDK, a)
    assert set(moved) == set(a) and all(v.startswith("k2.") for v in moved.values())


def test_consent_contract(port: Any, tc: TrustCenterService) -> None:
    p = tc.exchange(tc.register_case(ik=IK, arbeitsnummer="C-3", kvnr=KVNR,
                                     actor="le").vorgangsnummer_clinical, KDK).pseudonym
    q = tc.exchange(tc.register_case(ik=IK, arbeitsnummer="C-4", kvnr=KVNR2,
                                     actor="le").vorgangsnummer_clinical, KDK).pseudonym
    on = date(2023, 6, 1)
    assert not port.may_use(KDK, p, Purpose.MV_SEQUENCING, on).allowed
    port.record_participation(KDK, p, [
        ParticipationDeclaration(s, ScopeStatus.PERMITTED, date(2020, 9, 1))
        for s in ParticipationScope])
    assert port.may_use(KDK, p, Purpose.MV_SEQUENCING, on).allowed
    assert not port.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    port.record_broad_consent(KDK, p, _consent("minimal_consented_open_ended.json"))
    assert port.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    assert port.permitted(KDK, [p, q], Purpose.RESEARCH, on) == {p}
    with pytest.raises(InvalidConsent):
        port.record_broad_consent(KDK, p, _consent("invalid_missing_fields.json"))
    with pytest.raises(UnknownPseudonym):
        port.record_participation(KDK, "k1." + "4" * 32, [ParticipationDeclaration(
            ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2020, 9, 1))])
    port.record_participation(KDK, p, [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.CANCELLED, tc.now().date())])
    assert not port.may_use(KDK, p, Purpose.RESEARCH, on).allowed
    assert port.permitted(KDK, [p, q], Purpose.RESEARCH, on) == frozenset()


def test_consent_status_and_change_feed_contract(port: Any, tc: TrustCenterService,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    now = [datetime(2025, 8, 30, 12, tzinfo=UTC)]
    monkeypatch.setattr(tc, "_clock_us", lambda: int(now[0].timestamp() * 1_000_000))
    head = port.consent_changes(GRZ, 0, limit=0).seq
    p = tc.exchange(tc.register_case(ik=IK, arbeitsnummer="S-1", kvnr=KVNR,
                                     actor="le").vorgangsnummer_genomic, GRZ).pseudonym
    q = tc.exchange(tc.register_case(ik=IK, arbeitsnummer="S-2", kvnr=KVNR2,
                                     actor="le").vorgangsnummer_genomic, GRZ).pseudonym
    unknown = "k1." + "5" * 32
    # Registering two cases moved the feed; no consent yet: "no", with nothing scheduled.
    page = port.consent_changes(GRZ, head)
    assert page.seq == head + 2 and not page.more and page.pseudonyms == {p, q}
    assert port.consent_status(GRZ, [p, unknown], Purpose.RESEARCH) == {
        p: ConsentStatus(False, None), unknown: ConsentStatus(False, None)}
    since = page.seq
    port.record_participation(GRZ, p, [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2020, 9, 1))])
    # minimal_consented permits research up to and including 2025-08-31.
    port.record_broad_consent(GRZ, p, _consent("minimal_consented.json"))
    page = port.consent_changes(GRZ, since)
    assert page.seq == since + 2 and page.pseudonyms == {p}
    # Paging: one change per page, then the end of the feed.
    first = port.consent_changes(GRZ, since, limit=1)
    assert (first.seq, first.more, first.pseudonyms) == (since + 1, True, {p})
    assert port.consent_changes(GRZ, page.seq) == port.consent_changes(GRZ, page.seq) and \
        port.consent_changes(GRZ, page.seq).pseudonyms == frozenset()
    assert port.consent_changes(GRZ, 0, limit=0).seq == page.seq
    # A position beyond the feed (it restarted) is answered with the feed's own position.
    assert port.consent_changes(GRZ, page.seq + 100).seq == page.seq
    # Another domain's feed names only its own pseudonyms (none here).
    assert port.consent_changes(KDK, since).pseudonyms == frozenset()
    status = port.consent_status(GRZ, [p, q], Purpose.RESEARCH)
    assert status[p].allowed and not status[q].allowed
    assert status[p].until == datetime(2025, 9, 1, tzinfo=UTC)
    now[0] = datetime(2025, 9, 1, tzinfo=UTC)
    assert not port.consent_status(GRZ, [p], Purpose.RESEARCH)[p].allowed
    assert port.consent_status(GRZ, [p], Purpose.RESEARCH)[p].until == datetime(
        2050, 9, 1, tzinfo=UTC)


def test_consent_changes_refuses_bad_input(app: Flask) -> None:
    session = requests.Session()
    session.mount("http://tc.test/", WsgiAdapter(app))
    client = HttpTrustCenterClient("http://tc.test/trust-center", session=session)
    for body in ({"domain": GRZ, "since": -1}, {"domain": GRZ, "since": "1"},
                 {"domain": GRZ, "since": 0, "limit": 10_001}, {"since": 0}):
        with pytest.raises(InvalidInput) as exc:
            client._post("/consent/changes", body)
        assert exc.value.status == 400


def test_link_contract(port: Any, tc: TrustCenterService) -> None:
    reg = tc.register_case(ik=IK, arbeitsnummer="L-1", kvnr=KVNR, actor="le")
    genomic = tc.exchange(reg.vorgangsnummer_genomic, GRZ).pseudonym
    other = tc.register_case(ik=IK, arbeitsnummer="L-2", kvnr=KVNR2, actor="le")
    lonely = tc.exchange(other.vorgangsnummer_genomic, GRZ).pseudonym
    # Nothing issued in the clinical domain yet: nothing to link to.
    assert port.link(GRZ, KDK, [genomic]) == {genomic: []}
    clinical = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    person = tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR])[0]
    tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR2])  # another person
    links = port.link(GRZ, KDK, [genomic, lonely, "k1." + "6" * 32])
    assert sorted(links[genomic]) == sorted([clinical, person])
    assert links[lonely] == [tc.derive(KDK, "http://fhir.de/sid/gkv/kvid-10", [KVNR2])[0]]
    assert links["k1." + "6" * 32] == []
    # And back: the person's pseudonym links to every dataset of the person's cases.
    assert port.link(KDK, GRZ, [person]) == {person: [genomic]}
    for target in ("project:P1", "tc:internal"):
        with pytest.raises(InvalidIdentifier):
            port.link(GRZ, target, [genomic])


def test_link_needs_both_domains_over_http(app: Flask) -> None:
    from config.context import app_context as ctx_of

    client = app.test_client()
    ctx = ctx_of(app)
    # A token acting only in the GRZ domain may not learn clinical-domain pseudonyms.
    principal_claims = {"domain": GRZ}
    from common.auth import Principal
    from trust_center.http.api import SCOPE_PSEUDONYMS

    original = ctx.authenticator.authenticate
    ctx.authenticator.authenticate = lambda header: Principal(  # type: ignore[method-assign]
        subject="grz-node", scopes=frozenset({SCOPE_PSEUDONYMS}), claims=principal_claims)
    try:
        resp = client.post("/trust-center/pseudonyms/link", json={
            "domain": GRZ, "toDomain": KDK, "pseudonyms": []})
        assert resp.status_code == 403
        principal_claims["domain"] = [GRZ, KDK]  # type: ignore[assignment]
        resp = client.post("/trust-center/pseudonyms/link", json={
            "domain": GRZ, "toDomain": KDK, "pseudonyms": ["k1." + "6" * 32]})
        assert resp.status_code == 200 and resp.get_json() == {"links": {"k1." + "6" * 32: []}}
        resp = client.post("/trust-center/pseudonyms/link", json={
            "domain": GRZ, "toDomain": KDK, "pseudonyms": "x"})
        assert resp.status_code == 400
    finally:
        ctx.authenticator.authenticate = original  # type: ignore[method-assign]


def test_translate_to_project_contract(port: Any, tc: TrustCenterService) -> None:
    reg = tc.register_case(ik=IK, arbeitsnummer="P-1", kvnr=KVNR, actor="le")
    dataset = tc.exchange(reg.vorgangsnummer_clinical, KDK).pseudonym
    person, mrn = tc.pseudonymize_identifiers(
        KDK, [("http://fhir.de/sid/gkv/kvid-10", KVNR), ("urn:mrn", "4711")])
    unknown = "k1." + "5" * 32
    a = port.translate_to_project(KDK, "project:app-a", [dataset, person, mrn, unknown, "junk"])
    b = port.translate_to_project(KDK, "project:app-b", [dataset, person, mrn])
    # Unknown pseudonyms (and anything that is no pseudonym) are left out.
    assert set(a) == set(b) == {dataset, person, mrn}
    # Deterministic within a project, unlinkable across projects and to the node's.
    assert port.translate_to_project(KDK, "project:app-a", [mrn]) == {mrn: a[mrn]}
    values = [*a.values(), *b.values(), dataset, person, mrn]
    assert len(set(values)) == len(values)
    assert all(v.startswith("k1.") for v in a.values())
    # The project domain knows its pseudonyms (same subject type), the node's does not.
    assert port.lookup("project:app-a", a[person]).subject_type == "person"
    assert port.lookup("project:app-a", a[dataset]).subject_type == "dataset"
    with pytest.raises(UnknownPseudonym):
        port.lookup(KDK, a[mrn])
    # A genome data center's pseudonyms translate the same way.
    genomic = tc.exchange(reg.vorgangsnummer_genomic, GRZ).pseudonym
    assert set(port.translate_to_project(GRZ, "project:app-a", [genomic, dataset])) == {genomic}
    # Wrong domains are refused: only node domains as source, only projects as target.
    for source, target in ((KDK, KDK), (KDK, GRZ), (KDK, "tc:internal"),
                           ("project:app-b", "project:app-a"), ("tc:internal", "project:app-a"),
                           (KDK, "project:"), ("kdk:nope", "project:app-a")):
        with pytest.raises(InvalidIdentifier):
            port.translate_to_project(source, target, [mrn])
    assert port.translate_to_project(KDK, "project:app-a", []) == {}
